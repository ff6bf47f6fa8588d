import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { NewMessage } from "../message/types.ts";
import { openSuppressionList } from "./suppression.ts";
import { checkMessageAtInjection, checkRecipientAtRcpt, suppressedReply } from "./suppression-gate.ts";
import type { TenantsConfig } from "./tenant.ts";

const message = (tenant: string | null, recipients: string[]): NewMessage => ({
  sender: "a@sender.test",
  recipients: recipients.map((address) => ({ address, dsn: { notify: null, orcpt: null } })),
  dsn: { ret: null, envid: null },
  bodyType: "7BIT",
  smtpUtf8: false,
  clientAddress: "127.0.0.1",
  clientHelo: "c",
  arrivedAt: 1,
  isBounce: false,
  tenant,
});

describe("suppression gate", async () => {
  const dir = await mkdtemp(join(tmpdir(), "mf-gate-"));
  after(() => rm(dir, { recursive: true, force: true }));
  const list = await openSuppressionList(join(dir, "s.jsonl"));
  after(() => list.close());
  await list.add({
    tenant: "acme",
    address: "gone@dest.test",
    reason: "hard_bounce",
    addedAt: Date.UTC(2026, 10, 23),
    detail: "550 5.1.1 user unknown",
  });

  it("says 550 5.7.1 with the reason and date", () => {
    assert.deepEqual(suppressedReply(list.get("acme", "gone@dest.test")), {
      code: 550,
      enhanced: "5.7.1",
      text: "Recipient address suppressed (hard bounce on 2026-11-23)",
    });
  });

  it("refuses at RCPT only when the tenant is known before DATA", () => {
    const authFirst: TenantsConfig = { from: ["auth_user", "header"], header: "X-T" };
    const facts = { sender: "a@sender.test", recipient: "GONE@dest.test" };
    assert.equal(checkRecipientAtRcpt(authFirst, list, { ...facts, user: "acme" })?.code, 550);
    assert.equal(checkRecipientAtRcpt(authFirst, list, { ...facts, user: "other" }), null);
    // Not authenticated: the header decides, after DATA.
    assert.equal(checkRecipientAtRcpt(authFirst, list, { ...facts, user: null }), null);
  });

  it("at injection: refuses a message with only suppressed recipients, bounces them otherwise", () => {
    const refused = checkMessageAtInjection(list, message("acme", ["gone@dest.test"]));
    assert.equal(refused.kind, "refuse");
    const mixed = checkMessageAtInjection(list, message("acme", ["ok@dest.test", "gone@dest.test"]));
    assert.deepEqual(mixed.kind === "accept" ? mixed.suppressed.map((s) => s.index) : null, [1]);
    const otherTenant = checkMessageAtInjection(list, message("beta", ["gone@dest.test"]));
    assert.deepEqual(otherTenant, { kind: "accept", suppressed: [] });
    assert.deepEqual(checkMessageAtInjection(list, message(null, ["gone@dest.test"])).kind, "accept");
  });
});
