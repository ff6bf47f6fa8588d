/**
 * Postfix as the benchmark's peer, configured as bench/README.md describes: a
 * loopback-only relay (S1), and the postmulti input -> postfix-out pipeline (S2). Installs Debian's
 * postfix package when missing, keeps the host's own /etc/postfix files aside and puts them back
 * (and stops Postfix, and removes the postfix-out instance) in `restore()`.
 *
 * Each run starts from an empty queue (`postsuper -d ALL`) with freshly written ports, and Postfix
 * is stopped after it, so nothing of one run leaks into the next.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canConnect, freePort } from "../test/support/ports.ts";
import type { RunningSetup, SetupFactory } from "./measure.ts";

const ETC = "/etc/postfix";
const OUT_ETC = "/etc/postfix-out";
const OUT_NAME = "postfix-out";
const MARKER = "# written by mailfleet bench/postfix-peer.ts";
const QUEUE = "/var/spool/postfix";
const OUT_QUEUE = "/var/spool/postfix-out";
/** Through postlogd: there is no syslog daemon here. Removed by restore() unless BENCH_KEEP is set. */
export const POSTFIX_LOG = "/var/log/mailfleet-bench-postfix.log";

export interface PostfixPeer {
  version: string;
  /** S1: smtp-source -> Postfix -> sink. */
  relay: SetupFactory;
  /** S2: smtp-source -> Postfix (input) -> postfix-out -> sink. */
  pipeline: SetupFactory;
  restore(): void;
}

function run(cmd: string, args: string[], options: { input?: string; allowFail?: boolean } = {}): string {
  const res = spawnSync(cmd, args, {
    input: options.input ?? "",
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (res.status !== 0 && !options.allowFail) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${res.status ?? res.signal}): ${res.stderr || res.stdout}`,
    );
  }
  return res.stdout;
}

/** Debian's postfix, installed without a configuration (we write our own). Needs root and apt. */
export function ensurePostfixInstalled(log: (line: string) => void): void {
  if (spawnSync("postconf", ["-d", "mail_version"]).status === 0) return;
  log("installing Debian's postfix package (debconf: No configuration)");
  run("debconf-set-selections", [], { input: "postfix postfix/main_mailer_type select No configuration\n" });
  const install = () =>
    spawnSync("apt-get", ["install", "-y", "postfix"], {
      stdio: "inherit",
      timeout: 600_000,
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    }).status === 0;
  if (!install()) {
    run("apt-get", ["update", "-q"]);
    if (!install()) throw new Error("apt-get install postfix failed");
  }
}

function mainSettings(hostname: string, nexthopPort: number): Record<string, string> {
  return {
    compatibility_level: "3.6",
    myhostname: hostname,
    inet_protocols: "ipv4",
    mydestination: "",
    relay_domains: "",
    local_recipient_maps: "",
    alias_maps: "",
    alias_database: "",
    biff: "no",
    mynetworks: "127.0.0.0/8",
    smtpd_relay_restrictions: "permit_mynetworks, reject",
    default_transport: `smtp:[127.0.0.1]:${nexthopPort}`,
    relay_transport: `smtp:[127.0.0.1]:${nexthopPort}`,
    smtp_bind_address: "127.0.0.2",
    smtp_dns_support_level: "disabled",
    default_process_limit: "200",
    default_destination_concurrency_limit: "50",
    smtp_destination_concurrency_limit: "50",
    smtpd_client_connection_count_limit: "0",
    maillog_file: POSTFIX_LOG,
  };
}

/** master.cf with every service `chroot = n`, smtpd only on 127.0.0.1:port, no port-25 listener. */
function masterCf(smtpdPort: number, pickup: boolean): string {
  const services = [
    `127.0.0.1:${smtpdPort} inet n - n - - smtpd`,
    pickup ? "pickup unix n - n 60 1 pickup" : "",
    "cleanup unix n - n - 0 cleanup",
    "qmgr unix n - n 300 1 qmgr",
    "tlsmgr unix - - n 1000? 1 tlsmgr",
    "rewrite unix - - n - - trivial-rewrite",
    "bounce unix - - n - 0 bounce",
    "defer unix - - n - 0 bounce",
    "trace unix - - n - 0 bounce",
    "verify unix - - n - 1 verify",
    "flush unix n - n 1000? 0 flush",
    "proxymap unix - - n - - proxymap",
    "proxywrite unix - - n - 1 proxymap",
    "smtp unix - - n - - smtp",
    "relay unix - - n - - smtp",
    "showq unix n - n - - showq",
    "error unix - - n - - error",
    "retry unix - - n - - error",
    "discard unix - - n - - discard",
    "local unix - n n - - local",
    "virtual unix - n n - - virtual",
    "lmtp unix - - n - - lmtp",
    "anvil unix - - n - 1 anvil",
    "scache unix - - n - 1 scache",
    "postlog unix-dgram n - n - 1 postlogd",
  ];
  return `${MARKER}\n${services.filter(Boolean).join("\n")}\n`;
}

/** What `postmulti -e init` and `-I postfix-out -e create` leave in the default instance's main.cf. */
const MULTI_DEFAULT_INSTANCE: Record<string, string> = {
  multi_instance_wrapper: "$command_directory/postmulti -p --",
  multi_instance_enable: "yes",
  multi_instance_directories: OUT_ETC,
};

function mainCf(settings: Record<string, string>): string {
  const lines = Object.entries(settings).map(([k, v]) => `${k} = ${v}`);
  return `${MARKER}\n${lines.join("\n")}\n`;
}

function postconf(configDir: string, settings: Record<string, string>): void {
  run("postconf", ["-c", configDir, "-e", ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]);
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function masterPid(queueDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(queueDir, "pid/master.pid"), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${pid}`) ? pid : null;
  } catch {
    return null;
  }
}

async function waitForListener(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await canConnect("127.0.0.1", port);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Postfix did not listen on 127.0.0.1:${port} within ${timeoutMs} ms (see ${POSTFIX_LOG})`);
}

/** Stops whatever runs on the default queue and on postfix-out (idempotent). */
function stopAll(): void {
  if (masterPid(OUT_QUEUE) !== null) run("postfix", ["-c", OUT_ETC, "stop"], { allowFail: true });
  if (masterPid(QUEUE) !== null) run("postfix", ["-c", ETC, "stop"], { allowFail: true });
}

async function waitStopped(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((masterPid(QUEUE) !== null || masterPid(OUT_QUEUE) !== null) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function createPostfixPeer(options: { workDir: string; log: (line: string) => void }): PostfixPeer {
  const { log } = options;
  ensurePostfixInstalled(log);
  const version = run("postconf", ["-dh", "mail_version"]).trim();
  const backupDir = join(options.workDir, "etc-postfix-backup");
  mkdirSync(backupDir, { recursive: true });
  const wasRunning = masterPid(QUEUE) !== null;
  // Files carrying our marker are leftovers of an aborted run, not the host's: not worth keeping.
  const hostFile = (file: string) =>
    existsSync(join(ETC, file)) && !readText(join(ETC, file)).includes(MARKER);
  const hadMain = hostFile("main.cf");
  for (const file of ["main.cf", "master.cf"]) {
    if (hostFile(file)) copyFileSync(join(ETC, file), join(backupDir, file));
  }
  if (!hostFile("master.cf") && existsSync(join(ETC, "master.cf.proto"))) {
    copyFileSync(join(ETC, "master.cf.proto"), join(backupDir, "master.cf")); // Debian's pristine copy
  }
  stopAll();
  let pipelineReady = false;
  // A postfix-out that this harness did not write is the host's own: S2 then refuses to touch it.
  const foreignOut = existsSync(OUT_ETC) && !readText(join(OUT_ETC, "master.cf")).includes(MARKER);

  const setupPipelineOnce = () => {
    if (pipelineReady) return;
    if (foreignOut) throw new Error(`${OUT_ETC} exists and was not made by the benchmark: not touching it`);
    writeFileSync(join(ETC, "main.cf"), mainCf(mainSettings("postfix-in-bench.test", 25)));
    // postmulti -e init adds the multi_instance_* settings to the default instance's main.cf.
    run("postmulti", ["-e", "init"]);
    if (!existsSync(OUT_ETC)) run("postmulti", ["-I", OUT_NAME, "-G", "mta", "-e", "create"]);
    pipelineReady = true;
  };

  const startDefault = async (smtpdPort: number, nexthopPort: number, hostname: string, multi: boolean) => {
    // Written whole each run, so nothing from an earlier run (or S2's multi-instance keys) lingers.
    const settings = mainSettings(hostname, nexthopPort);
    if (multi) Object.assign(settings, MULTI_DEFAULT_INSTANCE);
    writeFileSync(join(ETC, "main.cf"), mainCf(settings));
    run("postsuper", ["-c", ETC, "-d", "ALL"], { allowFail: true });
    writeFileSync(join(ETC, "master.cf"), masterCf(smtpdPort, true));
    run("postfix", ["-c", ETC, "start"]);
    await waitForListener(smtpdPort, 15_000);
  };

  const stopped = async () => {
    stopAll();
    await waitStopped(15_000);
  };

  const relay: SetupFactory = async (sinkPort) => {
    await stopped();
    const port = await freePort();
    await startDefault(port, sinkPort, "postfix-bench.test", false);
    return running(port, () => [masterPid(QUEUE)], stopped);
  };

  const pipeline: SetupFactory = async (sinkPort) => {
    await stopped();
    setupPipelineOnce();
    const outPort = await freePort();
    run("postsuper", ["-c", OUT_ETC, "-d", "ALL"], { allowFail: true });
    // Distinct hostnames: Postfix refuses to relay to a server greeting with its own name (loop).
    // `postmulti -e create` sets master_service_disable = inet (a new instance starts without listeners).
    postconf(OUT_ETC, { ...mainSettings("postfix-out-bench.test", sinkPort), master_service_disable: "" });
    writeFileSync(join(OUT_ETC, "master.cf"), masterCf(outPort, false));
    run("postfix", ["-c", OUT_ETC, "start"]);
    await waitForListener(outPort, 15_000);
    const port = await freePort();
    await startDefault(port, outPort, "postfix-in-bench.test", true);
    return running(port, () => [masterPid(QUEUE), masterPid(OUT_QUEUE)], stopped);
  };

  return {
    version,
    relay,
    pipeline,
    restore() {
      stopAll();
      spawnSync("sleep", ["2"]);
      if (existsSync(OUT_ETC) && !foreignOut) {
        run("postsuper", ["-c", OUT_ETC, "-d", "ALL"], { allowFail: true });
        run("postmulti", ["-i", OUT_NAME, "-e", "disable"], { allowFail: true });
        run("postmulti", ["-i", OUT_NAME, "-e", "destroy"], { allowFail: true });
      }
      // postmulti cannot destroy an instance the default main.cf no longer lists (an aborted run).
      if (!foreignOut) {
        for (const dir of [OUT_ETC, OUT_QUEUE, "/var/lib/postfix-out"])
          rmSync(dir, { recursive: true, force: true });
      }
      run("postsuper", ["-c", ETC, "-d", "ALL"], { allowFail: true });
      for (const file of ["main.cf", "master.cf"]) {
        if (existsSync(join(backupDir, file))) copyFileSync(join(backupDir, file), join(ETC, file));
      }
      if (!hadMain) rmSync(join(ETC, "main.cf"), { force: true });
      if (!process.env.BENCH_KEEP) rmSync(POSTFIX_LOG, { force: true });
      if (wasRunning) run("postfix", ["start"], { allowFail: true });
    },
  };
}

function running(port: number, roots: () => (number | null)[], stop: () => Promise<void>): RunningSetup {
  const pids = () => roots().filter((p) => p !== null);
  const logFrom = logSize();
  return { port, pids, peakRssBytes: () => null, outcomes: () => logOutcomes(logFrom), stop };
}

function logSize(): number {
  try {
    return statSync(POSTFIX_LOG).size;
  } catch {
    return 0;
  }
}

/** status=sent/deferred/bounced counts in the Postfix log since byte `from`, per instance. */
function logOutcomes(from: number): Record<string, number> {
  const counts: Record<string, number> = {};
  let text = "";
  try {
    text = readFileSync(POSTFIX_LOG).subarray(from).toString("utf8");
  } catch {
    return counts;
  }
  for (const m of text.matchAll(/ (postfix(?:-out)?)\/smtp\[\d+\]: .* status=(\w+)/g)) {
    const key = `${m[1]}.${m[2]}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** For a failed run's report: the last lines of Postfix's log. */
export function postfixLogTail(lines = 20): string {
  try {
    return readFileSync(POSTFIX_LOG, "utf8").trim().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

export function postfixQueueSize(): string {
  return execFileSync("postqueue", ["-p"], { encoding: "utf8" }).trim().split("\n").at(-1) ?? "";
}
