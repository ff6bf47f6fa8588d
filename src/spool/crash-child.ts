/**
 * Child process for spool-crash.test.ts (not production code): opens the spool given as argv[2] and
 * stores, finishes and defers messages in a loop until it is killed. It prints one line per
 * operation whose promise resolved, so the parent knows what was acknowledged:
 *   S <id>   store resolved          D <id>   all recipients marked final
 *   P <id>   recipient 0 marked final
 * and "F <id>" just before it starts finishing a message (a RECIPIENTS_DONE record may become
 * durable even though the kill came before its promise resolved, so such a message may be gone).
 * Stdout to a pipe is synchronous on Linux, so a printed line was acknowledged before any kill.
 */
import { createSpool } from "./spool.ts";
import { checksummedBody, sampleMessage, silentLogger } from "./testing.ts";

const dir = process.argv[2];
if (dir === undefined) throw new Error("usage: crash-child.ts <spool-dir>");

const spool = createSpool({
  dir,
  logger: silentLogger,
  segmentSize: 256 * 1024,
  compactIntervalMs: 20,
  compaction: { liveRatio: 0.6 },
  deferralFlushMs: 10,
});
await spool.open();
process.stdout.write("ready\n");

async function worker(): Promise<void> {
  for (;;) {
    const stored = await spool.store(
      sampleMessage(2),
      checksummedBody(100 + Math.floor(Math.random() * 8000)),
    );
    process.stdout.write(`S ${stored.id}\n`);
    const dice = Math.random();
    if (dice < 0.4) {
      process.stdout.write(`F ${stored.id}\n`);
      await spool.markRecipients(stored.id, [
        { index: 0, state: "delivered" },
        { index: 1, state: "bounced" },
      ]);
      process.stdout.write(`D ${stored.id}\n`);
    } else if (dice < 0.6) {
      await spool.markRecipients(stored.id, [{ index: 0, state: "delivered" }]);
      process.stdout.write(`P ${stored.id}\n`);
      spool.recordDeferral(stored.id, { attempts: 1, nextAttemptAt: Date.now(), reasons: { 1: "451" } });
    }
  }
}

await Promise.all(Array.from({ length: 16 }, () => worker()));
