/**
 * Scenario: relay control on a real mailfleet (issue #5). Its hostname is mailfleet.test, which
 * is also its local domain (`relay.local_domains`), as for an input instance that receives
 * bounces; 127.0.0.1 is the only trusted network. A stranger (127.0.0.2):
 * - may send to the local domain, and that mail is delivered;
 * - is refused every other recipient, including nmap smtp-open-relay's 16 MAIL/RCPT
 *   combinations (none gets a 250 to its RCPT) and the relay tricks that dress a foreign
 *   recipient up with a local domain: percent hack, bang path, source route, quoted local part
 *   holding @, u@d@[ip], address literal.
 * The trusted client relays anywhere.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/e2e-world.ts";
import { type InboundWorld, startInboundWorld } from "../support/inbound-world.ts";
import { openSmtp, type SmtpDialog } from "../support/smtp-dialog.ts";

const LOCAL = "mailfleet.test"; // our hostname and local domain (nmap's "srvname")
const FOREIGN = "relay-target.test"; // where an open relay would send it (nmap's "domain")
const IP = "127.0.0.1"; // the server's address (nmap's "ip")

/** nmap smtp-open-relay.nse's tests, in its order: [MAIL FROM, RCPT TO]. */
const NMAP_TESTS: [string, string][] = [
  ["<>", `<relaytest@${FOREIGN}>`],
  [`<antispam@${FOREIGN}>`, `<relaytest@${FOREIGN}>`],
  [`<antispam@${LOCAL}>`, `<relaytest@${FOREIGN}>`],
  [`<antispam@[${IP}]>`, `<relaytest@${FOREIGN}>`],
  [`<antispam@[${IP}]>`, `<relaytest%${FOREIGN}@[${IP}]>`],
  [`<antispam@[${IP}]>`, `<relaytest%${FOREIGN}@${LOCAL}>`],
  [`<antispam@[${IP}]>`, `<"relaytest@${FOREIGN}">`],
  [`<antispam@[${IP}]>`, `<"relaytest%${FOREIGN}">`],
  [`<antispam@[${IP}]>`, `<relaytest@${FOREIGN}@[${IP}]>`],
  [`<antispam@[${IP}]>`, `<"relaytest@${FOREIGN}"@[${IP}]>`],
  [`<antispam@[${IP}]>`, `<relaytest@${FOREIGN}@${LOCAL}>`],
  [`<antispam@[${IP}]>`, `<@[${IP}]:relaytest@${FOREIGN}>`],
  [`<antispam@[${IP}]>`, `<@${LOCAL}:relaytest@${FOREIGN}>`],
  [`<antispam@[${IP}]>`, `<${FOREIGN}!relaytest>`],
  [`<antispam@[${IP}]>`, `<${FOREIGN}!relaytest@[${IP}]>`],
  [`<antispam@[${IP}]>`, `<${FOREIGN}!relaytest@${LOCAL}>`],
];

/** The tricks of issue #5, each with the local domain where it could fool a naive check. */
const TRICKS: [string, string][] = [
  ["percent hack", `<victim%${FOREIGN}@${LOCAL}>`],
  ["bang path", `<${FOREIGN}!victim@${LOCAL}>`],
  ["source route", `<@${LOCAL}:victim@${LOCAL}>`],
  ["source route list", `<@a.${LOCAL},@${LOCAL}:victim@${FOREIGN}>`],
  ["quoted local part with @", `<"victim@${FOREIGN}"@${LOCAL}>`],
  ["quoted local part with %", `<"victim%${FOREIGN}"@${LOCAL}>`],
  ["u@d@[ip]", `<victim@${FOREIGN}@[${IP}]>`],
  ["address literal", `<victim@[${IP}]>`],
  ["address literal IPv6", "<victim@[IPv6:::1]>"],
];

describe("inbound relay control", () => {
  let inbound: InboundWorld;

  before(async () => {
    inbound = await startInboundWorld({
      config: { hostname: LOCAL, relay: { trusted_networks: ["127.0.0.1/32"], local_domains: [LOCAL] } },
    });
  });

  after(async () => {
    await inbound?.close();
  });

  async function stranger(run: (smtp: SmtpDialog) => Promise<void>): Promise<void> {
    const smtp = await openSmtp({ port: inbound.port, localAddress: "127.0.0.2" });
    try {
      assert.equal((await smtp.command("EHLO stranger.test")).code, 250);
      await run(smtp);
    } finally {
      smtp.close();
    }
  }

  it("refuses all 16 of nmap smtp-open-relay's combinations", { timeout: 30_000 }, async (t) => {
    const results: string[] = [];
    await stranger(async (smtp) => {
      for (const [from, to] of NMAP_TESTS) {
        assert.equal((await smtp.command("RSET")).code, 250);
        const mail = await smtp.command(`MAIL FROM:${from}`);
        if (mail.code !== 250) {
          results.push(`${from} -> (MAIL ${mail.code})`);
          continue;
        }
        const rcpt = await smtp.command(`RCPT TO:${to}`);
        results.push(`${from} -> ${to}: ${rcpt.raw}`);
        assert.notEqual(rcpt.code, 250, `open relay: MAIL FROM:${from} RCPT TO:${to}`);
        assert.ok(rcpt.code >= 500, `${to}: ${rcpt.raw}`);
      }
    });
    assert.equal(results.length, 16);
    t.diagnostic(results.join("\n"));
  });

  for (const [name, path] of TRICKS) {
    it(`refuses the ${name}: RCPT TO:${path}`, { timeout: 30_000 }, async (t) => {
      await stranger(async (smtp) => {
        assert.equal((await smtp.command("MAIL FROM:<a@stranger.test>")).code, 250);
        const rcpt = await smtp.command(`RCPT TO:${path}`);
        assert.match(rcpt.raw, /^(554 5\.7\.1 Relay access denied|501 5\.1\.3 )/, rcpt.raw);
        t.diagnostic(rcpt.raw);
        assert.equal((await smtp.command("DATA")).code, 503, "no recipient, no message");
      });
    });
  }

  it("accepts and delivers a stranger's mail to the local domain", { timeout: 60_000 }, async () => {
    await stranger(async (smtp) => {
      assert.equal((await smtp.command("MAIL FROM:<fbl@isp.test>")).code, 250);
      assert.equal((await smtp.command(`RCPT TO:<bounces@${LOCAL.toUpperCase()}>`)).code, 250);
      assert.equal((await smtp.command(`RCPT TO:<other@${FOREIGN}>`)).raw, "554 5.7.1 Relay access denied");
      assert.equal((await smtp.command("DATA")).code, 354);
      const reply = await smtp.sendRaw("Subject: to the local domain\r\n\r\nbounce report\r\n.\r\n");
      assert.equal(reply.code, 250, reply.raw);
    });
    const copy = await eventually("the delivered copy", async () =>
      (await inbound.sink.messages()).find((m) => m.content.includes("Subject: to the local domain")),
    );
    assert.deepEqual(
      copy.rcptArgs.map((r) => r.toLowerCase()),
      [`<bounces@${LOCAL}>`],
    );
  });

  it("lets a trusted client relay anywhere", { timeout: 30_000 }, async () => {
    const smtp = await openSmtp({ port: inbound.port, localAddress: "127.0.0.1" });
    try {
      await smtp.command("EHLO trusted.test");
      assert.equal((await smtp.command("MAIL FROM:<app@mailfleet.test>")).code, 250);
      assert.equal((await smtp.command("RCPT TO:<someone@dest.test>")).code, 250);
    } finally {
      smtp.close();
    }
  });
});
