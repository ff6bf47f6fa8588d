import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { headerEnd, takeHeader } from "./header-fields.ts";

describe("takeHeader", () => {
  const content = Buffer.from(
    "Subject: hi\r\nX-Mailfleet-Tenant: acme\r\nx-mailfleet-tenant: other\r\n  folded\r\nTo: b@example.com\r\n\r\nX-Mailfleet-Tenant: body line\r\n",
  );

  it("takes every copy, folded lines included, from the header section only", () => {
    const taken = takeHeader(content, "X-Mailfleet-Tenant");
    assert.deepEqual(taken.values, ["acme", "other folded"]);
    assert.equal(
      taken.content.toString(),
      "Subject: hi\r\nTo: b@example.com\r\n\r\nX-Mailfleet-Tenant: body line\r\n",
    );
  });

  it("returns the same content when there is nothing to take", () => {
    const plain = Buffer.from("Subject: x\r\n\r\nbody\r\n");
    const none = takeHeader(plain, "X-Mailfleet-Tenant");
    assert.deepEqual(none.values, []);
    assert.equal(none.content, plain);
  });

  it("takes only the fields whose value is wanted", () => {
    const taken = takeHeader(content, "x-mailfleet-tenant", (value) => value.startsWith("other"));
    assert.deepEqual(taken.values, ["other folded"]);
    assert.equal(
      taken.content.toString(),
      "Subject: hi\r\nX-Mailfleet-Tenant: acme\r\nTo: b@example.com\r\n\r\nX-Mailfleet-Tenant: body line\r\n",
    );
  });

  it("does not take a name that only starts the same, nor a stray continuation line", () => {
    const tricky = Buffer.from(" X-Tenant: stray\r\nX-Tenant-Other: a\r\nX-Tenant : spaced\r\n\r\n");
    const taken = takeHeader(tricky, "X-Tenant");
    assert.deepEqual(taken.values, ["spaced"]);
    assert.equal(taken.content.toString(), " X-Tenant: stray\r\nX-Tenant-Other: a\r\n\r\n");
  });

  it("handles a message without a body or without headers", () => {
    assert.equal(takeHeader(Buffer.from("A: 1\r\nB: 2\r\n"), "a").content.toString(), "B: 2\r\n");
    assert.equal(headerEnd(Buffer.from("\r\nbody\r\n")), 0);
    assert.deepEqual(takeHeader(Buffer.from("\r\nA: 1\r\n"), "a").values, []);
  });
});
