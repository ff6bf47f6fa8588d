/**
 * A real rspamd (Debian's `rspamd` package) for the spam-check tests, on loopback only.
 *
 * `useRspamd()` answers with the daemon `.ci/run` started (MAILFLEET_RSPAMD_URL) when it answers
 * /ping, else starts a private one on a free port from a config it writes: the packaged rules
 * ($CONFDIR/common.conf), one scanner worker bound to 127.0.0.1, no controller, no proxy, no
 * Redis, and a resolver address where nothing answers (tests must not reach the Internet). Where
 * the rspamd binary is absent it returns null, so tests can skip with a clear message.
 *
 * The hyperscan cache is shared between runs in the temp directory: the first start compiles
 * rspamd's regular expressions (some 15 s), later ones take about one.
 *
 * Run directly (`node test/support/rspamd.ts PORT`) it starts a detached daemon on that port,
 * waits until /ping answers, prints the URL and exits: that is how .ci/run starts its rspamd.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { freePort } from "./ports.ts";

export interface Rspamd {
  url: string;
  /** Stops a daemon this process started (a shared CI daemon is left running). */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 120_000;

/** The rspamd executable on PATH (or in /usr/bin, /usr/sbin), or null. */
export function rspamdBinary(): string | null {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/bin", "/usr/sbin"];
  for (const dir of dirs) {
    if (dir === "") continue;
    const path = join(dir, "rspamd");
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return null;
}

/** True when `url`/ping answers "pong" within a second. */
export async function pingRspamd(url: string): Promise<boolean> {
  try {
    const res = await fetch(new URL("/ping", url), { signal: AbortSignal.timeout(1000) });
    return res.ok && (await res.text()).trim() === "pong";
  } catch {
    return false;
  }
}

function configText(port: number, dbDir: string, deadDnsPort: number): string {
  const cacheDir = join(tmpdir(), "mailfleet-rspamd-hs-cache");
  mkdirSync(cacheDir, { recursive: true });
  return `# Written by mailfleet's test/support/rspamd.ts: rspamd's packaged rules, one scanner on loopback.
.include "$CONFDIR/common.conf"
options {
  pidfile = "${dbDir}/rspamd.pid";
  url_tld = "\${SHAREDIR}/effective_tld_names.dat";
  hs_cache_dir = "${cacheDir}";
  cache_file = "${dbDir}/symbols.cache";
  filters = "chartable,dkim,regexp,fuzzy_check";
  allow_raw_input = true;
  task_timeout = 8s;
  tempdir = "${dbDir}";
  dns {
    nameserver = ["127.0.0.1:${deadDnsPort}"];
    timeout = 0.2s;
    retransmits = 1;
  }
}
logging {
  type = "console";
  level = "error";
}
worker "normal" {
  bind_socket = "127.0.0.1:${port}";
  count = 1;
  mime = true;
}
`;
}

interface Started {
  child: ChildProcess;
  url: string;
  dir: string;
}

async function launch(port: number, options: { detached: boolean }): Promise<Started> {
  const binary = rspamdBinary();
  if (binary === null) throw new Error("rspamd is not installed (apt-get install rspamd)");
  const dir = mkdtempSync(join(tmpdir(), "mailfleet-rspamd-"));
  const deadDnsPort = await freePort();
  const configPath = join(dir, "rspamd.conf");
  writeFileSync(configPath, configText(port, dir, deadDnsPort));
  const logPath = join(dir, "rspamd.log");
  const log = openSync(logPath, "a");
  // -f: stay in the foreground (our child); -i: allow running as root, as CI does.
  const args = [
    "-f",
    "-i",
    "-c",
    configPath,
    `--var=DBDIR=${dir}`,
    `--var=LOCAL_CONFDIR=${dir}`,
    `--var=RUNDIR=${dir}`,
  ];
  const child = spawn(binary, args, { stdio: ["ignore", log, log], detached: options.detached });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`rspamd exited (${child.exitCode ?? child.signalCode}); see ${logPath}`);
    }
    if (await pingRspamd(url)) return { child, url, dir };
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`rspamd did not answer ${url}/ping within ${START_TIMEOUT_MS} ms; see ${logPath}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Starts a private rspamd on a free loopback port; throws when rspamd is not installed. */
export async function startRspamd(): Promise<Rspamd> {
  const { child, url, dir } = await launch(await freePort(), { detached: false });
  const kill = () => child.kill("SIGKILL");
  process.once("exit", kill);
  return {
    url,
    async stop() {
      process.off("exit", kill);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The rspamd for a test: the shared one from MAILFLEET_RSPAMD_URL when it answers, else a private
 * one; null when rspamd is not installed (the caller skips, saying so). Under CI, where .ci/run
 * installs it, a missing rspamd is an error: the spam tests must never pass by being skipped.
 */
export async function useRspamd(): Promise<Rspamd | null> {
  const shared = process.env.MAILFLEET_RSPAMD_URL;
  if (shared && (await pingRspamd(shared))) return { url: shared, stop: async () => {} };
  if (rspamdBinary() === null) {
    if (process.env.CI) throw new Error(`${RSPAMD_MISSING}; under CI it must be installed`);
    return null;
  }
  return startRspamd();
}

export const RSPAMD_MISSING =
  "rspamd is not installed here (apt-get install rspamd; .ci/run does): rspamd tests skipped";

if (import.meta.main) {
  const port = Number(process.argv[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    process.stderr.write("usage: node test/support/rspamd.ts PORT\n");
    process.exit(64);
  }
  const { child, url } = await launch(port, { detached: true });
  child.unref();
  process.stdout.write(`${url} (pid ${child.pid})\n`);
  process.exit(0);
}
