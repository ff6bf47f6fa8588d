import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ANY_RECIPIENT,
  base32Decode,
  base32Encode,
  decodeToken,
  encodeToken,
  findToken,
  verpAddress,
} from "./verp.ts";

const secret = Buffer.from("0123456789abcdef0123456789abcdef");
const settings = { domain: "bounces.example.com", localPart: "b", secret };
const queueId = "0F2K3M4N5P6Q7R8S9T0V";

describe("verp", () => {
  it("base32 round-trips", () => {
    for (const n of [0, 1, 5, 12, 33]) {
      const data = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37) & 255));
      assert.deepEqual(base32Decode(base32Encode(data)), data);
    }
  });

  it("round-trips a token, whatever the case the receiver gives it back in", () => {
    const token = encodeToken(secret, { queueId, recipientIndex: 3 });
    assert.equal(token.length, 40);
    assert.deepEqual(decodeToken(secret, token), { queueId, recipientIndex: 3 });
    assert.deepEqual(decodeToken(secret, token.toUpperCase()), { queueId, recipientIndex: 3 });
    const any = encodeToken(secret, { queueId, recipientIndex: ANY_RECIPIENT });
    assert.equal(decodeToken(secret, any)?.recipientIndex, ANY_RECIPIENT);
  });

  it("rejects forged or altered tokens", () => {
    const token = encodeToken(secret, { queueId, recipientIndex: 3 });
    // Another queue id with the same MAC.
    assert.equal(decodeToken(secret, `1${token.slice(1)}`), null);
    // Another recipient index (flip a bit in the index part).
    const tail = base32Decode(token.slice(20))!;
    tail[1] = tail[1]! ^ 1;
    assert.equal(decodeToken(secret, token.slice(0, 20) + base32Encode(tail)), null);
    // Another secret.
    assert.equal(decodeToken(Buffer.from("another secret of some length"), token), null);
    // Garbage.
    assert.equal(decodeToken(secret, "not-a-token"), null);
  });

  it("builds an address within the 64-octet local-part limit and finds it in text", () => {
    const address = verpAddress(settings, { queueId, recipientIndex: 0 });
    assert.match(address, /^b\+[0-9a-z]{40}@bounces\.example\.com$/);
    assert.ok(address.split("@")[0]!.length <= 64);
    assert.deepEqual(findToken(settings, `Return-Path: <${address.toUpperCase()}>`), {
      queueId,
      recipientIndex: 0,
    });
    assert.equal(findToken(settings, "Return-Path: <b+aaaa@bounces.example.com>"), null);
  });
});
