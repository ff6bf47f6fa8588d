import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  classifyReply,
  defaultEnhancedCode,
  networkFailureReply,
  parseReply,
  withEnhancedCode,
} from "./classify.ts";

const gmailRate = [
  "421-4.7.28 [192.0.2.5      15] Our system has detected an unusual rate of",
  "421-4.7.28 unsolicited mail originating from your IP address. To protect our",
  "421 4.7.28 users from spam, mail sent from your IP address has been temporarily rate limited.",
].join("\n");
const yahooTss =
  "421 4.7.0 [TSS04] Messages from 192.0.2.5 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes";
const outlook =
  "451 4.7.650 The mail server [192.0.2.5] has been temporarily rate limited due to IP reputation.";
const userUnknown =
  "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table";
const mailboxFull = "552 5.2.2 The email account that you tried to reach is over quota.";

describe("parseReply", () => {
  it("reads code, enhanced code and joined text of a multi-line reply", () => {
    const r = parseReply(gmailRate);
    assert.equal(r.code, 421);
    assert.equal(r.enhanced, "4.7.28");
    assert.match(
      r.text,
      /^\[192\.0\.2\.5 {6}15\] Our system .* unsolicited mail originating .* rate limited\.$/,
    );
  });

  it("leaves enhanced null when absent or of another class", () => {
    assert.deepEqual(parseReply("550 no such user"), { code: 550, enhanced: null, text: "no such user" });
    assert.equal(parseReply("550 4.1.1 odd").enhanced, null);
    assert.deepEqual(parseReply("250 2.0.0 Ok: queued as ABC"), {
      code: 250,
      enhanced: "2.0.0",
      text: "Ok: queued as ABC",
    });
  });
});

describe("classifyReply", () => {
  it("blames our source IP for IP reputation and rate policies", () => {
    assert.deepEqual(classifyReply(parseReply(gmailRate), "dot"), { kind: "deferred", scope: "source" });
    assert.deepEqual(classifyReply(parseReply(yahooTss), "greeting"), { kind: "deferred", scope: "source" });
    assert.deepEqual(classifyReply(parseReply(outlook), "rcpt"), { kind: "deferred", scope: "source" });
    const spamhaus = parseReply(
      "554 5.7.1 Service unavailable; Client host [192.0.2.5] blocked using zen.spamhaus.org",
    );
    assert.deepEqual(classifyReply(spamhaus, "rcpt"), { kind: "bounced", scope: "source" });
  });

  it("scopes recipient-stage refusals to the recipient", () => {
    assert.deepEqual(classifyReply(parseReply(userUnknown), "rcpt"), { kind: "bounced", scope: "recipient" });
    assert.deepEqual(classifyReply(parseReply(mailboxFull), "rcpt"), { kind: "bounced", scope: "recipient" });
    assert.deepEqual(classifyReply(parseReply("450 4.2.0 Greylisted, try later"), "rcpt"), {
      kind: "deferred",
      scope: "recipient",
    });
  });

  it("scopes a policy refusal about content (no IP named) to the message", () => {
    const spam = parseReply("550 5.7.1 Message rejected as spam by content filter");
    assert.deepEqual(classifyReply(spam, "dot"), { kind: "bounced", scope: "message" });
    assert.deepEqual(classifyReply(parseReply("552 5.3.4 Message size exceeds fixed limit"), "mail"), {
      kind: "bounced",
      scope: "message",
    });
  });

  it("scopes 421 and connection-stage replies to the destination", () => {
    assert.deepEqual(classifyReply(parseReply("421 4.3.2 Service shutting down"), "rcpt"), {
      kind: "deferred",
      scope: "destination",
    });
    assert.deepEqual(classifyReply(parseReply("554 5.3.2 host does not accept mail"), "greeting"), {
      kind: "bounced",
      scope: "destination",
    });
  });
});

describe("enhanced code defaults", () => {
  it("fills in a code that fits the stage", () => {
    assert.equal(withEnhancedCode(parseReply("550 unknown user"), "rcpt").enhanced, "5.1.0");
    assert.equal(withEnhancedCode(parseReply("452 too many recipients"), "rcpt").enhanced, "4.5.3");
    assert.equal(withEnhancedCode(parseReply("554 go away"), "greeting").enhanced, "5.4.0");
    assert.equal(withEnhancedCode(parseReply("550 5.1.1 x"), "rcpt").enhanced, "5.1.1");
    assert.equal(defaultEnhancedCode(421, "dot"), "4.4.2");
  });

  it("describes network failures as temporary 451 replies", () => {
    assert.deepEqual(networkFailureReply("ECONNREFUSED", "connect", "connect to mx[192.0.2.1]:25"), {
      code: 451,
      enhanced: "4.4.1",
      text: "connect to mx[192.0.2.1]:25: connection refused",
    });
  });
});
