/**
 * Scenario: permanent failures come back to the sender as RFC 3464 delivery status
 * notifications, delivered like any other mail to the sender's domain's MX. One DSN per failed
 * message (listing every failed recipient), and none for the null sender or NOTIFY=NEVER.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, simpleMessage, sleep, startWorld, type World } from "../support/e2e-world.ts";
import { freePort } from "../support/ports.ts";
import { openSmtp } from "../support/smtp-dialog.ts";
import { type Sink, type SinkMessage, startSink } from "../support/smtp-sink.ts";

/** How long we wait to be sure that a DSN that should not come does not. */
const QUIET_MS = 2_500;

describe("bounce", () => {
  let rejecting: Sink;
  let senderMx: Sink;
  let world: World;

  before(async () => {
    const mxPort = await freePort();
    // Every RCPT to rejecting.test is refused permanently; sender.test's MX takes everything.
    rejecting = await startSink({
      host: "127.0.0.1",
      port: mxPort,
      flags: ["-f", "RCPT", "-B", "550 5.1.1 Recipient address rejected: User unknown"],
    });
    senderMx = await startSink({ host: "127.0.0.2", port: mxPort });
    world = await startWorld({
      mxPort,
      zone: {
        "rejecting.test": { mx: [{ preference: 10, exchange: "mx.rejecting.test" }] },
        "mx.rejecting.test": { a: ["127.0.0.1"] },
        "sender.test": { mx: [{ preference: 10, exchange: "mx.sender.test" }] },
        "mx.sender.test": { a: ["127.0.0.2"] },
      },
    });
  });

  after(async () => {
    await world?.close();
    await rejecting?.destroy();
    await senderMx?.destroy();
  });

  /** DSNs that reached the sender's MX and concern the message with this Subject. */
  async function dsnsFor(subject: string): Promise<SinkMessage[]> {
    return (await senderMx.messages()).filter((m) => m.content.includes(`Subject: ${subject}`));
  }

  /** Sends with a raw dialog (null sender, NOTIFY=...), returns the queue id. */
  async function sendRaw(mailFrom: string, rcptTo: string, subject: string): Promise<string> {
    const smtp = await openSmtp({ port: world.smtpPort });
    try {
      assert.equal((await smtp.command("EHLO client.test")).code, 250);
      const mail = await smtp.command(`MAIL FROM:${mailFrom}`);
      assert.equal(mail.code, 250, mail.raw);
      const rcpt = await smtp.command(`RCPT TO:${rcptTo}`);
      assert.equal(rcpt.code, 250, rcpt.raw);
      assert.equal((await smtp.command("DATA")).code, 354);
      const done = await smtp.sendRaw(
        `From: someone@sender.test\r\nSubject: ${subject}\r\n\r\nbody\r\n.\r\n`,
      );
      assert.equal(done.code, 250, done.raw);
      const id = /queued as ([0-9A-Z]+)/.exec(done.raw)?.[1];
      assert.ok(id, `no queue id in ${done.raw}`);
      return id;
    } finally {
      smtp.close();
    }
  }

  it("returns an RFC 3464 DSN to the sender's MX for a 5xx recipient", { timeout: 60_000 }, async () => {
    const sent = await world.send(
      "alice@sender.test",
      ["bob@rejecting.test"],
      simpleMessage({ from: "alice@sender.test", to: "bob@rejecting.test", subject: "one failure" }),
    );
    assert.equal(sent.code, 0, sent.stderr);
    const bounced = await world.mailfleet.waitForLog(/\bbounced\b.*to=<bob@rejecting\.test>/, 20_000);
    assert.ok(sent.queueId && bounced.includes(sent.queueId), bounced);

    const [dsn] = await eventually("the DSN at the sender's MX", async () => {
      const found = await dsnsFor("one failure");
      return found.length > 0 ? found : undefined;
    });
    assert.ok(dsn);
    assert.equal(dsn.mailArgs.split(" ")[0], "<>", "a DSN is sent from the null sender");
    assert.ok(
      dsn.rcptArgs.some((a) => a.startsWith("<alice@sender.test>")),
      `rcpt: ${dsn.rcptArgs}`,
    );
    const text = dsn.content;
    assert.match(text, /^Content-Type: multipart\/report;[\s\S]*?report-type="?delivery-status"?/im);
    assert.match(text, /^Content-Type: message\/delivery-status/im);
    assert.match(text, /^Final-Recipient: rfc822; ?bob@rejecting\.test$/im);
    assert.match(text, /^Action: failed$/im);
    assert.match(text, /^Status: 5\.\d{1,3}\.\d{1,3}$/im);
    assert.match(text, /^Diagnostic-Code: smtp; ?550 5\.1\.1 /im);
    assert.match(text, /^To: <?alice@sender\.test>?$/im);
  });

  it("sends one DSN listing both failed recipients of one message", { timeout: 60_000 }, async () => {
    const sent = await world.send(
      "alice@sender.test",
      ["carol@rejecting.test", "dave@rejecting.test"],
      simpleMessage({ from: "alice@sender.test", to: "carol@rejecting.test", subject: "two failures" }),
    );
    assert.equal(sent.code, 0, sent.stderr);
    await world.mailfleet.waitForLog(/\bbounced\b.*to=<carol@rejecting\.test>/, 20_000);
    await world.mailfleet.waitForLog(/\bbounced\b.*to=<dave@rejecting\.test>/, 20_000);
    await eventually("the DSN", async () => ((await dsnsFor("two failures")).length > 0 ? true : undefined));
    await sleep(QUIET_MS);
    const dsns = await dsnsFor("two failures");
    assert.equal(dsns.length, 1, "exactly one DSN for one message");
    const text = dsns[0]!.content;
    assert.match(text, /^Final-Recipient: rfc822; ?carol@rejecting\.test$/im);
    assert.match(text, /^Final-Recipient: rfc822; ?dave@rejecting\.test$/im);
    assert.equal(text.match(/^Action: failed$/gim)?.length, 2);
  });

  it("never bounces a message from the null sender", { timeout: 60_000 }, async () => {
    const id = await sendRaw("<>", "<frank@rejecting.test>", "null sender bounce");
    await world.mailfleet.waitForLog(new RegExp(`${id}.*\\bbounced\\b.*to=<frank@rejecting\\.test>`), 20_000);
    await sleep(QUIET_MS);
    const dsnLines = world.mailfleet.log.filter((l) => l.includes(id) && /\bdsn_queued\b/.test(l));
    assert.deepEqual(dsnLines, [], "no DSN may be queued for a null-sender message");
    assert.deepEqual(await dsnsFor("null sender bounce"), []);
    const queue = await world.mailq();
    assert.ok(!queue.messages.some((m) => m.id === id), "the bounced message left the queue");
  });

  it("sends no DSN for a recipient with NOTIFY=NEVER", { timeout: 60_000 }, async () => {
    const id = await sendRaw("<alice@sender.test>", "<grace@rejecting.test> NOTIFY=NEVER", "notify never");
    await world.mailfleet.waitForLog(new RegExp(`${id}.*\\bbounced\\b.*to=<grace@rejecting\\.test>`), 20_000);
    await sleep(QUIET_MS);
    const dsnLines = world.mailfleet.log.filter((l) => l.includes(id) && /\bdsn_queued\b/.test(l));
    assert.deepEqual(dsnLines, [], "NOTIFY=NEVER: no DSN");
    assert.deepEqual(await dsnsFor("notify never"), []);
  });
});
