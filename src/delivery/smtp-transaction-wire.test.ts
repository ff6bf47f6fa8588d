/**
 * What the transaction puts on the wire, recorded byte for byte by a raw loopback peer:
 * dot-stuffing, CRLF-only line ends (bare CR/LF and a missing final line end repaired, the
 * smuggling sequences defused), the stored body unchanged for an 8BITMIME peer, a
 * quoted-printable downgrade or a 5.6.3 refusal for one without, and the SMTPUTF8 parameter
 * or a 5.6.7 refusal.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type RawPeer, startRawPeer, strayLineEnds, unstuff } from "../../test/support/raw-smtp-peer.ts";
import { hasEightBit } from "./downgrade-8bit.ts";
import { connectorFixture, outcomeSummary, testJob, testSite } from "./test-helpers.ts";

const { connector, opened, cleanups } = connectorFixture();

async function peerWith(extensions: string[]): Promise<RawPeer> {
  const peer = await startRawPeer({ extensions });
  cleanups.push(() => peer.close());
  return peer;
}

async function sessionTo(peer: RawPeer) {
  return opened(await connector.open(testSite(peer.port, [[peer.host]])));
}

/** Every byte the client sent on every connection, commands and data. */
function allSent(peer: RawPeer): Buffer {
  return Buffer.concat(peer.connections.flat());
}

const headers = "From: sender@origin.test\r\nSubject: wire\r\n\r\n";

const multipart8bit = Buffer.concat([
  Buffer.from(
    'From: sender@origin.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="alt"\r\n',
  ),
  Buffer.from("DKIM-Signature: v=1; a=rsa-sha256; d=origin.test; s=s; bh=x; b=y\r\n\r\n"),
  Buffer.from("--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"),
  Buffer.from(".Gr\u00fc\u00dfe aus K\u00f6ln\r\n", "utf8"),
  Buffer.from("--alt\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<p>ascii</p>\r\n--alt--\r\n"),
]);

describe("smtp transaction on the wire", () => {
  it("dot-stuffs every line that starts with a dot", async () => {
    const peer = await peerWith(["8BITMIME"]);
    const session = await sessionTo(peer);
    const body = `${headers}.starts with a dot\r\n..two dots\r\n.\r\nmiddle\r\n.`;
    const outcomes = await session.deliver(testJob(["a@dest.test"], { body: Buffer.from(body) }));
    assert.deepEqual(outcomeSummary(outcomes), [[0, "delivered", 250, null]]);
    const [tx] = await peer.waitForTransactions(1);
    assert.equal(
      tx!.data.toString(),
      `${headers}..starts with a dot\r\n...two dots\r\n..\r\nmiddle\r\n..\r\n.\r\n`,
    );
  });

  it("puts only CRLF on the wire: bare LF and CR become CRLF, a missing final one is added", async () => {
    const peer = await peerWith(["8BITMIME"]);
    const session = await sessionTo(peer);
    const body = `${headers}lf\ncr\rcrlf\r\nno final line end`;
    await session.deliver(testJob(["a@dest.test"], { body: Buffer.from(body) }));
    const [tx] = await peer.waitForTransactions(1);
    assert.equal(tx!.data.toString(), `${headers}lf\r\ncr\r\ncrlf\r\nno final line end\r\n.\r\n`);
    assert.deepEqual(strayLineEnds(allSent(peer)), [], "no stray CR or LF in commands or data");
  });

  it("never lets an end-of-data look-alike inside the body end the DATA (SMTP smuggling)", async () => {
    const peer = await peerWith(["8BITMIME"]);
    const session = await sessionTo(peer);
    const smuggled = "MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@dest.test>\r\nDATA\r\n";
    const variants = ["\n.\n", "\n.\r\n", "\r.\r", "\r\n.\n", "\r\n\x00.\r\n", "\r.\r\n"];
    const body = `${headers}${variants.map((v, i) => `part ${i}${v}${smuggled}`).join("")}end\r\n`;
    const outcomes = await session.deliver(testJob(["a@dest.test"], { body: Buffer.from(body) }));
    assert.equal(outcomes[0]?.kind, "delivered");
    await session.close();
    assert.equal(peer.transactions.length, 1, "one transaction only");
    const [tx] = peer.transactions;
    assert.equal(tx!.rcpts.length, 1);
    assert.deepEqual(strayLineEnds(tx!.data), []);
    const data = tx!.data.toString("latin1");
    assert.equal(data.indexOf("\r\n.\r\n"), data.length - 5, "the only end of data is the last one");
    assert.ok(data.includes("part 0\r\n..\r\nMAIL FROM:<evil@attacker.test>"), "the dot line is stuffed");
  });

  it("sends an 8-bit message to an 8BITMIME peer byte for byte, with BODY=8BITMIME", async () => {
    const peer = await peerWith(["8BITMIME", "SMTPUTF8"]);
    const session = await sessionTo(peer);
    const job = testJob(["a@dest.test"], { bodyType: "8BITMIME", body: multipart8bit });
    assert.equal((await session.deliver(job))[0]?.kind, "delivered");
    const [tx] = await peer.waitForTransactions(1);
    assert.match(tx!.mail, /^MAIL FROM:<sender@origin\.test> BODY=8BITMIME$/);
    assert.ok(unstuff(tx!.data).equals(multipart8bit), "the body arrives exactly as stored");
  });

  it("downgrades to quoted-printable for a peer without 8BITMIME, keeping the rest", async () => {
    const peer = await peerWith(["ENHANCEDSTATUSCODES"]);
    const session = await sessionTo(peer);
    const job = testJob(["a@dest.test"], { bodyType: "8BITMIME", body: multipart8bit });
    assert.equal((await session.deliver(job))[0]?.kind, "delivered");
    const [tx] = await peer.waitForTransactions(1);
    assert.equal(tx!.mail, "MAIL FROM:<sender@origin.test>", "no BODY= to a peer without 8BITMIME");
    assert.equal(hasEightBit(tx!.data), false);
    const received = unstuff(tx!.data).toString();
    const expected = multipart8bit
      .toString("utf8")
      .replace("Content-Transfer-Encoding: 8bit", "Content-Transfer-Encoding: quoted-printable")
      .replace(".Gr\u00fc\u00dfe aus K\u00f6ln", ".Gr=C3=BC=C3=9Fe aus K=C3=B6ln");
    assert.equal(received, expected);
    assert.match(tx!.data.toString(), /\r\n\.\.Gr=C3=BC/, "a QP line starting with a dot is stuffed too");
  });

  it("bounces 554 5.6.3 (scope message) what cannot be downgraded, sending nothing", async () => {
    const peer = await peerWith(["ENHANCEDSTATUSCODES"]);
    const session = await sessionTo(peer);
    const body = Buffer.from("From: sender@origin.test\r\nSubject: \u00e9t\u00e9\r\n\r\nhi\r\n", "utf8");
    const job = testJob(["a@dest.test", "b@dest.test"], { bodyType: "8BITMIME", body });
    const outcomes = await session.deliver(job);
    assert.deepEqual(outcomeSummary(outcomes), [
      [0, "bounced", 554, "message"],
      [1, "bounced", 554, "message"],
    ]);
    assert.equal(outcomes[0]?.reply.enhanced, "5.6.3");
    assert.match(outcomes[0]!.reply.text, /Conversion required and prohibited/);
    assert.doesNotMatch(allSent(peer).toString(), /MAIL FROM/, "not even MAIL was sent");
    // The connection carries the next message.
    assert.equal((await session.deliver(testJob(["c@dest.test"])))[0]?.kind, "delivered");
  });

  it("adds SMTPUTF8 to MAIL for UTF-8 header fields, and only for that message", async () => {
    const peer = await peerWith(["8BITMIME", "SMTPUTF8"]);
    const session = await sessionTo(peer);
    const body = Buffer.from("From: sender@origin.test\r\nSubject: \u00e9t\u00e9\r\n\r\nhi\r\n", "utf8");
    const job = testJob(["a@dest.test"], { smtpUtf8: true, bodyType: "8BITMIME", body });
    assert.equal((await session.deliver(job))[0]?.kind, "delivered");
    assert.equal((await session.deliver(testJob(["b@dest.test"])))[0]?.kind, "delivered");
    const [utf8, plain] = await peer.waitForTransactions(2);
    assert.equal(utf8!.mail, "MAIL FROM:<sender@origin.test> BODY=8BITMIME SMTPUTF8");
    assert.ok(unstuff(utf8!.data).equals(body));
    assert.equal(plain!.mail, "MAIL FROM:<sender@origin.test>");
  });

  it("bounces SMTPUTF8 mail that needs it with 5.6.7 (scope message) at a peer without it", async () => {
    const peer = await peerWith(["8BITMIME"]);
    const session = await sessionTo(peer);
    const body = Buffer.from("From: sender@origin.test\r\nSubject: \u00e9t\u00e9\r\n\r\nhi\r\n", "utf8");
    const job = testJob(["a@dest.test", "b@dest.test"], { smtpUtf8: true, bodyType: "8BITMIME", body });
    const outcomes = await session.deliver(job);
    assert.deepEqual(outcomeSummary(outcomes), [
      [0, "bounced", 550, "message"],
      [1, "bounced", 550, "message"],
    ]);
    assert.equal(outcomes[0]?.reply.enhanced, "5.6.7");
    const sender = await session.deliver(
      testJob(["a@dest.test"], { smtpUtf8: true, sender: "jos\u00e9@origin.test" }),
    );
    assert.deepEqual(outcomeSummary(sender), [[0, "bounced", 553, "message"]]);
    assert.equal(sender[0]?.reply.enhanced, "5.6.7");
    assert.doesNotMatch(allSent(peer).toString(), /MAIL FROM/, "nothing was sent");
    // All-ASCII mail that merely carries the flag goes, without the parameter.
    assert.equal((await session.deliver(testJob(["c@dest.test"], { smtpUtf8: true })))[0]?.kind, "delivered");
    const [tx] = await peer.waitForTransactions(1);
    assert.equal(tx!.mail, "MAIL FROM:<sender@origin.test>");
  });
});
