/**
 * Scenario: outbound protocol hardening, checked on the bytes next hops receive from a real
 * mailfleet. One 8-bit message goes to a peer with 8BITMIME (byte for byte after our Received
 * header, BODY=8BITMIME) and to one without it (downgraded to quoted-printable, no BODY=),
 * dot-stuffed and CRLF-only on both wires. An 8-bit message that cannot be converted bounces
 * with 5.6.3, SMTPUTF8 mail with UTF-8 header fields bounces with 5.6.7 at the peer without
 * SMTPUTF8 and goes with the SMTPUTF8 parameter to the one with it; the sender gets the DSNs.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, startWorld, type World } from "../support/e2e-world.ts";
import { freePort } from "../support/ports.ts";
import {
  type RawPeer,
  type RawTransaction,
  startRawPeer,
  strayLineEnds,
  unstuff,
} from "../support/raw-smtp-peer.ts";
import { openSmtp } from "../support/smtp-dialog.ts";

/** Raw bytes of a message, written with CRLF line ends. */
const message = (...parts: (string | Buffer)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : p)));

/** `text` dot-stuffed and terminated for DATA, as a client sends it. */
const asData = (raw: Buffer) =>
  Buffer.concat([
    Buffer.from(raw.toString("latin1").replace(/(^|\r\n)\./g, "$1.."), "latin1"),
    Buffer.from(".\r\n"),
  ]);

const has8bit = (data: Buffer) => data.some((b) => b > 0x7f);

/** The transactions a peer got for the message with this subject marker. */
const carrying = (peer: RawPeer, marker: string): RawTransaction[] =>
  peer.transactions.filter((t) => t.data.includes(marker));

describe("outbound hardening", () => {
  let legacy: RawPeer;
  let modern: RawPeer;
  let senderMx: RawPeer;
  let world: World;

  before(async () => {
    const mxPort = await freePort();
    // A next hop from before RFC 6152: no 8BITMIME, no SMTPUTF8.
    legacy = await startRawPeer({ host: "127.0.0.1", port: mxPort, extensions: ["ENHANCEDSTATUSCODES"] });
    modern = await startRawPeer({ host: "127.0.0.2", port: mxPort, extensions: ["8BITMIME", "SMTPUTF8"] });
    senderMx = await startRawPeer({ host: "127.0.0.3", port: mxPort, extensions: ["8BITMIME", "SMTPUTF8"] });
    world = await startWorld({
      mxPort,
      zone: {
        "legacy.test": { mx: [{ preference: 10, exchange: "mx.legacy.test" }] },
        "mx.legacy.test": { a: ["127.0.0.1"] },
        "modern.test": { mx: [{ preference: 10, exchange: "mx.modern.test" }] },
        "mx.modern.test": { a: ["127.0.0.2"] },
        "sender.test": { mx: [{ preference: 10, exchange: "mx.sender.test" }] },
        "mx.sender.test": { a: ["127.0.0.3"] },
      },
    });
  });

  after(async () => {
    await world?.close();
    for (const peer of [legacy, modern, senderMx]) await peer?.close();
  });

  /** Submits one message over SMTP with the given MAIL parameters; returns its queue id. */
  async function submit(mailParams: string, rcpts: string[], raw: Buffer): Promise<string> {
    const smtp = await openSmtp({ port: world.smtpPort });
    try {
      assert.equal((await smtp.command("EHLO client.test")).code, 250);
      const mail = await smtp.command(`MAIL FROM:<alice@sender.test>${mailParams}`);
      assert.equal(mail.code, 250, mail.raw);
      for (const rcpt of rcpts) {
        const reply = await smtp.command(`RCPT TO:<${rcpt}>`);
        assert.equal(reply.code, 250, reply.raw);
      }
      assert.equal((await smtp.command("DATA")).code, 354);
      const done = await smtp.sendRaw(asData(raw));
      assert.equal(done.code, 250, done.raw);
      const id = /queued as ([0-9A-Z]+)/.exec(done.raw)?.[1];
      assert.ok(id, `no queue id in ${done.raw}`);
      return id;
    } finally {
      smtp.close();
    }
  }

  /** The DSN the sender's MX got about the message with this marker in its headers. */
  const dsnAbout = (marker: string) =>
    eventually(`the DSN about ${marker}`, () => {
      const found = senderMx.transactions.find(
        (t) => t.mail.startsWith("MAIL FROM:<>") && t.data.includes(marker),
      );
      return found ? unstuff(found.data).toString("utf8") : undefined;
    });

  it("downgrades for the peer without 8BITMIME, sends the stored bytes to the one with it", {
    timeout: 60_000,
  }, async () => {
    const original = message(
      "From: alice@sender.test\r\nTo: bob@legacy.test, carol@modern.test\r\n",
      "Subject: eight-bit-mixed\r\nMIME-Version: 1.0\r\n",
      'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n',
      "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
      ".Gr\u00fc\u00dfe aus K\u00f6ln\r\n.\r\n..two dots\r\n",
      "--b1\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<p>ascii</p>\r\n--b1--\r\n",
    );
    const id = await submit(" BODY=8BITMIME", ["bob@legacy.test", "carol@modern.test"], original);
    await world.mailfleet.waitForLog(new RegExp(`${id} delivered to=<bob@legacy\\.test>`), 20_000);
    await world.mailfleet.waitForLog(new RegExp(`${id} delivered to=<carol@modern\\.test>`), 20_000);

    const [toModern] = carrying(modern, "eight-bit-mixed");
    assert.ok(toModern);
    assert.match(toModern.mail, /^MAIL FROM:<alice@sender\.test> BODY=8BITMIME( SIZE=\d+)?$/);
    assert.deepEqual(strayLineEnds(toModern.data), []);
    const atModern = unstuff(toModern.data);
    assert.ok(
      atModern.subarray(atModern.length - original.length).equals(original),
      "stored bytes, unchanged",
    );
    assert.match(atModern.subarray(0, atModern.length - original.length).toString(), /^Received: /);
    assert.ok(
      toModern.data.includes("\r\n..Gr\u00fc\u00dfe aus K\u00f6ln\r\n..\r\n...two dots\r\n"),
      "dot-stuffed",
    );

    const [toLegacy] = carrying(legacy, "eight-bit-mixed");
    assert.ok(toLegacy);
    assert.equal(toLegacy.mail, "MAIL FROM:<alice@sender.test>", "no BODY=8BITMIME to a peer without it");
    assert.equal(has8bit(toLegacy.data), false, "7-bit clean");
    assert.deepEqual(strayLineEnds(toLegacy.data), []);
    const atLegacy = unstuff(toLegacy.data).toString("latin1");
    const converted = original
      .toString("utf8")
      .replace("Content-Transfer-Encoding: 8bit", "Content-Transfer-Encoding: quoted-printable")
      .replace(".Gr\u00fc\u00dfe aus K\u00f6ln", ".Gr=C3=BC=C3=9Fe aus K=C3=B6ln");
    assert.ok(atLegacy.endsWith(converted), `converted part only:\n${atLegacy}`);
    assert.ok(toLegacy.data.includes("\r\n..Gr=C3=BC=C3=9Fe aus K=C3=B6ln\r\n..\r\n...two dots\r\n"));
  });

  it("bounces with 5.6.3 an 8-bit message that cannot be converted, and tells the sender", {
    timeout: 60_000,
  }, async () => {
    // Raw 8-bit bytes in a header of mail that is not SMTPUTF8: no transfer encoding applies.
    const raw = message("From: alice@sender.test\r\nSubject: unconvertible r\u00e9sum\u00e9\r\n\r\nbody\r\n");
    const id = await submit(" BODY=8BITMIME", ["dave@legacy.test"], raw);
    const line = await world.mailfleet.waitForLog(
      new RegExp(`${id} bounced to=<dave@legacy\\.test>`),
      20_000,
    );
    assert.match(
      line,
      / dsn=5\.6\.3 status="554 5\.6\.3 Conversion required and prohibited: mx\.legacy\.test/,
    );
    const dsn = await dsnAbout("unconvertible");
    assert.match(dsn, /^Action: failed$/m);
    assert.match(dsn, /^Status: 5\.6\.3$/m);
    assert.equal(carrying(legacy, "unconvertible").length, 0, "the peer never saw it");
  });

  it("bounces SMTPUTF8 mail with 5.6.7 at a peer without SMTPUTF8, sends it with SMTPUTF8 to one with it", {
    timeout: 60_000,
  }, async () => {
    const raw = message(
      "From: alice@sender.test\r\nTo: erin@legacy.test, frank@modern.test\r\n",
      "Subject: utf8-headers \u00e9t\u00e9 \u2603\r\n\r\nbody\r\n",
    );
    const id = await submit(" SMTPUTF8 BODY=8BITMIME", ["erin@legacy.test", "frank@modern.test"], raw);
    const bounced = await world.mailfleet.waitForLog(
      new RegExp(`${id} bounced to=<erin@legacy\\.test>`),
      20_000,
    );
    assert.match(
      bounced,
      / dsn=5\.6\.7 status="550 5\.6\.7 SMTPUTF8 is required for the UTF-8 header fields/,
    );
    await world.mailfleet.waitForLog(new RegExp(`${id} delivered to=<frank@modern\\.test>`), 20_000);
    const [toModern] = carrying(modern, "utf8-headers");
    assert.ok(toModern);
    assert.match(toModern.mail, /^MAIL FROM:<alice@sender\.test> BODY=8BITMIME SMTPUTF8$/);
    assert.ok(unstuff(toModern.data).subarray(-raw.length).equals(raw));
    assert.equal(carrying(legacy, "utf8-headers").length, 0, "nothing reached the peer without SMTPUTF8");
    const dsn = await dsnAbout("utf8-headers");
    assert.match(dsn, /^Status: 5\.6\.7$/m);
    assert.match(dsn, /^Final-Recipient: rfc822; ?erin@legacy\.test$/m);
  });

  it("bounces only the non-ASCII recipient (553 5.6.7) when the rest of the mail is ASCII", {
    timeout: 60_000,
  }, async () => {
    const raw = message(
      "From: alice@sender.test\r\nTo: undisclosed-recipients:;\r\nSubject: ascii-envelope-mix\r\n\r\nhi\r\n",
    );
    const id = await submit(" SMTPUTF8", ["jos\u00e9@legacy.test", "gina@legacy.test"], raw);
    const bounced = await world.mailfleet.waitForLog(
      new RegExp(`${id} bounced to=<jos\u00e9@legacy\\.test>`),
      20_000,
    );
    assert.match(bounced, / dsn=5\.6\.7 status="553 5\.6\.7 SMTPUTF8 is required for the non-ASCII address/);
    await world.mailfleet.waitForLog(new RegExp(`${id} delivered to=<gina@legacy\\.test>`), 20_000);
    const [toLegacy] = carrying(legacy, "ascii-envelope-mix");
    assert.ok(toLegacy);
    assert.equal(toLegacy.mail, "MAIL FROM:<alice@sender.test>", "no SMTPUTF8 to a peer without it");
    assert.deepEqual(toLegacy.rcpts, ["RCPT TO:<gina@legacy.test>"]);
  });
});
