/**
 * Crash safety: kill -9 the instance again and again while a few thousand messages are being
 * injected over 20 concurrent sessions. Every message that got its 250 must reach the sink at
 * least once and intact; duplicates are allowed (and counted), losses are not.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { type MailfleetProcess, startMailfleet, writeConfig } from "../support/mailfleet-process.ts";
import { freePort } from "../support/ports.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";
import { makeTestMessage, verifyReceived } from "../support/test-messages.ts";

const MESSAGES = 3000;
const SESSIONS = 20;
const KILLS = 6;
const LOAD_DEADLINE_MS = 240_000;

let dir = "";
let sink: Sink | null = null;
let instance: MailfleetProcess | null = null;

after(async () => {
  await instance?.kill9();
  await sink?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (sink?.dumpDir) await rm(sink.dumpDir, { recursive: true, force: true });
});

test("kill -9 during load loses no acknowledged message", { timeout: 420_000 }, async (t) => {
  dir = await mkdtemp(join(tmpdir(), "mailfleet-crash-"));
  sink = await startSink();
  const port = await freePort();
  const configPath = await writeConfig(
    dir,
    `hostname: crash.test
spool_dir: ${join(dir, "spool")}
listen: ["127.0.0.1:${port}"]
limits: { min_free_disk: 1MiB }
delivery: { allow_private_destinations: true }
transports:
  mx: { nexthop: "[127.0.0.1]:${sink.port}", retry_schedule: [1s], idle_timeout: 1s }
admin: { listen: null }
`,
  );
  instance = await startMailfleet(configPath);

  const acked = new Set<number>();
  let next = 0;
  let refused = 0;
  const loadDeadline = Date.now() + LOAD_DEADLINE_MS;

  // One injecting session: reconnects whenever the instance dies, and retries the message it
  // was sending (a message without a 250 may or may not be queued; both are fine).
  const session = async () => {
    let n = next++;
    while (n < MESSAGES && Date.now() < loadDeadline) {
      const conn = new SMTPConnection({ host: "127.0.0.1", port, ignoreTLS: true, socketTimeout: 10_000 });
      const connected = await new Promise<boolean>((resolve) => {
        conn.once("error", () => resolve(false));
        conn.connect(() => resolve(true));
      });
      if (!connected) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      conn.on("error", () => {});
      while (n < MESSAGES) {
        const m = makeTestMessage(n);
        const ok = await new Promise<boolean>((resolve) => {
          conn.send({ from: "load@source.test", to: ["sink@dest.test"] }, m.raw, (err) => resolve(!err));
        });
        if (!ok) {
          refused++;
          break;
        }
        acked.add(n);
        n = next++;
        // Reuse the connection like a real client, but not forever.
        if (n % 10 === 0) break;
      }
      conn.close();
    }
  };

  const load = Promise.all(Array.from({ length: SESSIONS }, session));
  let kills = 0;
  let loadDone = false;
  void load.then(() => {
    loadDone = true;
  });
  while (!loadDone && kills < KILLS) {
    await new Promise((r) => setTimeout(r, 500 + Math.random() * 1500));
    if (loadDone) break;
    await instance.kill9();
    kills++;
    instance = await startMailfleet(configPath);
  }
  await load;
  assert.equal(next >= MESSAGES, true, "the load finished within its deadline");

  // Let the last incarnation deliver everything that is queued.
  const deadline = Date.now() + 120_000;
  const seen = new Map<number, number>();
  let corrupt = 0;
  while (Date.now() < deadline) {
    seen.clear();
    corrupt = 0;
    for (const msg of await sink.messages()) {
      const v = verifyReceived(msg.content);
      if (!v?.intact) {
        corrupt++;
        continue;
      }
      seen.set(v.n, (seen.get(v.n) ?? 0) + 1);
    }
    if ([...acked].every((n) => seen.has(n))) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const missing = [...acked].filter((n) => !seen.has(n));
  const duplicated = [...seen.values()].filter((c) => c > 1).length;
  t.diagnostic(
    `kills=${kills} acked=${acked.size} delivered=${seen.size} duplicated=${duplicated} missing=${missing.length} corrupt=${corrupt} failedSends=${refused}`,
  );
  assert.equal(kills > 0, true, "the instance was killed at least once during the load");
  assert.equal(corrupt, 0, "no message arrived damaged");
  assert.deepEqual(missing.slice(0, 20), [], `${missing.length} acknowledged messages never arrived`);
});
