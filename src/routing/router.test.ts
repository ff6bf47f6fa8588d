import assert from "node:assert/strict";
import { test } from "node:test";
import type { Config, TransportConfig } from "../config/types.ts";
import { recipientDomain, routeRecipient } from "./router.ts";

const mx = { name: "mx" } as TransportConfig;
const config = { delivery: { defaultTransport: "mx" }, transports: { mx } } as unknown as Config;

test("recipient domain is the part after the last @, lower-cased", () => {
  assert.equal(recipientDomain("a@Example.COM"), "example.com");
  assert.equal(recipientDomain('"x@y"@b.example'), "b.example");
  assert.equal(recipientDomain("nodomain"), null);
  assert.equal(recipientDomain("trailing@"), null);
});

test("every recipient takes the default transport", () => {
  const r = routeRecipient(config, { sender: "s@a.example", recipient: "r@B.example" });
  assert.deepEqual(r, { ok: true, route: { transport: mx, domain: "b.example" } });
});

test("a recipient without a domain is a routing failure, not an exception", () => {
  const r = routeRecipient(config, { sender: "", recipient: "postmaster" });
  assert.equal(r.ok, false);
});
