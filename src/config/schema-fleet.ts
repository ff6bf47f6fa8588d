/**
 * The two shapes of mailfleet.yaml, both validated into one FleetConfig:
 *
 * - single-instance: every key at top level; one instance "main" with role "all";
 * - fleet: fleet-wide keys (hostname, dns, sources, pools, log, run_dir) at top level and one
 *   section per instance under `instances:`, each with its role, listeners, spool and routes.
 *
 * Fleet rules checked here: only "output" and "all" deliver; "submission" and "input" hand every
 * message to another instance (`relay_to`, defaulting to the one delivering instance), so they
 * define no transports or routes of their own. relay_to may not loop, and no two instances share a
 * spool directory or a listening address.
 */
import { z } from "zod";
import {
  checkInstanceReferences,
  finishInstance,
  finishLog,
  fleetWideShape,
  instanceShape,
  resolveConfigPath,
  type SchemaContext,
  transportSchema,
  type UnnamedTransport,
} from "./schema.ts";
import { checkDkim } from "./schema-dkim.ts";
import { checkInboundFiles } from "./schema-inbound.ts";
import { unknownName } from "./schema-routing.ts";
import { addExpected, type IssueSink } from "./schema-value.ts";
import type { Config, FleetConfig, InstanceRole, ListenerConfig } from "./types.ts";

export const INSTANCE_ROLES = ["submission", "input", "output", "all"] as const;
const DELIVERING: readonly InstanceRole[] = ["output", "all"];
const INSTANCE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** Where each role listens when the section says nothing (unprivileged loopback ports). */
export const ROLE_DEFAULT_LISTEN: Record<InstanceRole, string> = {
  submission: "127.0.0.1:2587",
  input: "127.0.0.1:2525",
  output: "127.0.0.1:10025",
  all: "127.0.0.1:2525",
};

/** The transport a relay_to instance gets: plain SMTP to the target's listener on loopback. */
export function relayTransportName(target: string): string {
  return `relay-to-${target}`;
}

const INSTANCE_NAME_EXPECTED = "an instance name of letters, digits, '_' and '-'";
const instanceName = z.string().refine((name) => INSTANCE_NAME_RE.test(name), {
  message: `expected ${INSTANCE_NAME_EXPECTED}`,
  params: { expected: INSTANCE_NAME_EXPECTED },
});

const instanceSection = z.strictObject({
  role: z.enum(INSTANCE_ROLES),
  enabled: z.boolean().default(true),
  relay_to: z.string().optional(),
  ...instanceShape,
});
type Section = z.output<typeof instanceSection>;

/** The single-instance file: instance keys and fleet-wide keys side by side. */
export function createSingleInstanceSchema(ctx: SchemaContext) {
  return z
    .strictObject({ ...fleetWideShape, ...instanceShape })
    .superRefine((raw, check) => {
      checkInstanceReferences(raw, raw, [], check);
      checkInboundFiles(ctx.baseDir, raw, [], check);
      checkDkim(ctx.baseDir, raw, "all", [], check);
    })
    .transform((raw): FleetConfig => {
      const identity = { name: "main", role: "all" as const, enabled: true, relayTo: null };
      const defaults = { spoolDir: "./var/spool", listen: [parseListen(ROLE_DEFAULT_LISTEN.all)] };
      return {
        source: ctx.source,
        runDir: resolveConfigPath(ctx.baseDir, raw.run_dir),
        log: finishLog(ctx, raw),
        instances: { main: finishInstance(ctx, raw, raw, identity, defaults) },
      };
    });
}

/** The fleet file: `instances:` with one section per instance. */
export function createFleetSchema(ctx: SchemaContext) {
  return z
    .strictObject({
      ...fleetWideShape,
      instances: z.record(instanceName, instanceSection).refine((m) => Object.keys(m).length > 0, {
        message: "expected at least one instance",
        params: { expected: "at least one instance (a map of name: {role: ...})" },
      }),
    })
    .superRefine((raw, check) => {
      const relayTargets = resolveRelayTargets(raw.instances, check);
      for (const [name, section] of Object.entries(raw.instances)) {
        checkInstanceReferences(section, raw, ["instances", name], check);
        checkInboundFiles(ctx.baseDir, section, ["instances", name], check);
        checkDkim(ctx.baseDir, section, section.role, ["instances", name], check);
        checkRole(name, section, relayTargets.get(name), check);
      }
      checkRelayLoops(raw.instances, relayTargets, check);
      checkShared(ctx, raw.instances, check);
    })
    .transform((raw): FleetConfig => {
      const relayTargets = resolveRelayTargets(raw.instances, null);
      const listenOf = (name: string): ListenerConfig[] => {
        const section = raw.instances[name]!;
        return section.listen ?? [parseListen(ROLE_DEFAULT_LISTEN[section.role])];
      };
      const instances: Record<string, Config> = {};
      for (const [name, section] of Object.entries(raw.instances)) {
        const target = relayTargets.get(name) ?? null;
        const identity = { name, role: section.role, enabled: section.enabled, relayTo: target };
        const extra: Record<string, UnnamedTransport> = {};
        let delivery = section.delivery;
        if (target !== null) {
          const transportName = relayTransportName(target);
          // Plain SMTP on loopback: a listener of the target that does not start with TLS.
          const plain = listenOf(target).find((l) => l.tls !== "implicit") ?? listenOf(target)[0]!;
          extra[transportName] = relayTransport(plain);
          delivery = { ...delivery, defaultTransport: transportName };
        }
        const defaults = { spoolDir: `./var/spool/${name}`, listen: listenOf(name) };
        instances[name] = finishInstance(ctx, { ...section, delivery }, raw, identity, defaults, extra);
      }
      return {
        source: ctx.source,
        runDir: resolveConfigPath(ctx.baseDir, raw.run_dir),
        log: finishLog(ctx, raw),
        instances,
      };
    });
}

function parseListen(text: string): ListenerConfig {
  const [host, port] = text.split(":");
  return { host: host!, port: Number(port) };
}

/**
 * relay_to of each relaying instance: as written, or the fleet's only delivering instance. With
 * `check`, reports unknown targets and a missing relay_to where no default exists.
 */
function resolveRelayTargets(
  instances: Record<string, Section>,
  check: IssueSink | null,
): Map<string, string> {
  const names = Object.keys(instances);
  const delivering = names.filter((n) => DELIVERING.includes(instances[n]!.role));
  const targets = new Map<string, string>();
  for (const [name, section] of Object.entries(instances)) {
    const path = ["instances", name, "relay_to"];
    if (section.relay_to !== undefined) {
      if (!Object.hasOwn(instances, section.relay_to)) {
        if (check) unknownName(check, path, section.relay_to, "instance", names);
      } else if (section.relay_to === name) {
        if (check)
          addExpected(check, path, name, "another instance's name (an instance cannot relay to itself)");
      } else {
        targets.set(name, section.relay_to);
      }
    } else if (!DELIVERING.includes(section.role)) {
      if (delivering.length === 1) targets.set(name, delivering[0]!);
      else if (check) {
        const choice = delivering.length === 0 ? "none is configured" : `one of ${delivering.join(", ")}`;
        addExpected(
          check,
          ["instances", name],
          section,
          `relay_to: the instance to hand mail to (${choice})`,
        );
      }
    }
  }
  return targets;
}

/** Only delivering roles have transports and routes; relay_to is for the others. */
function checkRole(name: string, section: Section, target: string | undefined, check: IssueSink): void {
  const at = ["instances", name];
  if (DELIVERING.includes(section.role)) {
    if (section.relay_to !== undefined) {
      addExpected(
        check,
        [...at, "relay_to"],
        section.relay_to,
        `no relay_to for role ${section.role} (it delivers itself; relay_to is for submission and input)`,
      );
    }
    return;
  }
  const why = `no ${"$KEY"} in a ${section.role} instance: it hands every message to ${target ?? "its relay_to instance"}; routes and transports belong to the output instance`;
  if (section.transports !== undefined)
    addExpected(check, [...at, "transports"], section.transports, why.replace("$KEY", "transports"));
  if (section.routes !== undefined)
    addExpected(check, [...at, "routes"], section.routes, why.replace("$KEY", "routes"));
  // Reports are ingested where the attribution, counters and suppression list live: the
  // delivering instance. A relaying instance passes report mail on to it like any mail.
  const fb = section.feedback;
  for (const key of ["verp", "addresses", "bounce_domains"] as const) {
    const value = fb?.[key];
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    const expected = `no feedback.${key} in a relaying instance (${section.role}): set it on ${target ?? "the delivering instance"}, which ingests the reports this one relays to it`;
    addExpected(check, [...at, "feedback", key], value, expected);
  }
}

/** A relay_to chain must end at a delivering instance. */
function checkRelayLoops(
  instances: Record<string, Section>,
  targets: Map<string, string>,
  check: IssueSink,
): void {
  for (const start of targets.keys()) {
    const chain = [start];
    let current = targets.get(start);
    while (current !== undefined && !chain.includes(current)) {
      chain.push(current);
      current = targets.get(current);
    }
    if (current === start) {
      const loop = [...chain, start].join(" -> ");
      addExpected(
        check,
        ["instances", start, "relay_to"],
        instances[start]!.relay_to,
        `relay_to not to loop (${loop})`,
      );
    }
  }
}

/** Each instance needs its own spool (it is locked) and its own listening addresses. */
function checkShared(ctx: SchemaContext, instances: Record<string, Section>, check: IssueSink): void {
  const spools = new Map<string, string>();
  const listeners = new Map<string, string>();
  for (const [name, section] of Object.entries(instances)) {
    const spool = resolveConfigPath(ctx.baseDir, section.spool_dir ?? `./var/spool/${name}`);
    const owner = spools.get(spool);
    if (owner !== undefined) {
      addExpected(
        check,
        ["instances", name, "spool_dir"],
        section.spool_dir,
        `a spool_dir of its own (instance ${owner} uses ${spool})`,
      );
    }
    spools.set(spool, name);
    const listen = section.listen ?? [parseListen(ROLE_DEFAULT_LISTEN[section.role])];
    for (const [i, l] of listen.entries()) {
      const key = `${l.host}:${l.port}`;
      const other = listeners.get(key);
      if (other !== undefined && l.port !== 0) {
        const path = section.listen ? ["instances", name, "listen", i] : ["instances", name];
        addExpected(check, path, key, `a listening address of its own (instance ${other} listens on ${key})`);
      }
      listeners.set(key, name);
    }
  }
}

/** Loopback hand-over to the next instance: no TLS, no MX lookup, quick retries, big connections. */
function relayTransport(target: ListenerConfig): UnnamedTransport {
  const host = target.host === "0.0.0.0" ? "127.0.0.1" : target.host === "::" ? "::1" : target.host;
  return transportSchema.parse({
    nexthop: `[${host}]:${target.port}`,
    tls: "none",
    concurrency: 50,
    max_messages_per_connection: 1000,
    retry_schedule: ["10s", "30s", "1m", "5m", "15m"],
  });
}
