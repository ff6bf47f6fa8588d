import assert from "node:assert/strict";
import { test } from "node:test";
import { makeTestMessage, verifyReceived } from "./test-messages.ts";

test("a received copy verifies, and a changed body does not", () => {
  const m = makeTestMessage(7, 512);
  const asReceived = `Received: x\n${m.raw.replace(/\r\n/g, "\n").replace(/\n$/, "")}`;
  assert.deepEqual(verifyReceived(asReceived), { n: 7, intact: true });
  assert.deepEqual(verifyReceived(asReceived.replace(/7 /, "8 ")), { n: 7, intact: false });
});
