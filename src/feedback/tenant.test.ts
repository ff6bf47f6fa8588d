import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NewMessage } from "../message/types.ts";
import { applyTenant, identifyTenant, type TenantsConfig, tenantName } from "./tenant.ts";

const all: TenantsConfig = { from: ["auth_user", "header", "sender_domain"], header: "X-Mailfleet-Tenant" };

const message = (sender: string): NewMessage => ({
  sender,
  recipients: [{ address: "b@example.com", dsn: { notify: null, orcpt: null } }],
  dsn: { ret: null, envid: null },
  bodyType: "7BIT",
  smtpUtf8: false,
  clientAddress: "127.0.0.1",
  clientHelo: "c",
  arrivedAt: 1,
  isBounce: false,
  tenant: null,
});

describe("tenant identification", () => {
  it("follows the configured precedence", () => {
    assert.equal(identifyTenant(all, { user: "Alice", sender: "a@x.test", header: "acme" }), "alice");
    assert.equal(identifyTenant(all, { user: null, sender: "a@x.test", header: "Acme" }), "acme");
    assert.equal(identifyTenant(all, { user: null, sender: "a@X.test", header: null }), "x.test");
    assert.equal(identifyTenant(all, { user: null, sender: "", header: null }), null);
    const domainFirst: TenantsConfig = { from: ["sender_domain", "header"], header: "X-T" };
    assert.equal(identifyTenant(domainFirst, { user: "u", sender: "a@x.test", header: "acme" }), "x.test");
    assert.equal(identifyTenant({ from: [], header: "X-T" }, { user: "u", sender: "a@x.test" }), null);
  });

  it("says undefined while the header is needed but not known (RCPT time)", () => {
    assert.equal(identifyTenant(all, { user: null, sender: "a@x.test" }), undefined);
    assert.equal(identifyTenant(all, { user: "u", sender: "a@x.test" }), "u");
    const noHeader: TenantsConfig = { from: ["auth_user", "sender_domain"], header: "X-T" };
    assert.equal(identifyTenant(noHeader, { user: null, sender: "a@x.test" }), "x.test");
  });

  it("ignores values that are not tenant names", () => {
    assert.equal(tenantName(" Acme-1 "), "acme-1");
    assert.equal(tenantName("a b"), null);
    assert.equal(tenantName(""), null);
    assert.equal(identifyTenant(all, { user: null, sender: "", header: "bad value" }), null);
  });
});

describe("tenant header", () => {
  const content = Buffer.from(
    "Subject: hi\r\nX-Mailfleet-Tenant: acme\r\nx-mailfleet-tenant: other\r\n  folded\r\nTo: b@example.com\r\n\r\nX-Mailfleet-Tenant: body line\r\n",
  );

  it("strips it on a delivering instance and puts the decided tenant back on a relaying one", () => {
    const delivering = applyTenant(all, { relaying: false, user: null }, message("a@x.test"), content);
    assert.equal(delivering.message.tenant, "acme");
    assert.ok(!/x-mailfleet-tenant: (acme|other)/i.test(delivering.content.toString()));
    const relaying = applyTenant(all, { relaying: true, user: "bob" }, message("a@x.test"), content);
    assert.equal(relaying.message.tenant, "bob");
    assert.ok(relaying.content.toString().startsWith("X-Mailfleet-Tenant: bob\r\nSubject: hi\r\nTo:"));
    const untenanted = applyTenant(
      { from: [], header: "X-Mailfleet-Tenant" },
      { relaying: true, user: null },
      message(""),
      content,
    );
    assert.equal(untenanted.message.tenant, null);
    assert.ok(untenanted.content.toString().startsWith("Subject: hi\r\nTo:"));
  });
});
