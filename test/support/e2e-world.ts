/**
 * One e2e scenario's surroundings: a temp directory, a fake DNS server, free ports, a mailfleet
 * config pointing at them, and the running `mailfleet start` process. Scenario files describe
 * only what differs (the zone, a few config keys) and what they assert.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import type { FleetReport, QueueListing } from "../../src/api-types/queue.ts";
import { type DnsServer, startDnsServer, type ZoneSpec } from "./dns-server.ts";
import { cliPath, type MailfleetProcess, runCli, startMailfleet, writeConfig } from "./mailfleet-process.ts";
import { freePort } from "./ports.ts";

export interface WorldOptions {
  zone: ZoneSpec;
  /** The port every MX delivery goes to (transports.mx.port): where the sinks listen. */
  mxPort: number;
  /** Deep-merged over the base config (objects merge, arrays and scalars replace). */
  config?: Record<string, unknown>;
  /** Start mailfleet right away (default true). */
  start?: boolean;
}

export interface World {
  dir: string;
  dns: DnsServer;
  smtpPort: number;
  adminPort: number;
  configPath: string;
  /** The running process; throws when none was started. */
  readonly mailfleet: MailfleetProcess;
  start(): Promise<MailfleetProcess>;
  /** `mailfleet send`; `queueId` is parsed from "queued as ID" when it succeeded. */
  send(from: string, to: string[], message: string): Promise<CliResult & { queueId: string | null }>;
  mailq(): Promise<QueueListing>;
  /** Stops mailfleet (SIGTERM), the DNS server, and removes the temp directory. */
  close(): Promise<void>;
}

export type CliResult = Awaited<ReturnType<typeof runCli>>;

export async function startWorld(options: WorldOptions): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), "mailfleet-e2e-"));
  const dns = await startDnsServer(options.zone);
  const smtpPort = await freePort();
  const adminPort = await freePort();
  const base = {
    hostname: "mailfleet.test",
    spool_dir: join(dir, "spool"),
    listen: [`127.0.0.1:${smtpPort}`],
    limits: { max_message_size: "1MiB", max_recipients: 100, min_free_disk: "1MiB" },
    relay: { trusted_networks: ["127.0.0.0/8"] },
    dns: { servers: [`127.0.0.1:${dns.port}`], timeout: "1s", tries: 1 },
    delivery: { allow_private_destinations: true, default_transport: "mx" },
    transports: {
      mx: {
        nexthop: "mx",
        port: options.mxPort,
        retry_schedule: ["1s"],
        max_queue_lifetime: "5d",
        idle_timeout: "1s",
      },
    },
    bounce: { from: "MAILER-DAEMON@mailfleet.test" },
    log: { format: "text" },
    admin: { listen: `127.0.0.1:${adminPort}` },
  };
  const configPath = await writeConfig(dir, stringify(deepMerge(base, options.config ?? {})));
  let current: MailfleetProcess | null = null;

  const world: World = {
    dir,
    dns,
    smtpPort,
    adminPort,
    configPath,
    get mailfleet() {
      if (!current) throw new Error("mailfleet is not started");
      return current;
    },
    async start() {
      current = await startMailfleet(configPath);
      return current;
    },
    async send(from, to, message) {
      const args = ["send", "-c", configPath, "--from", from, ...to.flatMap((t) => ["--to", t]), "-"];
      const result = await runCli(args, { input: message });
      if (result.code !== 0 && current) result.stderr += exitNote(current);
      const queued = /queued as ([0-9A-Z]+)/.exec(result.stdout);
      return { ...result, queueId: queued?.[1] ?? null };
    },
    async mailq() {
      const result = await runCli(["mailq", "-c", configPath, "--json"]);
      if (result.code !== 0) {
        throw new Error(`mailq exited ${result.code}: ${result.stderr}${current ? exitNote(current) : ""}`);
      }
      // `mailq --json` reports every instance of the fleet; a world runs one.
      const listing = (JSON.parse(result.stdout) as FleetReport<QueueListing>).instances[0];
      if (!listing) throw new Error(`mailq reached no instance: ${result.stdout}`);
      return listing;
    },
    async close() {
      await current?.stop();
      await dns.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  if (options.start !== false) {
    try {
      await world.start();
    } catch (err) {
      await dns.close();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }
  return world;
}

/** When the instance has died, says so with the end of its stderr, to explain a failed CLI call. */
function exitNote(process: MailfleetProcess): string {
  const { exitCode, signalCode } = process.child;
  if (exitCode === null && signalCode === null) return "";
  return `\n[mailfleet exited (${exitCode ?? signalCode}); its stderr ends:]\n${process.stderr().slice(-3000)}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const old = out[key];
    out[key] = isPlainObject(old) && isPlainObject(value) ? deepMerge(old, value) : value;
  }
  return out;
}

/** A small RFC 5322 message with LF line ends (`mailfleet send` converts them to CRLF). */
export function simpleMessage(fields: { from: string; to: string; subject: string; body?: string }): string {
  return [
    `From: ${fields.from}`,
    `To: ${fields.to}`,
    `Subject: ${fields.subject}`,
    `Message-ID: <${fields.subject.replace(/\W+/g, "-")}-${process.pid}@client.test>`,
    "",
    fields.body ?? `Body of ${fields.subject}.`,
    "",
  ].join("\n");
}

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs a CLI command that is expected to exit on its own (e.g. a `start` that must fail), but
 * kills it after `timeoutMs` so a command that wrongly keeps running cannot hang the test.
 */
export function runCliBounded(
  args: string[],
  timeoutMs = 15_000,
): Promise<CliResult & { timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}
