import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pino from "pino";

import { type DnsServer, startDnsServer } from "../../test/support/dns-server.ts";
import { freePort } from "../../test/support/ports.ts";
import { defaultPolicy, policySchema } from "../config/schema-policy.ts";
import type { PolicyConfig } from "../config/types.ts";
import { testConfig } from "../smtp-server/test-harness.ts";
import type { SessionFacts } from "../smtp-server/types.ts";
import { createInboundPolicy } from "./inbound-policy.ts";

let sessions = 0;
function session(clientAddress: string, overrides: Partial<SessionFacts> = {}): SessionFacts {
  sessions++;
  return {
    id: `s${sessions}`,
    clientAddress,
    helo: "client.test",
    tls: false,
    user: null,
    listener: "127.0.0.1:25",
    trusted: false,
    ...overrides,
  };
}

const MESSAGE = Buffer.from(
  "From: a@spf.test\r\nTo: b@example.net\r\nSubject: hi\r\nMessage-ID: <1@spf.test>\r\n\r\nHello.\r\n",
);

describe("createInboundPolicy", () => {
  let dns: DnsServer;
  const logger = pino({ level: "silent" });

  before(async () => {
    dns = await startDnsServer({
      "2.0.0.127.bl.test": { a: ["127.0.0.2"] },
      "spf.test": { txt: ["v=spf1 ip4:127.0.0.0/8 -all"] },
      "_dmarc.spf.test": { txt: ["v=DMARC1; p=reject"] },
      "_dmarc.other.test": { txt: ["v=DMARC1; p=reject"] },
    });
  });
  after(() => dns.close());

  function policyWith(policy: Partial<PolicyConfig>, now?: () => number) {
    const base = testConfig();
    const config = {
      ...base,
      dns: { servers: [{ host: dns.host, port: dns.port }], timeoutMs: 500, tries: 1 },
      policy: { ...defaultPolicy("input", "mx.test"), ...policy },
    };
    return createInboundPolicy(config, { logger, ...(now ? { now } : {}) });
  }

  test("the defaults of the input role: no connect/MAIL/RCPT checks, Authentication-Results at DATA", async () => {
    const policy = policyWith({});
    const s = session("127.0.0.1");
    assert.equal(await policy.onConnect(s), null);
    assert.equal(await policy.onMail(s, "a@spf.test"), null);
    assert.equal(await policy.onRcpt(s, "a@spf.test", "b@example.net"), null);
    const data = await policy.onData(s, { sender: "a@spf.test", recipients: ["b@example.net"] }, MESSAGE);
    assert.ok("headers" in data);
    assert.match(
      data.headers.join("\n"),
      /^Authentication-Results: mx\.test;[\s\S]*spf=pass[\s\S]*dmarc=pass/m,
    );
    policy.onClose(s);
  });

  test("connect: rate limit first, then DNSBL", async () => {
    const limits = defaultPolicy("input", "mx.test").rateLimits;
    const policy = policyWith({
      rateLimits: { ...limits, clientIp: { ...limits.clientIp, concurrentConnections: 1 } },
      dnsbl: { zones: ["bl.test"], checkAt: "connect" },
    });
    const first = session("127.0.0.1");
    assert.equal(await policy.onConnect(first), null);
    assert.equal((await policy.onConnect(session("127.0.0.1")))?.code, 421);
    const queries = dns.queries;
    assert.deepEqual(await policy.onConnect(session("127.0.0.2")), {
      code: 554,
      enhanced: "5.7.1",
      text: "Service unavailable; client [127.0.0.2] blocked using bl.test",
    });
    assert.ok(dns.queries > queries);
    policy.onClose(first);
    assert.equal(await policy.onConnect(session("127.0.0.1")), null);
  });

  test("DNSBL at RCPT: looked up once per session, every RCPT refused; authenticated clients skipped", async () => {
    const policy = policyWith({ dnsbl: { zones: ["bl.test"], checkAt: "rcpt" } });
    const s = session("::ffff:127.0.0.2");
    assert.equal(await policy.onConnect(s), null);
    assert.equal(await policy.onMail(s, "a@spf.test"), null);
    const before = dns.queries;
    for (let i = 0; i < 3; i++) {
      assert.equal((await policy.onRcpt(s, "a@spf.test", `r${i}@example.net`))?.code, 554);
    }
    assert.equal(dns.queries - before, 2, "one A and one TXT query for the whole session");
    policy.onClose(s);
    const user = session("127.0.0.2", { user: "alice" });
    assert.equal(await policy.onRcpt(user, "a@spf.test", "r@example.net"), null);
  });

  test("DATA: a DMARC refusal comes before rspamd, whose fail-closed answer is not reached", async () => {
    const auth = defaultPolicy("input", "mx.test").authentication;
    const deadRspamd = `http://127.0.0.1:${await freePort()}`;
    const policy = policyWith({
      authentication: { ...auth, enforceDmarcReject: true },
      rspamd: {
        ...policySchema.parse({ rspamd: {} }).rspamd!,
        url: deadRspamd,
        timeoutMs: 500,
        fail: "closed",
      },
    });
    const forged = Buffer.from(MESSAGE.toString().replace("From: a@spf.test", "From: boss@other.test"));
    const s = session("127.0.0.1");
    const refused = await policy.onData(s, { sender: "a@spf.test", recipients: ["b@example.net"] }, forged);
    assert.ok("reply" in refused);
    assert.equal(refused.reply.code, 550);
    const passing = await policy.onData(s, { sender: "a@spf.test", recipients: ["b@example.net"] }, MESSAGE);
    assert.deepEqual(passing, {
      reply: { code: 451, enhanced: "4.7.1", text: "Spam check temporarily unavailable, try again later" },
    });
  });

  test("submission and output roles have every check off by default", () => {
    for (const role of ["submission", "output", "all"] as const) {
      const policy = defaultPolicy(role, "mx.test");
      assert.equal(policy.authentication.enabled, false, role);
      assert.equal(policy.rspamd, null);
      assert.deepEqual(policy.dnsbl.zones, []);
    }
  });
});
