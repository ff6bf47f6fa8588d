import assert from "node:assert/strict";
import { describe, test } from "node:test";
import pino from "pino";

import type { OutboundMessage } from "../delivery/outbound-message.ts";
import type { DeliveryJob } from "../delivery/types.ts";
import { signOutbound } from "./sign-outbound.ts";
import type { DkimSigner, SignResult } from "./signer.ts";

const logger = pino({ level: "silent" });
const job: DeliveryJob = {
  id: "Q1",
  sender: "a@example.com",
  recipients: [{ index: 0, address: "b@x.test", notify: null, orcpt: null }],
  ret: null,
  envid: null,
  bodyType: "7BIT",
  smtpUtf8: false,
  body: Buffer.from("From: a@example.com\r\n\r\nstored\r\n"),
};
const outbound: OutboundMessage = {
  ok: true,
  body: Buffer.from("From: a@example.com\r\n\r\nsent\r\n"),
  eightBitMime: false,
  smtpUtf8: false,
  downgradedParts: 1,
};

/** A signer answering `result`, recording the bytes it was asked to sign. */
function signer(result: (body: Buffer) => SignResult) {
  const seen: Buffer[] = [];
  const s: DkimSigner = {
    computed: 0,
    async sign(_message, body) {
      seen.push(body);
      return result(body);
    },
  };
  return { s, seen };
}

describe("signOutbound", () => {
  test("signs the outbound bytes (not the stored ones) and keeps the MAIL parameters", async () => {
    const { s, seen } = signer((body) => ({
      ok: true,
      body: Buffer.concat([Buffer.from("DKIM-Signature: x\r\n"), body]),
      signatures: ["d=example.com s=s1 a=rsa-sha256"],
    }));
    const result = await signOutbound(s, job, outbound, logger);
    assert.deepEqual(seen, [outbound.body]);
    assert.ok(result.ok);
    assert.equal(result.body.toString(), "DKIM-Signature: x\r\nFrom: a@example.com\r\n\r\nsent\r\n");
    assert.equal(result.downgradedParts, 1);
  });

  test("a signing failure defers the message with 451 4.3.0", async () => {
    const { s } = signer(() => ({ ok: false, reason: "DKIM signing failed for d=example.com s=s1: boom" }));
    const result = await signOutbound(s, job, outbound, logger);
    assert.deepEqual(result, {
      ok: false,
      reply: { code: 451, enhanced: "4.3.0", text: "DKIM signing failed for d=example.com s=s1: boom" },
    });
  });

  test("a message refused for the peer is not signed", async () => {
    const { s, seen } = signer(() => assert.fail("not called"));
    const refused: OutboundMessage = { ok: false, reply: { code: 554, enhanced: "5.6.3", text: "no" } };
    assert.equal(await signOutbound(s, job, refused, logger), refused);
    assert.equal(seen.length, 0);
  });
});
