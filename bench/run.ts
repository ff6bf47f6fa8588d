/**
 * `npm run bench`: mailfleet vs Postfix vs the direct path (smtp-source -> smtp-sink), measured
 * side by side in one run on this machine, everything on loopback. Not a test: nothing asserts a
 * time; it prints ratios and writes bench/results/<date>.json and .md.
 *
 * Scenarios: S1 relay, S2 two-instance pipeline, S3 queue scale (mailfleet only), S4 fan-out
 * across pools (mailfleet only; one run, BENCH_MSGS messages over 50 domains).
 * Environment:
 *   BENCH_QUICK=1        smoke run: 2,000 messages per relay run, 50,000 for S3
 *   BENCH_MSGS=N         messages per S1/S2 run (default 20,000)
 *   BENCH_QUEUE_MSGS=N   messages in the S3 spool (default 1,000,000)
 *   BENCH_REPS=N         repetitions per setup (default 3)
 *   BENCH_ONLY=S1,S3     run only these scenarios
 *   BENCH_KEEP=1         keep the work directory, spools and the Postfix log
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { directSetup } from "./direct.ts";
import { FANOUT_POSTFIX_NA, fanoutMarkdown, runFanout } from "./fanout.ts";
import { machineFacts } from "./machine.ts";
import { createMailfleetPeer } from "./mailfleet-peer.ts";
import { measureRun, type SetupFactory } from "./measure.ts";
import { createPostfixPeer, type PostfixPeer, postfixLogTail } from "./postfix-peer.ts";
import { processTree } from "./proc-stats.ts";
import { runQueueScale } from "./queue-scale.ts";
import {
  type BenchReport,
  queueScaleMarkdown,
  ratios,
  type ScenarioRuns,
  type SetupName,
  scenarioMarkdown,
  summarize,
  writeResults,
} from "./report.ts";

const repoRoot = resolve(import.meta.dirname, "..");

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw.replace(/_/g, ""));
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

const quick = process.env.BENCH_QUICK === "1";
const messages = envInt("BENCH_MSGS", quick ? 2_000 : 20_000);
const queueMessages = envInt("BENCH_QUEUE_MSGS", quick ? 50_000 : 1_000_000);
const reps = envInt("BENCH_REPS", 3);
const only = new Set((process.env.BENCH_ONLY ?? "S1,S2,S3,S4").split(",").map((s) => s.trim().toUpperCase()));

const log = (line: string) => console.log(line);
const workDir = mkdtempSync(join(tmpdir(), "mailfleet-bench-"));
let postfix: PostfixPeer | null = null;
let cleanedUp = false;

function cleanup(): void {
  if (cleanedUp) return;
  cleanedUp = true;
  // Children we started (mailfleet, smtp-sink, smtp-source), by pid; Postfix daemonizes: restore() stops it.
  for (const pid of processTree([process.pid])) {
    if (pid !== process.pid) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }
  try {
    postfix?.restore();
  } catch (err) {
    console.error(`could not restore Postfix: ${(err as Error).message}`);
  }
  if (!process.env.BENCH_KEEP) rmSync(workDir, { recursive: true, force: true });
  else log(`kept ${workDir}`);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    cleanup();
    process.exit(130);
  });
}

function describe(r: Awaited<ReturnType<typeof measureRun>>): string {
  const n = (x: number | null, d = 0) => (x === null ? "–" : x.toFixed(d));
  return `inject ${n(r.injectRate)}/s, e2e ${n(r.e2eRate)}/s, CPU ${n(r.cpuSecondsPer1000, 2)} s/1k, peak ${n(r.peakRssBytes === null ? null : r.peakRssBytes / 2 ** 20)} MiB${r.error ? `, ERROR ${r.error.split("\n")[0]}` : ""}`;
}

async function scenario(
  id: string,
  title: string,
  setups: Partial<Record<SetupName, SetupFactory>>,
  skipped: Partial<Record<SetupName, string>>,
): Promise<ScenarioRuns> {
  const runs: ScenarioRuns = { id, title, messages, runs: [], skipped };
  const order: SetupName[] = ["mailfleet", "postfix", "direct"];
  for (let rep = 1; rep <= reps; rep++) {
    for (const setup of order) {
      const factory = setups[setup];
      if (!factory) continue;
      try {
        const result = await measureRun(factory, messages);
        if (result.error && setup === "postfix") result.error += `\nPostfix log tail:\n${postfixLogTail(10)}`;
        runs.runs.push({ setup, rep, result, error: null });
        log(`${id} rep ${rep} ${setup.padEnd(9)} ${describe(result)}`);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        runs.runs.push({ setup, rep, result: null, error: message });
        log(`${id} rep ${rep} ${setup.padEnd(9)} FAILED: ${message.split("\n").slice(0, 6).join(" | ")}`);
      }
    }
  }
  return runs;
}

async function main(): Promise<void> {
  log(
    `mailfleet bench: ${messages} messages per run, ${reps} repetitions, S3 ${queueMessages} messages${quick ? " (quick)" : ""}`,
  );
  log(`work dir ${workDir}`);
  const tools = spawnSync(process.execPath, [join(repoRoot, "test/support/ensure-tools.ts")], {
    stdio: "inherit",
  });
  if (tools.status !== 0)
    throw new Error("could not unpack smtp-source/smtp-sink (test/support/ensure-tools.ts)");

  let postfixSkip: string | null = null;
  try {
    postfix = createPostfixPeer({ workDir, log });
  } catch (err) {
    postfixSkip = `Postfix unavailable: ${(err as Error).message}`;
    log(postfixSkip);
  }
  const mailfleet = createMailfleetPeer({ workDir });
  const machine = machineFacts(workDir, postfix?.version ?? null);
  const report: BenchReport = {
    date: new Date().toISOString().slice(0, 10),
    quick,
    selection: process.env.BENCH_ONLY ? [...only].sort() : null,
    repetitions: reps,
    machine,
    scenarios: [],
    queueScale: { skipped: "not selected (BENCH_ONLY)" },
    fanout: { skipped: "not selected (BENCH_ONLY)" },
    notes: [
      "Load: smtp-source -s 20 -m N -l 4096 -f bench@source.example -t rcpt@sink.example -M client.example (a new connection per message).",
      "Sink: smtp-sink -u nobody -c -m 1024 127.0.0.1:PORT 1024, a fresh one per run.",
      "Postfix: configured as in bench/README.md (Postfix as the peer); each run starts from an empty queue and Postfix is stopped after it.",
      "mailfleet: a fresh spool per run; transport concurrency 50, max_messages_per_connection 1000, bind 127.0.0.2.",
    ],
  };
  const skip = (s: string | null): Partial<Record<SetupName, string>> => (s ? { postfix: s } : {});

  if (only.has("S1")) {
    const runs = await scenario(
      "S1",
      "relay: smtp-source → MTA → smtp-sink",
      { mailfleet: mailfleet.relay, direct: directSetup, ...(postfix ? { postfix: postfix.relay } : {}) },
      skip(postfixSkip),
    );
    const summary = summarize(runs);
    report.scenarios.push({ runs, summary, ratios: ratios(summary) });
  }
  if (only.has("S2")) {
    const runs = await scenario(
      "S2",
      "pipeline: smtp-source → input instance → output instance → smtp-sink",
      {
        mailfleet: mailfleet.pipeline,
        direct: directSetup,
        ...(postfix ? { postfix: postfix.pipeline } : {}),
      },
      skip(postfixSkip),
    );
    const summary = summarize(runs);
    report.scenarios.push({ runs, summary, ratios: ratios(summary) });
  }
  if (only.has("S3")) {
    report.queueScale = await runQueueScale({ workDir, messages: queueMessages, log });
  }
  if (only.has("S4")) {
    const fanout = await runFanout({ workDir, messages, postfix: FANOUT_POSTFIX_NA });
    report.fanout = fanout;
    const limits =
      fanout.violations.length === 0 ? "limits: ok" : `limits: ${fanout.violations.length} VIOLATIONS`;
    log(
      `S4 mailfleet inject ${fanout.injectRate.toFixed(0)}/s, e2e ${fanout.e2eRate?.toFixed(0) ?? "–"}/s, ${limits}${fanout.error ? `, ERROR ${fanout.error.split("\n")[0]}` : ""}`,
    );
  }

  const written = writeResults(join(repoRoot, "bench/results"), report);
  console.log(`\n${report.scenarios.map(scenarioMarkdown).join("\n\n")}`);
  console.log(`\n${queueScaleMarkdown(report.queueScale)}\n\n${fanoutMarkdown(report.fanout)}\n`);
  log(`results: ${written.json}, ${written.md}`);
}

try {
  await main();
} catch (err) {
  console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
} finally {
  cleanup();
}
