/**
 * Mail of several tenants for the isolation scenarios: injection over SMTP with the tenant
 * header, numbered batches, and ARF complaints (the fixture with the VERP sender the sink saw)
 * sent by SMTP to the feedback address.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { repoRoot } from "./mailfleet-process.ts";
import { openSmtp } from "./smtp-dialog.ts";
import type { SinkMessage } from "./smtp-sink.ts";

const fixtures = resolve(repoRoot, "test/fixtures/feedback");

/** DNS for the recipients' domain: its MX is the sink on 127.0.0.1. */
export const DEST_ZONE = {
  "dest.test": { mx: [{ preference: 10, exchange: "mx.dest.test" }] },
  "mx.dest.test": { a: ["127.0.0.1"] },
};

/** The `feedback:` section of the delivering instance: VERP, the FBL address, bounce domain. */
export const FEEDBACK_CONFIG = {
  verp: { domain: "bounces.mailfleet.test", local_part: "b", secret: "e2e-verp-secret-0123456789" },
  addresses: ["fbl@mailfleet.test"],
  bounce_domains: ["bounces.mailfleet.test"],
};

export interface TenantMail {
  tenant: string;
  subject: string;
  to: string;
}

/** One transaction per message, a few sessions at a time, each with the tenant header. */
export async function injectTenantMail(port: number, mails: TenantMail[], sessions = 4): Promise<void> {
  let next = 0;
  const worker = async () => {
    const smtp = await openSmtp({ port, timeoutMs: 30_000 });
    try {
      assert.equal((await smtp.command("EHLO client.test")).code, 250);
      for (let i = next++; i < mails.length; i = next++) {
        const m = mails[i]!;
        assert.equal((await smtp.command(`MAIL FROM:<sender@${m.tenant}.test>`)).code, 250);
        assert.equal((await smtp.command(`RCPT TO:<${m.to}>`)).code, 250);
        assert.equal((await smtp.command("DATA")).code, 354);
        const body =
          `From: sender@${m.tenant}.test\r\nTo: ${m.to}\r\nX-Mailfleet-Tenant: ${m.tenant}\r\n` +
          `Subject: ${m.subject}\r\n\r\nHello.\r\n.\r\n`;
        const reply = await smtp.sendRaw(body);
        assert.equal(reply.code, 250, reply.raw);
      }
      await smtp.command("QUIT");
    } finally {
      smtp.close();
    }
  };
  await Promise.all(Array.from({ length: Math.min(sessions, mails.length) }, worker));
}

/** `count` messages of `tenant`, numbered from `from`, subjects "TAG TENANT N". */
export function tenantBatch(tenant: string, from: number, count: number, tag: string): TenantMail[] {
  return Array.from({ length: count }, (_, k) => {
    const n = from + k;
    return { tenant, subject: `${tag} ${tenant} ${n}`, to: `${tenant}-${n}@dest.test` };
  });
}

export const subjectOf = (m: SinkMessage) => /^Subject: (.*)$/m.exec(m.content)?.[1] ?? "";

/** An ARF complaint about `message` (as the sink got it, VERP sender and all) from `tenant`. */
export async function sendComplaint(port: number, message: SinkMessage, rcpt: string, tenant: string) {
  const verp = /^<([^>]*)>/.exec(message.mailArgs)?.[1] ?? "";
  assert.match(verp, /^b\+[0-9a-z]+@bounces\.mailfleet\.test$/, message.mailArgs);
  const arf = (await readFile(join(fixtures, "arf-abuse.eml"), "utf8"))
    .replaceAll("{{VERP}}", verp)
    .replaceAll("{{RCPT}}", rcpt)
    .replace("X-Mailfleet-Tenant: shop", `X-Mailfleet-Tenant: ${tenant}`);
  const smtp = await openSmtp({ port });
  try {
    assert.equal((await smtp.command("EHLO fbl.test")).code, 250);
    assert.equal((await smtp.command("MAIL FROM:<feedbackloop@fbl.test>")).code, 250);
    assert.equal((await smtp.command("RCPT TO:<fbl@mailfleet.test>")).code, 250);
    assert.equal((await smtp.command("DATA")).code, 354);
    const done = await smtp.sendRaw(`${arf.replace(/\r?\n/g, "\r\n").replace(/^\./gm, "..")}.\r\n`);
    assert.equal(done.code, 250, done.raw);
  } finally {
    smtp.close();
  }
}
