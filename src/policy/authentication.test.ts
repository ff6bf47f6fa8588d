import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { dkimSign, sealMessage } from "mailauth";
import pino from "pino";

import { type DnsServer, startDnsServer } from "../../test/support/dns-server.ts";
import type { SessionFacts } from "../smtp-server/types.ts";
import { authservIdOf, createAuthenticationCheck, splitHeaderFields } from "./authentication.ts";
import { createPolicyResolver } from "./dns.ts";

/** RSA 1024: its public key fits one TXT string (255 bytes), which the test DNS server needs. */
const keys = generateKeyPairSync("rsa", { modulusLength: 1024 });
const privateKey = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const publicKey = keys.publicKey.export({ type: "spki", format: "der" }).toString("base64");

function message(from: string, subject: string): string {
  return [
    `From: Sender <${from}>`,
    "To: rcpt@example.net",
    `Subject: ${subject}`,
    "Date: Mon, 23 Nov 2026 10:00:00 +0000",
    `Message-ID: <${subject.replace(/\W/g, "")}@client.test>`,
    "",
    "Hello.",
    "",
  ].join("\r\n");
}

async function signed(from: string, subject: string, domain: string): Promise<Buffer> {
  const text = message(from, subject);
  const key = { signingDomain: domain, selector: "sel", privateKey };
  // The typings want the key at top level too; mailauth signs with signatureData's entries.
  const result = await dkimSign(text, { ...key, signatureData: [key] });
  assert.deepEqual(result.errors, []);
  return Buffer.from(result.signatures + text);
}

function session(overrides: Partial<SessionFacts> = {}): SessionFacts {
  return {
    id: "s1",
    clientAddress: "127.0.0.1",
    helo: "client.good.test",
    tls: false,
    user: null,
    listener: "127.0.0.1:25",
    trusted: false,
    ...overrides,
  };
}

describe("SPF/DKIM/DMARC/ARC with mailauth against a DNS server", () => {
  let dns: DnsServer;
  const logger = pino({ level: "silent" });

  before(async () => {
    dns = await startDnsServer({
      "good.test": { txt: ["v=spf1 ip4:127.0.0.1 -all"] },
      "sel._domainkey.good.test": { txt: [`v=DKIM1; k=rsa; p=${publicKey}`] },
      "_dmarc.good.test": { txt: ["v=DMARC1; p=reject"] },
      "client.good.test": { txt: ["v=spf1 ip4:127.0.0.1 -all"] },
      "strict.test": { txt: ["v=spf1 ip4:192.0.2.1 -all"] },
      "_dmarc.strict.test": { txt: ["v=DMARC1; p=reject; adkim=s; aspf=s"] },
      "sampled.test": { txt: ["v=spf1 -all"] },
      "_dmarc.sampled.test": { txt: ["v=DMARC1; p=reject; pct=10"] },
    });
  });
  after(() => dns.close());

  function check(options: { enforce?: boolean; random?: () => number } = {}) {
    const resolve = createPolicyResolver({
      servers: [{ host: dns.host, port: dns.port }],
      timeoutMs: 1000,
      tries: 1,
    });
    return createAuthenticationCheck({
      config: {
        enabled: true,
        arc: true,
        enforceDmarcReject: options.enforce ?? true,
        authservId: "mx.test",
      },
      resolve,
      logger,
      ...(options.random ? { random: options.random } : {}),
    });
  }

  test("aligned SPF and DKIM: spf=pass, dkim=pass, dmarc=pass in Authentication-Results", async () => {
    const verdict = await check().check(
      session(),
      { sender: "news@good.test", recipients: ["rcpt@example.net"] },
      await signed("news@good.test", "pass", "good.test"),
    );
    assert.ok("headers" in verdict);
    const ar = verdict.headers.find((h) => h.startsWith("Authentication-Results: "));
    assert.ok(ar, `no Authentication-Results in ${JSON.stringify(verdict.headers)}`);
    assert.match(ar, /^Authentication-Results: mx\.test;/);
    assert.match(ar, /dkim=pass header\.i=@good\.test header\.s=sel/);
    assert.match(ar, /spf=pass[^;]*smtp\.mailfrom=news@good\.test/);
    assert.match(ar, /dmarc=pass \(p=REJECT arc=none\) header\.from=good\.test/);
    assert.ok(verdict.headers.some((h) => /^Received-SPF: pass/.test(h)));
    for (const h of verdict.headers) assert.doesNotMatch(h, /\r\n$/, "fields come without their final CRLF");
  });

  test("Authentication-Results under our authserv-id from outside are taken out; others stay", async () => {
    const forged = [
      "Authentication-Results: mx.test; dkim=pass header.d=bank.example; dmarc=pass",
      "Authentication-Results: (forged) MX.Test 1;\r\n spf=pass smtp.mailfrom=bank.example",
      "Authentication-Results: other.example; spf=fail",
    ].join("\r\n");
    const signedMessage = await signed("news@good.test", "forged-ar", "good.test");
    const received = Buffer.concat([Buffer.from(`${forged}\r\n`), signedMessage]);
    const envelope = { sender: "news@good.test", recipients: ["rcpt@example.net"] };

    const verdict = await check().check(session(), envelope, received);
    assert.ok("headers" in verdict);
    assert.ok(verdict.content, "the message is rewritten");
    const stored = verdict.content.toString();
    assert.doesNotMatch(stored, /bank\.example/);
    assert.match(stored, /^Authentication-Results: other\.example; spf=fail\r\n/);
    assert.ok(stored.endsWith(signedMessage.toString()), "the rest is untouched");
    assert.match(verdict.headers.join("\n"), /dkim=pass header\.i=@good\.test/, "and still verifies");

    const fromTrusted = await check().check(session({ trusted: true }), envelope, received);
    assert.ok("headers" in fromTrusted);
    assert.equal(fromTrusted.content, undefined, "a trusted MTA's results are kept");
  });

  test("DMARC fail with p=reject and enforcement: 550 5.7.1 with the DMARC result", async () => {
    const verdict = await check().check(
      session({ helo: "client.example" }),
      { sender: "ceo@strict.test", recipients: ["rcpt@example.net"] },
      Buffer.from(message("ceo@strict.test", "forged")),
    );
    assert.ok("reply" in verdict, JSON.stringify(verdict));
    assert.equal(verdict.reply.code, 550);
    assert.equal(verdict.reply.enhanced, "5.7.1");
    assert.match(
      verdict.reply.text,
      /^Message rejected by the DMARC policy of strict\.test: dmarc=fail \(p=REJECT arc=none\) header\.from=strict\.test/,
    );
  });

  test("without enforcement the failing message gets dmarc=fail and spf=fail headers", async () => {
    const verdict = await check({ enforce: false }).check(
      session({ helo: "client.example" }),
      { sender: "ceo@strict.test", recipients: ["rcpt@example.net"] },
      Buffer.from(message("ceo@strict.test", "forged")),
    );
    assert.ok("headers" in verdict);
    const ar = verdict.headers.join("\n");
    assert.match(ar, /spf=fail/);
    assert.match(ar, /dmarc=fail/);
    assert.match(ar, /dkim=none/);
  });

  test("a DKIM signature by another domain does not align: refused under p=reject", async () => {
    const verdict = await check().check(
      session({ clientAddress: "192.0.2.77", helo: "other.example" }),
      { sender: "x@other.example", recipients: ["rcpt@example.net"] },
      await signed("ceo@good.test", "unaligned", "good.test").then((b) =>
        Buffer.from(b.toString().replace("From: Sender <ceo@good.test>", "From: Sender <ceo@strict.test>")),
      ),
    );
    assert.ok("reply" in verdict);
    assert.equal(verdict.reply.code, 550);
  });

  test("pct below 100 applies p=reject to that share of the failing messages only", async () => {
    const envelope = { sender: "a@sampled.test", recipients: ["rcpt@example.net"] };
    const body = Buffer.from(message("a@sampled.test", "sampled"));
    const spared = await check({ random: () => 0.5 }).check(session(), envelope, body);
    assert.ok("headers" in spared);
    const hit = await check({ random: () => 0.05 }).check(session(), envelope, body);
    assert.ok("reply" in hit);
  });

  test("a message sealed by a forwarder: arc=pass", async () => {
    const text = message("list@example.org", "forwarded");
    const seal = await sealMessage(text, {
      signingDomain: "good.test",
      selector: "sel",
      privateKey,
      // createSeal's fields beyond the typed ARCSealOptions: the chain's first instance.
      ...({
        i: 1,
        cv: "none",
        authResults: "forwarder.good.test; spf=pass smtp.mailfrom=list@example.org",
      } as object),
    });
    const verdict = await check({ enforce: false }).check(
      session(),
      { sender: "news@good.test", recipients: ["rcpt@example.net"] },
      Buffer.concat([seal, Buffer.from(text)]),
    );
    assert.ok("headers" in verdict);
    assert.match(verdict.headers.join("\n"), /arc=pass \(i=1 spf=pass/);
  });

  test("authenticated sessions are not checked", async () => {
    const verdict = await check().check(
      session({ user: "alice" }),
      { sender: "ceo@strict.test", recipients: ["rcpt@example.net"] },
      Buffer.from(message("ceo@strict.test", "own user")),
    );
    assert.deepEqual(verdict, { headers: [] });
  });

  test("the null sender is checked on the HELO name", async () => {
    const verdict = await check().check(
      session(),
      { sender: "", recipients: ["rcpt@example.net"] },
      await signed("mailer-daemon@good.test", "bounce", "good.test"),
    );
    assert.ok("headers" in verdict);
    assert.match(
      verdict.headers.join("\n"),
      /spf=pass[^;]*smtp\.(helo=client\.good\.test|mailfrom=postmaster@client\.good\.test)/,
    );
  });

  test("splitHeaderFields keeps folded lines inside their field", () => {
    assert.deepEqual(splitHeaderFields("A: 1\r\n 2\r\nB: 3\r\n"), ["A: 1\r\n 2", "B: 3"]);
  });
});

test("authservIdOf: the first token, comments and version dropped, lower-cased", () => {
  assert.equal(authservIdOf(" mx.test; spf=pass"), "mx.test");
  assert.equal(authservIdOf("(comment) MX.Test 1; dkim=none"), "mx.test");
  assert.equal(authservIdOf("mx.test;"), "mx.test");
  assert.equal(authservIdOf("mx.test.evil; spf=pass"), "mx.test.evil");
  assert.equal(authservIdOf(""), "");
});
