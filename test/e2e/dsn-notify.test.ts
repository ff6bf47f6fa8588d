/**
 * Scenario: RFC 3461 NOTIFY=SUCCESS and NOTIFY=DELAY. A NOTIFY=SUCCESS recipient relayed to a
 * next hop that does not announce DSN (smtp-sink -N) gets a "relayed" DSN from us; one relayed
 * to a DSN-capable next hop gets none from us (the next hop took the duty over, and NOTIFY went
 * along). A NOTIFY=DELAY recipient that keeps being soft-rejected gets one delay warning after
 * bounce.delay_warning_after, and not another on later retries.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, sleep, startWorld, type World } from "../support/e2e-world.ts";
import { freePort } from "../support/ports.ts";
import { openSmtp } from "../support/smtp-dialog.ts";
import { type Sink, type SinkMessage, startSink } from "../support/smtp-sink.ts";

/** How long we wait to be sure that a DSN that should not come does not. */
const QUIET_MS = 2_500;

describe("dsn notify", () => {
  let noDsn: Sink;
  let withDsn: Sink;
  let grumpy: Sink;
  let senderMx: Sink;
  let world: World;

  before(async () => {
    const mxPort = await freePort();
    noDsn = await startSink({ host: "127.0.0.1", port: mxPort, flags: ["-N"] });
    senderMx = await startSink({ host: "127.0.0.2", port: mxPort });
    withDsn = await startSink({ host: "127.0.0.3", port: mxPort });
    grumpy = await startSink({
      host: "127.0.0.4",
      port: mxPort,
      flags: ["-r", "RCPT", "-b", "450 4.2.0 Mailbox busy, try later"],
    });
    world = await startWorld({
      mxPort,
      zone: {
        "nodsn.test": { mx: [{ preference: 10, exchange: "mx.nodsn.test" }] },
        "mx.nodsn.test": { a: ["127.0.0.1"] },
        "sender.test": { mx: [{ preference: 10, exchange: "mx.sender.test" }] },
        "mx.sender.test": { a: ["127.0.0.2"] },
        "dsn.test": { mx: [{ preference: 10, exchange: "mx.dsn.test" }] },
        "mx.dsn.test": { a: ["127.0.0.3"] },
        "slow.test": { mx: [{ preference: 10, exchange: "mx.slow.test" }] },
        "mx.slow.test": { a: ["127.0.0.4"] },
      },
      config: { bounce: { delay_warning_after: "2s" } },
    });
  });

  after(async () => {
    await world?.close();
    for (const sink of [noDsn, withDsn, grumpy, senderMx]) await sink?.destroy();
  });

  /** DSNs that reached the sender's MX and concern the message with this Subject. */
  async function dsnsFor(subject: string): Promise<SinkMessage[]> {
    return (await senderMx.messages()).filter((m) => m.content.includes(`Subject: ${subject}`));
  }

  /** Sends one message with a raw dialog (so RCPT can carry NOTIFY), returns its queue id. */
  async function sendRaw(rcptTo: string, subject: string): Promise<string> {
    const smtp = await openSmtp({ port: world.smtpPort });
    try {
      assert.equal((await smtp.command("EHLO client.test")).code, 250);
      const mail = await smtp.command("MAIL FROM:<alice@sender.test>");
      assert.equal(mail.code, 250, mail.raw);
      const rcpt = await smtp.command(`RCPT TO:${rcptTo}`);
      assert.equal(rcpt.code, 250, rcpt.raw);
      assert.equal((await smtp.command("DATA")).code, 354);
      const done = await smtp.sendRaw(
        `From: alice@sender.test\r\nSubject: ${subject}\r\n\r\nsecret body text\r\n.\r\n`,
      );
      assert.equal(done.code, 250, done.raw);
      const id = /queued as ([0-9A-Z]+)/.exec(done.raw)?.[1];
      assert.ok(id, `no queue id in ${done.raw}`);
      return id;
    } finally {
      smtp.close();
    }
  }

  const dsnLines = (id: string) =>
    world.mailfleet.log.filter((l) => l.includes(id) && /\bdsn_queued\b/.test(l));

  it("NOTIFY=SUCCESS to a next hop without DSN: we send a relayed DSN", { timeout: 60_000 }, async () => {
    const id = await sendRaw("<bob@nodsn.test> NOTIFY=SUCCESS", "success no dsn");
    await world.mailfleet.waitForLog(new RegExp(`${id} delivered to=<bob@nodsn\\.test>`), 20_000);
    const [dsn] = await eventually("the relayed DSN at the sender's MX", async () => {
      const found = await dsnsFor("success no dsn");
      return found.length > 0 ? found : undefined;
    });
    assert.ok(dsn);
    assert.equal(dsn.mailArgs.split(" ")[0], "<>", "a DSN is sent from the null sender");
    const text = dsn.content;
    assert.match(text, /^Subject: Successful Mail Delivery Report$/im);
    assert.match(text, /^Final-Recipient: rfc822; ?bob@nodsn\.test$/im);
    assert.match(text, /^Action: relayed$/im);
    assert.match(text, /^Status: 2\.0\.0$/im);
    assert.doesNotMatch(text, /secret body text/, "a success report returns the headers only");
    assert.equal(dsnLines(id).length, 1);
    assert.match(dsnLines(id)[0]!, /action=relayed/);
    await sleep(QUIET_MS);
    assert.equal((await dsnsFor("success no dsn")).length, 1, "exactly one success report");
  });

  it("NOTIFY=SUCCESS to a DSN-capable next hop: NOTIFY goes along, no DSN from us", {
    timeout: 60_000,
  }, async () => {
    const id = await sendRaw("<carol@dsn.test> NOTIFY=SUCCESS", "success with dsn");
    await world.mailfleet.waitForLog(new RegExp(`${id} delivered to=<carol@dsn\\.test>`), 20_000);
    const received = (await withDsn.messages()).filter((m) =>
      m.content.includes("Subject: success with dsn"),
    );
    assert.equal(received.length, 1);
    assert.ok(
      received[0]!.rcptArgs.some((a) => /NOTIFY=SUCCESS/i.test(a)),
      `NOTIFY passed on: ${received[0]!.rcptArgs}`,
    );
    await sleep(QUIET_MS);
    assert.deepEqual(dsnLines(id), [], "the next hop reports, we do not");
    assert.deepEqual(await dsnsFor("success with dsn"), []);
  });

  it("NOTIFY=DELAY: one delay DSN after delay_warning_after, not repeated", { timeout: 60_000 }, async () => {
    const id = await sendRaw("<dave@slow.test> NOTIFY=DELAY,FAILURE", "delay warning");
    const deferred = new RegExp(`${id} deferred to=<dave@slow\\.test>`);
    const [dsn] = await eventually("the delay DSN at the sender's MX", async () => {
      const found = await dsnsFor("delay warning");
      return found.length > 0 ? found : undefined;
    });
    assert.ok(dsn);
    const text = dsn.content;
    assert.match(text, /^Subject: Delayed Mail \(still being retried\)$/im);
    assert.match(text, /^Final-Recipient: rfc822; ?dave@slow\.test$/im);
    assert.match(text, /^Action: delayed$/im);
    assert.match(text, /^Status: 4\.2\.0$/im);
    assert.match(text, /^Will-Retry-Until: /im);
    assert.match(text, /^Diagnostic-Code: smtp; ?450 4\.2\.0 /im);
    // Several more retries (1 s apart) after the warning: still only the one.
    const before = world.mailfleet.log.filter((l) => deferred.test(l)).length;
    await world.mailfleet.waitForLogCount(deferred, before + 3, 20_000);
    assert.equal((await dsnsFor("delay warning")).length, 1, "exactly one delay DSN");
    assert.equal(dsnLines(id).length, 1);
    assert.match(dsnLines(id)[0]!, /action=delayed/);
    const queue = await world.mailq();
    assert.ok(
      queue.messages.some((m) => m.id === id),
      "the message is still queued for retries",
    );
  });
});
