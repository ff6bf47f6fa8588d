/**
 * `mailfleet instance create|enable|disable|destroy`: change the instances in mailfleet.yaml, then
 * have a running supervisor apply the change (the reload starts, stops or restarts instances).
 *
 * Each edit is validated as a whole file before anything is written (a refused edit leaves the
 * file untouched), and written atomically (temporary file + rename). Without a file, `create`
 * starts one from the built-in pipeline.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import pino from "pino";
import { stringify } from "yaml";
import type { ReloadResult } from "../api-types/fleet.ts";
import type { AdminEndpoint } from "../api-types/queue.ts";
import { addInstance, ConfigEditError, openDocument, removeInstance, setEnabled } from "../config/edit.ts";
import { formatConfigError } from "../config/errors.ts";
import { BUILTIN_FLEET, DEFAULT_CONFIG_FILE, parseConfig } from "../config/load.ts";
import { INSTANCE_ROLES } from "../config/schema-fleet.ts";
import type { Config, FleetConfig, InstanceRole } from "../config/types.ts";
import { createSpool } from "../spool/spool.ts";
import { controlCall, errorText } from "../supervisor/control-call.ts";
import { CliError, EXIT } from "./exit-codes.ts";

const NEW_FILE_HEADER = "# mailfleet configuration (see docs/configuration.md)\n";

interface ConfigFile {
  path: string;
  text: string;
}

function readConfigFile(path: string | undefined, createIfMissing: boolean): ConfigFile {
  const file = resolve(path ?? DEFAULT_CONFIG_FILE);
  if (existsSync(file)) return { path: file, text: readFileSync(file, "utf8") };
  if (!createIfMissing) throw new CliError(`${file}: no such config file`, EXIT.noInput);
  return { path: file, text: NEW_FILE_HEADER + stringify(BUILTIN_FLEET) };
}

/** Validates the edited text as a whole file; writes it only when valid. */
function writeValidated(file: ConfigFile, text: string): FleetConfig {
  const result = parseConfig(text, file.path, dirname(file.path));
  if (!result.ok) {
    const errors = result.errors.map(formatConfigError).join("\n");
    throw new CliError(`the change would make the config invalid; nothing written:\n${errors}`, EXIT.config);
  }
  const temporary = join(dirname(file.path), `.${process.pid}.mailfleet.yaml.tmp`);
  writeFileSync(temporary, text, { mode: 0o640 });
  renameSync(temporary, file.path);
  return { ...result.fleet, source: file.path };
}

/** Asks a running supervisor to apply the new file; says so when none runs. */
async function applyToRunningFleet(fleet: FleetConfig): Promise<ReloadResult | null> {
  const answer = await controlCall(join(fleet.runDir, "control.sock"), "POST", "/v1/reload", 60_000);
  if (answer.kind === "absent") {
    console.log("mailfleet is not running: the change applies at the next `mailfleet start`");
    return null;
  }
  if (answer.kind === "error") throw new CliError(`reload failed: ${answer.message}`, EXIT.unavailable);
  if (answer.status !== 200)
    throw new CliError(`reload failed: ${errorText(answer.body, answer.status)}`, EXIT.unavailable);
  const result = answer.body as ReloadResult;
  if (!result.ok) throw new CliError(`reload refused:\n${result.errors.join("\n")}`, EXIT.config);
  const changes = (["started", "stopped", "restarted"] as const)
    .filter((k) => result[k].length > 0)
    .map((k) => `${k} ${result[k].join(", ")}`);
  console.log(`running fleet reloaded${changes.length > 0 ? `: ${changes.join("; ")}` : ""}`);
  return result;
}

function edit(file: ConfigFile, change: (doc: ReturnType<typeof openDocument>) => void): string {
  try {
    const doc = openDocument(file.text);
    change(doc);
    return doc.toString();
  } catch (err) {
    if (err instanceof ConfigEditError) throw new CliError(`${file.path}: ${err.message}`, EXIT.config);
    throw err;
  }
}

function oneName(positionals: string[], usage: string): string {
  if (positionals.length !== 1) throw new CliError(`usage: ${usage}`, EXIT.usage);
  return positionals[0]!;
}

export async function runInstanceCreate(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      role: { type: "string" },
      listen: { type: "string", multiple: true },
      source: { type: "string", multiple: true },
      "relay-to": { type: "string" },
    },
  });
  const usage =
    "mailfleet instance create NAME --role ROLE [--listen ADDR:PORT ...] [--source IP ...] [--relay-to NAME]";
  const name = oneName(positionals, usage);
  const role = values.role as InstanceRole | undefined;
  if (role === undefined || !INSTANCE_ROLES.includes(role)) {
    throw new CliError(`--role must be one of ${INSTANCE_ROLES.join(", ")}\nusage: ${usage}`, EXIT.usage);
  }
  const sources = values.source ?? [];
  if (sources.length > 0 && role !== "output" && role !== "all") {
    throw new CliError(
      `--source is for delivering roles (output, all); a ${role} instance hands mail to another`,
      EXIT.usage,
    );
  }
  const file = readConfigFile(values.config, true);
  const text = edit(file, (doc) =>
    addInstance(doc, {
      name,
      role,
      listen: values.listen ?? [],
      sources,
      relayTo: values["relay-to"] ?? null,
    }),
  );
  const fleet = writeValidated(file, text);
  const created = fleet.instances[name]!;
  const listening = created.listen.map((l) => `${l.host}:${l.port}`).join(", ");
  console.log(
    `instance ${name} (${role}) added to ${file.path}: listens on ${listening}, spool ${created.spoolDir}`,
  );
  await applyToRunningFleet(fleet);
  return EXIT.ok;
}

async function runSetEnabled(args: string[], enabled: boolean): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: "string", short: "c" } },
  });
  const name = oneName(positionals, `mailfleet instance ${enabled ? "enable" : "disable"} NAME [-c FILE]`);
  const file = readConfigFile(values.config, false);
  const fleet = writeValidated(
    file,
    edit(file, (doc) => setEnabled(doc, name, enabled)),
  );
  console.log(`instance ${name} ${enabled ? "enabled" : "disabled"} in ${file.path}`);
  await applyToRunningFleet(fleet);
  return EXIT.ok;
}

export const runInstanceEnable = (args: string[]) => runSetEnabled(args, true);
export const runInstanceDisable = (args: string[]) => runSetEnabled(args, false);

export async function runInstanceDestroy(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: "string", short: "c" }, force: { type: "boolean" } },
  });
  const name = oneName(positionals, "mailfleet instance destroy NAME [--force] [-c FILE]");
  const file = readConfigFile(values.config, false);
  const current = parseConfig(file.text, file.path, dirname(file.path));
  if (!current.ok) throw new CliError(current.errors.map(formatConfigError).join("\n"), EXIT.config);
  const instance = current.fleet.instances[name];
  if (instance === undefined) {
    throw new CliError(
      `no instance ${name} (instances: ${Object.keys(current.fleet.instances).join(", ")})`,
      EXIT.usage,
    );
  }
  const force = values.force === true;
  const queued = await queuedMessages(instance);
  if (queued > 0 && !force) {
    throw new CliError(
      `instance ${name} still holds ${queued} message(s) in ${instance.spoolDir}; deliver or move them first, or use --force to drop them`,
      EXIT.tempFail,
    );
  }
  const fleet = writeValidated(
    file,
    edit(file, (doc) => removeInstance(doc, name)),
  );
  console.log(`instance ${name} removed from ${file.path}`);
  await applyToRunningFleet(fleet);
  // The supervisor has stopped it; look again, since mail may have arrived meanwhile.
  const left = await queuedMessages(instance);
  if (left > 0 && !force) {
    console.log(`kept spool ${instance.spoolDir}: ${left} message(s) arrived before the instance stopped`);
    return EXIT.tempFail;
  }
  rmSync(instance.spoolDir, { recursive: true, force: true });
  console.log(`spool ${instance.spoolDir} deleted${left > 0 ? ` with ${left} message(s) (--force)` : ""}`);
  return EXIT.ok;
}

/**
 * Messages in an instance's queue: asked of the running instance, or read from its spool when it
 * is stopped (opening the spool takes its lock, so a running instance cannot be missed).
 */
async function queuedMessages(instance: Config): Promise<number> {
  if (!existsSync(instance.spoolDir)) return 0;
  const endpoint = readEndpoint(instance);
  if (endpoint !== null) {
    const res = await fetch(`${endpoint.url}/v1/queue`, {
      headers: { authorization: `Bearer ${endpoint.token}` },
      signal: AbortSignal.timeout(10_000),
    }).catch(() => null);
    if (res?.ok) return ((await res.json()) as { total: number }).total;
  }
  const spool = createSpool({ dir: instance.spoolDir, logger: pino({ enabled: false }) });
  try {
    const report = await spool.open();
    return report.messages.length;
  } catch (err) {
    throw new CliError(
      `cannot read the queue of ${instance.instance.name}: ${(err as Error).message}`,
      EXIT.tempFail,
    );
  } finally {
    await spool.close().catch(() => {});
  }
}

function readEndpoint(instance: Config): AdminEndpoint | null {
  try {
    return JSON.parse(readFileSync(join(instance.spoolDir, "admin.json"), "utf8")) as AdminEndpoint;
  } catch {
    return null;
  }
}
