/**
 * Postfix delivery services -> mailfleet transports and sources. For each master.cf smtp(8) or
 * lmtp(8) service a map refers to, it works out the settings Postfix actually applied and the
 * ones the operator wrote, and keeps the operator's intent:
 *
 * - smtp(8) itself honours `-o smtp_bind_address`, `-o smtp_helo_name`, `-o
 *   smtp_tls_security_level`: carried over as they are. lmtp(8) reads the same settings under
 *   its own names (`lmtp_bind_address`, `lmtp_lhlo_name`, `lmtp_tls_security_level`), and its
 *   nexthop becomes an "lmtp:" one (a relative socket path is under `queue_directory`).
 * - The queue manager, not smtp(8), applies destination concurrency, rate delay and queue
 *   lifetime, and it reads only main.cf (`<service>_destination_concurrency_limit`,
 *   `<service>_destination_rate_delay`, `maximal_queue_lifetime`). A `-o` override of those on a
 *   service is silently ignored by Postfix. mailfleet honours them per transport, so we carry the
 *   `-o` value and warn that behaviour will change, naming the value Postfix really used.
 *
 * A service used with several nexthops (e.g. MX lookup from transport_maps, relayhost from the
 * sender map) becomes one transport per nexthop, since a mailfleet nexthop belongs to a transport.
 */
import type { MainCf } from "./main-cf.ts";
import type { MasterService } from "./master-cf.ts";
import { overrideOf } from "./master-cf.ts";
import {
  durationMs,
  postfixLmtpNexthop,
  postfixNexthop,
  postfixTime,
  postfixTlsLevel,
} from "./postfix-values.ts";
import type { WarningSink } from "./warnings.ts";

/** The two delivery agents we import, and the prefix of their parameters. */
type Protocol = "smtp" | "lmtp";

/** The settings of one smtp(8) or lmtp(8) service, as mailfleet transport keys. */
interface ServiceSettings {
  protocol: Protocol;
  bindAddress: string | null;
  helo: string | undefined;
  concurrency: number;
  rateDelay: string;
  maxQueueLifetime: string;
  tls: string;
}

export interface ImportedTransport {
  name: string;
  service: string;
  /** mailfleet nexthop: "mx" or a host form. */
  nexthop: string;
  settings: ServiceSettings;
}

export interface TransportBuilder {
  /**
   * The mailfleet transport name for Postfix service `service` with Postfix nexthop `nexthop`
   * ("" = MX lookup on the recipient domain), or null (with a warning) when it cannot be carried.
   */
  resolve(service: string, nexthop: string, usedBy: string): string | null;
  /** The transports resolved so far, in order of first use. */
  transports(): ImportedTransport[];
  /** "gmail-transport (127.0.0.2)" for messages. */
  describe(name: string): string;
}

/** -o settings we carry (or, like syslog_name, drop quietly because they mean nothing here). */
const HANDLED_OVERRIDES = new Set([
  "smtp_bind_address",
  "smtp_helo_name",
  "smtp_destination_concurrency_limit",
  "smtp_destination_rate_delay",
  "lmtp_bind_address",
  "lmtp_lhlo_name",
  "lmtp_destination_concurrency_limit",
  "lmtp_destination_rate_delay",
  "lmtp_tls_security_level",
  "maximal_queue_lifetime",
  "smtp_tls_security_level",
  "syslog_name",
]);

const BUILTIN_SERVICES_WITHOUT_MASTER_LINE = new Set(["smtp", "relay"]);

export function createTransportBuilder(
  main: MainCf,
  services: MasterService[],
  hostname: string | undefined,
  warnings: WarningSink,
): TransportBuilder {
  const settingsByService = new Map<string, ServiceSettings | null>();
  const byKey = new Map<string, ImportedTransport>();
  const names = new Set<string>();

  function settingsOf(serviceName: string, usedBy: string): ServiceSettings | null {
    const known = settingsByService.get(serviceName);
    if (known !== undefined) return known;
    const service = services.find((s) => s.name === serviceName && s.type !== "inet");
    let settings: ServiceSettings | null = null;
    if (service === undefined && !BUILTIN_SERVICES_WITHOUT_MASTER_LINE.has(serviceName)) {
      warnings.warn(
        "NOT_CARRIED",
        `transport "${serviceName}" (used by ${usedBy}) is not a master.cf service; mail routed to it is not carried over`,
      );
    } else if (service !== undefined && service.command !== "smtp" && service.command !== "lmtp") {
      warnings.warn(
        "NOT_CARRIED",
        `master.cf service "${serviceName}" (line ${service.line}) runs "${service.command}", not smtp; mail routed to it (${usedBy}) is not carried over`,
      );
    } else {
      const protocol: Protocol = service?.command === "lmtp" ? "lmtp" : "smtp";
      settings = computeSettings(main, serviceName, service, protocol, hostname, warnings);
    }
    settingsByService.set(serviceName, settings);
    return settings;
  }

  function uniqueName(base: string): string {
    let name = base;
    for (let n = 2; names.has(name); n++) name = `${base}-${n}`;
    names.add(name);
    return name;
  }

  return {
    resolve(service, nexthop, usedBy) {
      const settings = settingsOf(service, usedBy);
      if (settings === null) return null;
      let target = "mx";
      if (settings.protocol === "lmtp") {
        const queueDirectory = main.get("queue_directory") ?? "/var/spool/postfix";
        const converted = nexthop === "" ? undefined : postfixLmtpNexthop(nexthop, queueDirectory);
        if (converted === undefined) {
          warnings.warn(
            "NOT_CARRIED",
            `${usedBy}: lmtp nexthop "${nexthop}" cannot be expressed in mailfleet (it takes "unix:PATH" or a host); not carried over`,
          );
          return null;
        }
        target = converted;
      } else if (nexthop !== "") {
        const first = nexthop.split(/[\s,]+/)[0] ?? "";
        if (first !== nexthop) {
          warnings.warn(
            "NOT_CARRIED",
            `${usedBy}: nexthop list "${nexthop}" has no mailfleet equivalent; only ${first} is used`,
          );
        }
        const converted = postfixNexthop(first);
        if (converted === undefined) {
          warnings.warn(
            "NOT_CARRIED",
            `${usedBy}: nexthop "${first}" cannot be expressed in mailfleet; not carried over`,
          );
          return null;
        }
        target = converted;
      }
      const key = `${service}\u0000${target}`;
      const existing = byKey.get(key);
      if (existing) return existing.name;
      const name = uniqueName(/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(service) ? service : "imported");
      byKey.set(key, { name, service, nexthop: target, settings });
      return name;
    },
    transports: () => [...byKey.values()],
    describe(name) {
      const t = [...byKey.values()].find((x) => x.name === name);
      const from = t?.settings.bindAddress ? `from ${t.settings.bindAddress}` : "from the default address";
      return `${name} (${from})`;
    },
  };
}

function computeSettings(
  main: MainCf,
  name: string,
  service: MasterService | undefined,
  protocol: Protocol,
  hostname: string | undefined,
  warnings: WarningSink,
): ServiceSettings {
  const overrides: Record<string, string> = { service_name: name };
  for (const o of service?.overrides ?? []) overrides[o.name] = o.value;
  const get = (param: string) => main.get(param, overrides);
  const where = service ? `master.cf service "${name}" (line ${service.line})` : `transport "${name}"`;

  const bindAddress = get(`${protocol}_bind_address`) || null;
  if (get(`${protocol}_bind_address6`)) {
    warnings.warn(
      "NOT_CARRIED",
      `${where}: ${protocol}_bind_address6 is not carried over (one bind address per transport)`,
    );
  }
  const helo = get(protocol === "lmtp" ? "lmtp_lhlo_name" : "smtp_helo_name") || hostname;

  const usedConcurrency =
    main.get(`${name}_destination_concurrency_limit`) ??
    main.get("default_destination_concurrency_limit") ??
    "20";
  const concurrencyText = queueManagerSetting(
    where,
    service,
    [`${protocol}_destination_concurrency_limit`, `${name}_destination_concurrency_limit`],
    usedConcurrency,
    (v) => (/^\d+$/.test(v) ? Number(v) : Number.NaN),
    warnings,
  );
  let concurrency = /^\d+$/.test(concurrencyText) ? Number(concurrencyText) : 20;
  if (concurrency === 0) {
    warnings.warn(
      "NOT_CARRIED",
      `${where}: destination concurrency 0 (no limit) has no mailfleet equivalent; using 1000`,
    );
    concurrency = 1000;
  }

  const usedRateDelay =
    main.get(`${name}_destination_rate_delay`) ?? main.get("default_destination_rate_delay") ?? "0s";
  const rateDelay = timeSetting(
    where,
    queueManagerSetting(
      where,
      service,
      [`${protocol}_destination_rate_delay`, `${name}_destination_rate_delay`],
      usedRateDelay,
      (v) => durationMs(postfixTime(v, "s") ?? ""),
      warnings,
    ),
    "s",
    "0s",
    warnings,
  );

  const usedLifetime = main.get("maximal_queue_lifetime") ?? "5d";
  const maxQueueLifetime = timeSetting(
    where,
    queueManagerSetting(
      where,
      service,
      ["maximal_queue_lifetime"],
      usedLifetime,
      (v) => durationMs(postfixTime(v, "d") ?? ""),
      warnings,
    ),
    "d",
    "5d",
    warnings,
  );

  const tls = tlsSetting(where, protocol, get, warnings);

  for (const o of service?.overrides ?? []) {
    const perService = [`${name}_destination_concurrency_limit`, `${name}_destination_rate_delay`];
    if (HANDLED_OVERRIDES.has(o.name) || perService.includes(o.name)) continue;
    warnings.warn(
      "NOT_CARRIED",
      `${where}: -o ${o.name}=${o.value} has no mailfleet equivalent; not carried over`,
    );
  }
  return { protocol, bindAddress, helo, concurrency, rateDelay, maxQueueLifetime, tls };
}

/**
 * A queue-manager setting: Postfix used `used` (from main.cf); a `-o` override of any of `names`
 * was ignored by Postfix. Returns the value to carry: the override when there is one.
 */
function queueManagerSetting(
  where: string,
  service: MasterService | undefined,
  names: string[],
  used: string,
  compare: (value: string) => number,
  warnings: WarningSink,
): string {
  let chosen: { name: string; value: string } | undefined;
  for (const n of names) {
    const value = service ? overrideOf(service, n) : undefined;
    if (value !== undefined) chosen = { name: n, value };
  }
  if (chosen === undefined) return used;
  if (compare(chosen.value) !== compare(used)) {
    warnings.warn(
      "BEHAVIOUR_CHANGE",
      `${where}: -o ${chosen.name}=${chosen.value} was silently ignored by Postfix (its queue manager reads this only from main.cf, so ${used} applied); mailfleet honours ${chosen.value} for this transport, so behaviour will CHANGE`,
    );
  }
  return chosen.value;
}

function timeSetting(
  where: string,
  value: string,
  unit: "s" | "d",
  fallback: string,
  warnings: WarningSink,
): string {
  const converted = postfixTime(value, unit);
  if (converted !== undefined) return converted;
  warnings.warn("INPUT_PROBLEM", `${where}: time value "${value}" is not understood; using ${fallback}`);
  return fallback;
}

function tlsSetting(
  where: string,
  protocol: Protocol,
  get: (param: string) => string | undefined,
  warnings: WarningSink,
): string {
  const parameter = `${protocol}_tls_security_level`;
  let level = get(parameter) ?? "";
  if (level === "") {
    // Postfix's pre-2.3 switches still apply when the security level is unset.
    if (get(`${protocol}_enforce_tls`) === "yes") level = "encrypt";
    else if (get(`${protocol}_use_tls`) === "yes") level = "may";
  }
  const mapped = postfixTlsLevel(level);
  if (mapped === undefined) {
    warnings.warn(
      "INPUT_PROBLEM",
      `${where}: ${parameter} "${level}" is not understood; using opportunistic`,
    );
    return "opportunistic";
  }
  if (mapped.lost !== null) {
    warnings.warn(
      "NOT_CARRIED",
      `${where}: ${parameter}=${level} becomes tls: ${mapped.tls}; its ${mapped.lost} are not carried over`,
    );
  }
  return mapped.tls;
}
