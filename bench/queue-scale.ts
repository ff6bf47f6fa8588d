/**
 * S3, queue scale: how mailfleet behaves with a very large deferred queue. The spool is filled
 * through its own API (`createSpool`, the same code the listener uses) with N messages that were
 * "already tried and deferred" toward a destination that refuses connections, then `mailfleet
 * start` runs on it and we measure: time to the "listening on" line, time to the first 250 after
 * DATA from a probe client, memory once up, and the wall time of `mailfleet mailq --json`.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import type { NewMessage } from "../src/message/types.ts";
import { createSpool } from "../src/spool/spool.ts";
import { freePort } from "../test/support/ports.ts";
import { openSmtp } from "../test/support/smtp-dialog.ts";
import { repoRoot, startMailfleetProcess, writeMailfleetConfig } from "./mailfleet-peer.ts";
import { treeStatusBytes } from "./proc-stats.ts";

export interface CommandTiming {
  seconds: number;
  exitCode: number | null;
  stdoutBytes: number;
  stderr: string;
}

export interface QueueScaleResult {
  messages: number;
  fillSeconds: number;
  fillRate: number;
  spoolBytes: number;
  /** spawn -> "listening on" on stderr. */
  listeningSeconds: number | null;
  /** spawn -> first 250 reply to a probe's final dot. */
  firstAcceptSeconds: number | null;
  /** spawn -> the instance logged "queue recovered" (every old message back in the scheduler). */
  recoveredSeconds: number | null;
  /** Summed over the supervisor and its instance process. */
  rssAfterStartBytes: number | null;
  rssRecoveredBytes: number | null;
  peakRssBytes: number | null;
  /** `mailfleet queue summary` and `mailfleet mailq -n 100`, once the queue is recovered. */
  summary: CommandTiming | null;
  mailq: CommandTiming | null;
  stopSeconds: number | null;
  error: string | null;
}

const BODY = Buffer.from(
  [
    "Received: from client.example (localhost [127.0.0.1])",
    "From: <bench@source.example>",
    "To: <rcpt@sink.example>",
    "Subject: queue scale",
    "Message-ID: <queue-scale@source.example>",
    "",
    ...Array.from({ length: 64 }, () => "X".repeat(62)),
    "",
  ].join("\r\n"),
);

/** Fills `spoolDir` with `count` deferred messages; returns seconds taken. Bounded by `timeoutMs`. */
async function fillSpool(spoolDir: string, count: number, timeoutMs: number, log: (l: string) => void) {
  const spool = createSpool({ dir: spoolDir, logger: pino({ level: "warn" }), compactIntervalMs: 0 });
  await spool.open();
  const started = performance.now();
  const deadline = Date.now() + timeoutMs;
  const retryAt = Date.now() + 24 * 3600_000; // not due during the benchmark
  let stored = 0;
  let issued = 0;
  const worker = async () => {
    while (issued < count && Date.now() < deadline) {
      issued++;
      const message: NewMessage = {
        sender: "bench@source.example",
        recipients: [{ address: "rcpt@sink.example", dsn: { notify: null, orcpt: null } }],
        dsn: { ret: null, envid: null },
        bodyType: "7BIT",
        smtpUtf8: false,
        clientAddress: "127.0.0.1",
        clientHelo: "client.example",
        arrivedAt: Date.now(),
        isBounce: false,
        tenant: null,
      };
      const queued = await spool.store(message, BODY);
      spool.recordDeferral(queued.id, {
        attempts: 1,
        nextAttemptAt: retryAt,
        reasons: { 0: "4.4.1 connect to 127.0.0.1: Connection refused" },
      });
      stored++;
      if (stored % 100_000 === 0) log(`  S3 fill: ${stored}/${count}`);
    }
  };
  await Promise.all(Array.from({ length: 256 }, worker));
  const seconds = (performance.now() - started) / 1000;
  await spool.close();
  return { stored, seconds };
}

/** Repeats a full SMTP transaction every 100 ms until one gets 250 after DATA; resolves with when. */
async function firstAccept(port: number, until: () => boolean): Promise<number | null> {
  while (!until()) {
    try {
      const s = await openSmtp({ port, timeoutMs: 30_000 });
      try {
        const steps = [
          "EHLO probe.example",
          "MAIL FROM:<probe@source.example>",
          "RCPT TO:<rcpt@sink.example>",
        ];
        let ok = s.greeting.code === 220;
        for (const step of steps) if (ok) ok = (await s.command(step)).code === 250;
        if (ok && (await s.command("DATA")).code === 354) {
          const reply = await s.sendRaw("Subject: probe\r\n\r\nprobe\r\n.\r\n");
          if (reply.code === 250) return performance.now();
        }
      } finally {
        s.close();
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

/** Runs `mailfleet ARGS -c config` with stdout to `outPath`; how long it took and how it ended. */
function runCli(
  args: string[],
  configPath: string,
  outPath: string,
  timeoutMs: number,
): Promise<CommandTiming> {
  return new Promise((resolve) => {
    const fd = openSync(outPath, "w");
    const started = performance.now();
    const child = spawn(process.execPath, ["bin/mailfleet.js", ...args, "-c", configPath], {
      cwd: repoRoot,
      stdio: ["ignore", fd, "pipe"],
    });
    closeSync(fd);
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({
        seconds: (performance.now() - started) / 1000,
        exitCode: code ?? (signal ? -1 : null),
        stdoutBytes: statSync(outPath).size,
        stderr,
      });
    });
  });
}

/** Polls the instance's stderr until it logs that the whole queue is back; null on timeout. */
async function recovered(stderrTail: (chars?: number) => string, timeoutMs: number): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stderrTail(1_000_000).includes('"msg":"queue recovered"')) return performance.now();
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

function duBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += statSync(join(e.parentPath, e.name)).size;
  }
  return total;
}

export async function runQueueScale(options: {
  workDir: string;
  messages: number;
  log: (line: string) => void;
}): Promise<QueueScaleResult> {
  const dir = join(options.workDir, "queue-scale");
  const result: QueueScaleResult = {
    messages: 0,
    fillSeconds: 0,
    fillRate: 0,
    spoolBytes: 0,
    listeningSeconds: null,
    firstAcceptSeconds: null,
    recoveredSeconds: null,
    rssAfterStartBytes: null,
    rssRecoveredBytes: null,
    peakRssBytes: null,
    summary: null,
    mailq: null,
    stopSeconds: null,
    error: null,
  };
  try {
    const refusingPort = await freePort(); // nothing listens there: every attempt is deferred
    const port = await freePort();
    const adminPort = await freePort();
    const config = writeMailfleetConfig({
      dir,
      port,
      nexthopPort: refusingPort,
      bindAddress: null,
      adminPort,
    });
    options.log(`S3: filling the spool with ${options.messages} messages through createSpool()`);
    const fill = await fillSpool(join(dir, "spool"), options.messages, 3600_000, options.log);
    result.messages = fill.stored;
    result.fillSeconds = fill.seconds;
    result.fillRate = fill.stored / fill.seconds;
    result.spoolBytes = duBytes(join(dir, "spool"));
    options.log(`S3: filled ${fill.stored} in ${fill.seconds.toFixed(1)} s; starting mailfleet on it`);

    let gaveUp = false;
    const spawnAt = performance.now();
    const probe = firstAccept(port, () => gaveUp || performance.now() - spawnAt > 900_000);
    const mf = await startMailfleetProcess(config, dir, 900_000).catch((err: unknown) => {
      gaveUp = true;
      throw err;
    });
    try {
      result.listeningSeconds = (mf.listeningAt - mf.spawnedAt) / 1000;
      void mf.died.then(() => {
        gaveUp = true;
      });
      const accepted = await probe;
      result.firstAcceptSeconds = accepted === null ? null : (accepted - mf.spawnedAt) / 1000;
      const treeBytes = (field: "VmRSS" | "VmHWM") => treeStatusBytes([mf.pid], field);
      result.rssAfterStartBytes = treeBytes("VmRSS");
      const back = await recovered(mf.stderrTail, 900_000);
      result.recoveredSeconds = back === null ? null : (back - mf.spawnedAt) / 1000;
      result.rssRecoveredBytes = treeBytes("VmRSS");
      options.log("S3: running mailfleet queue summary and mailfleet mailq -n 100");
      result.summary = await runCli(["queue", "summary"], config, join(dir, "summary.txt"), 600_000);
      result.mailq = await runCli(["mailq", "-n", "100"], config, join(dir, "mailq.txt"), 600_000);
      result.peakRssBytes = treeBytes("VmHWM");
      const stopAt = performance.now();
      await mf.stop();
      result.stopSeconds = (performance.now() - stopAt) / 1000;
    } finally {
      gaveUp = true;
      await mf.stop();
    }
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
  } finally {
    if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
  }
  return result;
}
