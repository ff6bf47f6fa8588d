/**
 * What may go to a peer given its EHLO: SMTPUTF8 needed or only hinted, 8-bit bodies kept
 * byte for byte for 8BITMIME peers, downgraded or refused (5.6.3) for the others.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type OutboundMessage,
  type PeerFeatures,
  peerFeatures,
  prepareOutbound,
} from "./outbound-message.ts";
import { testJob } from "./test-helpers.ts";

const full: PeerFeatures = { eightBitMime: true, smtpUtf8: true };
const bare: PeerFeatures = { eightBitMime: false, smtpUtf8: false };
const only8bit: PeerFeatures = { eightBitMime: true, smtpUtf8: false };
const peer = "mx.dest.test[127.0.0.1]:25";

const eightBitBody = Buffer.from("From: a@origin.test\r\nSubject: ascii\r\n\r\nGr\u00fc\u00dfe\r\n", "utf8");
const utf8HeaderBody = Buffer.from("From: a@origin.test\r\nSubject: \u00e9t\u00e9\r\n\r\nhi\r\n", "utf8");

function ok(result: OutboundMessage) {
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.ok(result.ok);
  return result;
}

function refused(result: OutboundMessage) {
  assert.equal(result.ok, false, JSON.stringify(result));
  assert.ok(!result.ok);
  return result.reply;
}

describe("prepareOutbound", () => {
  it("reads the features from nodemailer's extension list", () => {
    assert.deepEqual(peerFeatures(["PIPELINING", "8BITMIME"]), { eightBitMime: true, smtpUtf8: false });
    assert.deepEqual(peerFeatures(["SMTPUTF8"]), { eightBitMime: false, smtpUtf8: true });
  });

  it("sends an 8-bit body to an 8BITMIME peer as the very same buffer, with BODY=8BITMIME", async () => {
    const job = testJob(["a@dest.test"], { bodyType: "7BIT", body: eightBitBody });
    const result = ok(await prepareOutbound(job, only8bit, peer));
    assert.equal(result.body, job.body);
    assert.equal(result.eightBitMime, true, "8-bit content is declared even when the client did not");
    assert.equal(result.downgradedParts, 0);
  });

  it("keeps the client's BODY=8BITMIME for an ASCII body, and sends it anywhere unchanged", async () => {
    const job = testJob(["a@dest.test"], { bodyType: "8BITMIME" });
    for (const features of [full, bare]) {
      const result = ok(await prepareOutbound(job, features, peer));
      assert.equal(result.body, job.body);
      assert.equal(result.eightBitMime, true);
    }
  });

  it("downgrades an 8-bit body for a peer without 8BITMIME", async () => {
    const job = testJob(["a@dest.test"], { bodyType: "8BITMIME", body: eightBitBody });
    const result = ok(await prepareOutbound(job, bare, peer));
    assert.equal(result.eightBitMime, false);
    assert.equal(result.downgradedParts, 1);
    assert.match(
      result.body.toString(),
      /Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe\r\n$/,
    );
  });

  it("refuses with 554 5.6.3 what cannot be downgraded", async () => {
    const job = testJob(["a@dest.test"], { bodyType: "8BITMIME", body: utf8HeaderBody });
    const reply = refused(await prepareOutbound(job, { eightBitMime: false, smtpUtf8: true }, peer));
    assert.deepEqual([reply.code, reply.enhanced], [554, "5.6.3"]);
    assert.match(
      reply.text,
      /^Conversion required and prohibited: mx\.dest\.test\[127\.0\.0\.1\]:25 does not/,
    );
    assert.match(reply.text, /header of the message has 8-bit bytes/);
  });

  it("refuses SMTPUTF8 mail that needs it (UTF-8 header fields, non-ASCII sender) with 5.6.7", async () => {
    const headers = testJob(["a@dest.test"], { smtpUtf8: true, bodyType: "8BITMIME", body: utf8HeaderBody });
    const h = refused(await prepareOutbound(headers, only8bit, peer));
    assert.deepEqual([h.code, h.enhanced], [550, "5.6.7"]);
    assert.match(h.text, /UTF-8 header fields/);
    const sender = testJob(["a@dest.test"], { smtpUtf8: true, sender: "jos\u00e9@origin.test" });
    const s = refused(await prepareOutbound(sender, only8bit, peer));
    assert.deepEqual([s.code, s.enhanced], [553, "5.6.7"]);
    // With SMTPUTF8 at the peer both go, with the SMTPUTF8 parameter.
    assert.equal(ok(await prepareOutbound(headers, full, peer)).smtpUtf8, true);
    assert.equal(ok(await prepareOutbound(sender, full, peer)).smtpUtf8, true);
  });

  it("sends all-ASCII mail flagged SMTPUTF8 to a peer without it, as plain mail", async () => {
    const job = testJob(["a@dest.test"], { smtpUtf8: true });
    const result = ok(await prepareOutbound(job, bare, peer));
    assert.equal(result.body, job.body);
    // The flag still asks for SMTPUTF8 where the peer has it; the transaction adds it then only.
    assert.equal(result.smtpUtf8, true);
  });

  it("does not read raw 8-bit headers of non-SMTPUTF8 mail as needing SMTPUTF8", async () => {
    const job = testJob(["a@dest.test"], { smtpUtf8: false, body: utf8HeaderBody });
    const result = ok(await prepareOutbound(job, only8bit, peer));
    assert.equal(result.smtpUtf8, false);
    assert.equal(result.body, job.body);
  });
});
