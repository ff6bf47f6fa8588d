import assert from "node:assert/strict";
import { test } from "node:test";
import { countReceivedHeaders } from "./hops.ts";

test("counts Received: fields of the header section only, in any case", () => {
  const message = Buffer.from(
    "Received: from a\r\n by b; date\r\nRECEIVED: from c\r\nSubject: x\r\n\r\nReceived: in the body\r\n",
  );
  assert.equal(countReceivedHeaders(message), 2);
});

test("a message without a body is all header", () => {
  assert.equal(countReceivedHeaders(Buffer.from("Received: x\r\nReceived: y\r\n")), 2);
  assert.equal(countReceivedHeaders(Buffer.from("Subject: none\r\n\r\n")), 0);
});
