/**
 * The thread connector against a real SMTP receiver: sessions run in a real worker thread, the
 * outcomes and the VERP send notices come back as data, and a stopped thread fails what is
 * asked of it as deferred instead of hanging or throwing.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import pino from "pino";
import type { SendNotice } from "../feedback/return-path.ts";
import { findToken } from "../feedback/verp.ts";
import { openedSession, outcomeSummary, startReceiver, testJob, testSite } from "./test-helpers.ts";
import { createThreadConnector } from "./thread-connector.ts";
import { type ThreadSettings, verpForThread } from "./thread-protocol.ts";

const logger = pino({ level: "silent" });
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const settings: ThreadSettings = { logLevel: "error", logBindings: {}, dkim: null, verp: null };

describe("thread connector", () => {
  it("delivers through a session that lives in the delivery thread", async () => {
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const connector = createThreadConnector({ threads: 2, settings, logger });
    cleanups.push(() => connector.close());
    const session = openedSession(await connector.open(testSite(receiver.port, [["127.0.0.1"]])), cleanups);
    for (const n of [1, 2]) {
      const outcomes = await session.deliver(testJob([`r${n}@dest.test`]));
      assert.deepEqual(outcomeSummary(outcomes), [[0, "delivered", 250, null]]);
      const first = outcomes[0]!;
      assert.ok(first.kind === "delivered");
      assert.equal(first.relay.port, receiver.port);
    }
    assert.equal(session.usable, true);
    assert.equal(receiver.connections, 1, "both messages went over one connection");
    assert.deepEqual(
      receiver.messages.map((m) => m.to),
      [["r1@dest.test"], ["r2@dest.test"]],
    );
    assert.match(receiver.messages[0]!.body, /Hello\./);
  });

  it("keeps the rate delay between transactions of sessions to one site, however they arrive", async () => {
    const mailFromAt: number[] = [];
    const receiver = await startReceiver({
      onMailFrom(_address, _session, callback) {
        mailFromAt.push(performance.now());
        callback();
      },
    });
    cleanups.push(() => receiver.close());
    const connector = createThreadConnector({ threads: 2, settings, logger });
    cleanups.push(() => connector.close());
    const site = testSite(receiver.port, [["127.0.0.1"]]);
    const sessions = [
      openedSession(await connector.open(site), cleanups),
      openedSession(await connector.open(site), cleanups),
    ];
    // Four jobs handed over at once, as a busy scheduler thread might: 100 ms apart at the peer.
    await Promise.all(
      [0, 1, 2, 3].map((n) => sessions[n % 2]!.deliver(testJob([`p${n}@dest.test`]), { minGapMs: 100 })),
    );
    assert.equal(mailFromAt.length, 4);
    // Measured at the receiver, on this test's own event loop: a stall there can shorten one gap
    // by its length. Unpaced, these four go out within a few ms of each other.
    const gaps = mailFromAt.slice(1).map((at, i) => at - mailFromAt[i]!);
    const shown = `gaps ${gaps.map((g) => g.toFixed(0)).join(", ")} ms`;
    for (const gap of gaps) assert.ok(gap >= 60, shown);
    assert.ok(mailFromAt[3]! - mailFromAt[0]! >= 250, shown);
  });

  it("answers a failed open as data", async () => {
    const receiver = await startReceiver();
    const port = receiver.port;
    await receiver.close();
    const connector = createThreadConnector({ threads: 1, settings, logger });
    cleanups.push(() => connector.close());
    const opened = await connector.open(testSite(port, [["127.0.0.1"]]));
    assert.equal(opened.ok, false);
    assert.ok(!opened.ok && opened.reply.code >= 400);
  });

  it("VERP: the thread builds the return path and posts the send back", async () => {
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const notices: SendNotice[] = [];
    const verpSettings = { domain: "bounces.test", localPart: "b", secret: Buffer.from("s3cret") };
    const verp = verpForThread(verpSettings);
    const connector = createThreadConnector({
      threads: 1,
      settings: { ...settings, verp },
      logger,
      noteSend: (n) => notices.push(n),
    });
    cleanups.push(() => connector.close());
    const session = openedSession(await connector.open(testSite(receiver.port, [["127.0.0.1"]])), cleanups);
    const job = testJob(["one@dest.test"]);
    await session.deliver(job);
    const token = findToken(verpSettings, receiver.messages[0]!.from);
    assert.deepEqual(token, { queueId: job.id.toUpperCase(), recipientIndex: 0 });
    assert.equal(notices.length, 1);
    assert.equal(notices[0]!.queueId, job.id);
    assert.deepEqual(notices[0]!.recipients, [{ index: 0, address: "one@dest.test" }]);
    assert.equal(notices[0]!.sourceIp, "127.0.0.1");
  });

  it("after the threads stopped, a session defers instead of hanging", async () => {
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const connector = createThreadConnector({ threads: 1, settings, logger });
    const opened = await connector.open(testSite(receiver.port, [["127.0.0.1"]]));
    assert.ok(opened.ok);
    await connector.close();
    const outcomes = await opened.session.deliver(testJob(["late@dest.test"]));
    assert.deepEqual(outcomeSummary(outcomes), [[0, "deferred", 451, "destination"]]);
    assert.equal(opened.session.usable, false);
    await opened.session.close();
    const again = await connector.open(testSite(receiver.port, [["127.0.0.1"]]));
    assert.ok(!again.ok && again.reply.code === 451, "no new thread after close()");
  });
});
