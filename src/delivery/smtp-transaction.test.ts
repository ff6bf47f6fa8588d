/**
 * Mail transactions against smtp-server receivers that answer per recipient: mixed
 * outcomes, refused MAIL, no DATA without recipients, 452 splitting, SMTPUTF8, connection reuse.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  connectorFixture,
  outcomeSummary,
  startReceiver,
  testJob,
  testSite,
  testTransport,
} from "./test-helpers.ts";

const { connector, opened, cleanups } = connectorFixture();
const kinds = outcomeSummary;

describe("smtp transaction", () => {
  it("gives each recipient its own outcome (250/450/550) and sends DATA for the accepted", async () => {
    const receiver = await startReceiver({
      onRcptTo(address, _session, callback) {
        if (address.address.startsWith("soft"))
          return callback(Object.assign(new Error("4.2.1 Mailbox busy"), { responseCode: 450 }));
        if (address.address.startsWith("hard"))
          return callback(Object.assign(new Error("5.1.1 User unknown"), { responseCode: 550 }));
        callback();
      },
    });
    cleanups.push(() => receiver.close());
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]])));
    const outcomes = await session.deliver(testJob(["ok@dest.test", "soft@dest.test", "hard@dest.test"]));
    assert.deepEqual(kinds(outcomes), [
      [0, "delivered", 250, null],
      [1, "deferred", 450, "recipient"],
      [2, "bounced", 550, "recipient"],
    ]);
    assert.equal(outcomes[2]?.reply.enhanced, "5.1.1");
    assert.deepEqual(
      receiver.messages.map((m) => m.to),
      [["ok@dest.test"]],
    );
  });

  it("bounces every recipient when MAIL FROM is refused (pipelined), with the null sender", async () => {
    const receiver = await startReceiver({
      onMailFrom(address, _session, callback) {
        if (address.address === "") return callback();
        callback(Object.assign(new Error("5.7.1 Sender refused"), { responseCode: 550 }));
      },
    });
    cleanups.push(() => receiver.close());
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]])));
    const refused = await session.deliver(testJob(["x@dest.test", "y@dest.test"]));
    assert.deepEqual(kinds(refused), [
      [0, "bounced", 550, "message"],
      [1, "bounced", 550, "message"],
    ]);
    assert.match(refused[0]!.reply.text, /Sender refused/);
    const bounce = await session.deliver(testJob(["x@dest.test"], { sender: "" }));
    assert.equal(bounce[0]?.kind, "delivered");
    assert.equal(receiver.messages[0]?.from, "");
  });

  it("sends no message when no recipient is accepted", async () => {
    const receiver = await startReceiver({
      onRcptTo(_address, _session, callback) {
        callback(Object.assign(new Error("5.1.1 User unknown"), { responseCode: 550 }));
      },
    });
    cleanups.push(() => receiver.close());
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]])));
    const outcomes = await session.deliver(testJob(["x@dest.test", "y@dest.test"]));
    assert.deepEqual(kinds(outcomes), [
      [0, "bounced", 550, "recipient"],
      [1, "bounced", 550, "recipient"],
    ]);
    assert.equal(receiver.messages.length, 0);
    assert.equal(session.usable, true);
    // The aborted transaction does not poison the next one.
    assert.equal((await session.deliver(testJob(["x@dest.test"])))[0]?.kind, "bounced");
  });

  it("sends recipients refused with 452 again in a second transaction", async () => {
    const receiver = await startReceiver({
      onRcptTo(_address, session, callback) {
        if (session.envelope.rcptTo.length >= 2) {
          return callback(Object.assign(new Error("4.5.3 Too many recipients"), { responseCode: 452 }));
        }
        callback();
      },
    });
    cleanups.push(() => receiver.close());
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]])));
    const rcpts = ["r1@dest.test", "r2@dest.test", "r3@dest.test", "r4@dest.test", "r5@dest.test"];
    const outcomes = await session.deliver(testJob(rcpts));
    assert.deepEqual(
      outcomes.map((o) => o.kind),
      ["delivered", "delivered", "delivered", "delivered", "delivered"],
    );
    assert.deepEqual(
      receiver.messages.map((m) => m.to),
      [rcpts.slice(0, 2), rcpts.slice(2, 4), rcpts.slice(4)],
    );
    assert.equal(receiver.connections, 1);
  });

  it("reuses one connection for several messages up to the per-connection limit", async () => {
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const transport = testTransport({ maxMessagesPerConnection: 3 });
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]], transport)));
    for (let i = 0; i < 3; i++) {
      assert.equal(session.usable, true);
      assert.equal((await session.deliver(testJob([`m${i}@dest.test`])))[0]?.kind, "delivered");
    }
    assert.equal(session.usable, false);
    assert.equal(receiver.messages.length, 3);
    assert.equal(receiver.connections, 1);
  });

  it("bounces non-ASCII addresses locally when the peer lacks SMTPUTF8", async () => {
    const plain = await startReceiver({ hideSMTPUTF8: true });
    cleanups.push(() => plain.close());
    const session = opened(await connector.open(testSite(plain.port, [["127.0.0.1"]])));
    const outcomes = await session.deliver(
      testJob(["ascii@dest.test", "josé@dest.test"], { smtpUtf8: true }),
    );
    assert.deepEqual(kinds(outcomes), [
      [0, "delivered", 250, null],
      [1, "bounced", 553, "recipient"],
    ]);
    assert.equal(outcomes[1]?.reply.enhanced, "5.6.7");
    const utf8 = await startReceiver();
    cleanups.push(() => utf8.close());
    const ok = opened(await connector.open(testSite(utf8.port, [["127.0.0.1"]])));
    const delivered = await ok.deliver(testJob(["josé@dest.test"], { smtpUtf8: true }));
    assert.equal(delivered[0]?.kind, "delivered");
    assert.deepEqual(utf8.messages[0]?.to, ["josé@dest.test"]);
  });

  it("tells whether the next hop announced DSN (who owes a NOTIFY=SUCCESS report)", async () => {
    const results: (boolean | undefined)[] = [];
    for (const hideDSN of [true, false]) {
      const receiver = await startReceiver({ hideDSN });
      cleanups.push(() => receiver.close());
      const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]])));
      const job = testJob(["s@dest.test"]);
      job.recipients[0]!.notify = ["SUCCESS"];
      const [outcome] = await session.deliver(job);
      assert.equal(outcome?.kind, "delivered");
      results.push(outcome?.kind === "delivered" ? outcome.peerSupportsDsn : undefined);
    }
    assert.deepEqual(results, [false, true]);
  });
});
