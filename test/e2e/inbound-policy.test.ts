/**
 * Scenario: the inbound policy checks of issue #5 on a real `mailfleet start` process and real
 * sockets. Clients bind to different 127.0.0.x addresses, so each check's per-IP counters stay
 * apart:
 *
 * - rate limits: concurrent connections and connections per minute (421 4.7.0 instead of the
 *   greeting), messages per minute (450 4.7.1 at MAIL), recipients per minute (452 4.5.3);
 * - SPF/DKIM/DMARC with mailauth against the test DNS server: a signed message is delivered to a
 *   real MTA (smtp-sink) carrying Authentication-Results; a forged one under p=reject gets
 *   550 5.7.1;
 * - DNSBL: 127.0.0.2, listed in the test DNS, is refused with 554 5.7.1 at connect;
 * - rspamd (the real daemon): the GTUBE message gets 554 5.7.1;
 * - in a fleet, the input instance adds Authentication-Results without any `policy:` key (its
 *   role's default) and the output instance adds none of its own.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { dkimSign } from "mailauth";
import { type DnsServer, startDnsServer } from "../support/dns-server.ts";
import { eventually, startWorld, type World } from "../support/e2e-world.ts";
import { type MailfleetProcess, startMailfleet, writeConfig } from "../support/mailfleet-process.ts";
import { canConnect, freePort } from "../support/ports.ts";
import { RSPAMD_MISSING, type Rspamd, useRspamd } from "../support/rspamd.ts";
import { openSmtp, type SmtpDialog } from "../support/smtp-dialog.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";

const GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/** RSA 1024: the public key fits one TXT string of the test DNS server. */
const keys = generateKeyPairSync("rsa", { modulusLength: 1024 });
const privateKey = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const publicKey = keys.publicKey.export({ type: "spki", format: "der" }).toString("base64");

function message(from: string, subject: string, body = "Hello from the policy scenario."): string {
  return [
    `From: <${from}>`,
    "To: <bob@example.test>",
    `Subject: ${subject}`,
    "Date: Mon, 23 Nov 2026 10:00:00 +0000",
    `Message-ID: <${subject.replace(/\W+/g, "-")}@policy.test>`,
    "",
    body,
    "",
  ].join("\r\n");
}

/** MAIL, RCPT, DATA and the message; the reply to the final dot (or the first refusal). */
async function transaction(smtp: SmtpDialog, from: string, text: string) {
  const mail = await smtp.command(`MAIL FROM:<${from}>`);
  if (mail.code !== 250) return mail;
  const rcpt = await smtp.command("RCPT TO:<bob@example.test>");
  if (rcpt.code !== 250) return rcpt;
  const data = await smtp.command("DATA");
  assert.equal(data.code, 354, data.raw);
  return smtp.sendRaw(`${text.replace(/^\./gm, "..")}.\r\n`);
}

async function session(port: number, localAddress: string): Promise<SmtpDialog> {
  const smtp = await openSmtp({ port, localAddress });
  assert.equal(smtp.greeting.code, 220, smtp.greeting.raw);
  assert.equal((await smtp.command("EHLO client.policy.test")).code, 250);
  return smtp;
}

describe("inbound policy", () => {
  let sink: Sink;
  let world: World;
  let rspamd: Rspamd | null;
  const open: SmtpDialog[] = [];

  before(async () => {
    rspamd = await useRspamd();
    sink = await startSink();
    const mxPort = sink.port;
    world = await startWorld({
      mxPort,
      zone: {
        "example.test": { mx: [{ preference: 10, exchange: "mx1.example.test" }] },
        "mx1.example.test": { a: ["127.0.0.1"] },
        "good.test": { txt: ["v=spf1 ip4:127.0.0.0/8 -all"] },
        "sel._domainkey.good.test": { txt: [`v=DKIM1; k=rsa; p=${publicKey}`] },
        "_dmarc.good.test": { txt: ["v=DMARC1; p=reject"] },
        "strict.test": { txt: ["v=spf1 ip4:192.0.2.1 -all"] },
        "_dmarc.strict.test": { txt: ["v=DMARC1; p=reject"] },
        "2.0.0.127.bl.test": { a: ["127.0.0.2"], txt: ["listed for the policy scenario"] },
      },
      config: {
        policy: {
          rate_limits: {
            client_ip: {
              concurrent_connections: 2,
              connections_per_minute: 4,
              messages_per_minute: 3,
              recipients_per_minute: 5,
            },
          },
          authentication: { enabled: true, enforce_dmarc_reject: true },
          dnsbl: { zones: ["bl.test"], check_at: "connect" },
          // Without an rspamd binary this points at nothing and fails open.
          rspamd: { url: rspamd?.url ?? `http://127.0.0.1:${await freePort()}`, fail: "open" },
        },
      },
    });
  });

  after(async () => {
    for (const smtp of open) smtp.close();
    await world?.close();
    await sink?.destroy();
    await rspamd?.stop();
  });

  it("refuses the third concurrent connection from one client with 421 4.7.0 instead of the greeting", {
    timeout: 30_000,
  }, async () => {
    const first = await openSmtp({ port: world.smtpPort, localAddress: "127.0.0.3" });
    const second = await openSmtp({ port: world.smtpPort, localAddress: "127.0.0.3" });
    open.push(first, second);
    assert.equal(first.greeting.code, 220);
    assert.equal(second.greeting.code, 220);
    const third = await openSmtp({ port: world.smtpPort, localAddress: "127.0.0.3" });
    assert.equal(
      third.greeting.raw,
      "421 4.7.0 Too many concurrent connections from client [127.0.0.3], try again later",
    );
    assert.equal(await third.closedWithin(5000), true);
    const other = await openSmtp({ port: world.smtpPort, localAddress: "127.0.0.9" });
    assert.equal(other.greeting.code, 220, "another client is not affected");
    other.close();
    first.close();
    await eventually("a freed slot", async () => {
      const next = await openSmtp({ port: world.smtpPort, localAddress: "127.0.0.3" });
      next.close();
      return next.greeting.code === 220 ? true : undefined;
    });
    second.close();
  });

  it("refuses the fifth connection in a minute with 421 4.7.0", { timeout: 30_000 }, async () => {
    for (let i = 0; i < 4; i++) {
      const smtp = await openSmtp({ port: world.smtpPort, localAddress: "127.0.0.8" });
      assert.equal(smtp.greeting.code, 220, `connection ${i + 1}: ${smtp.greeting.raw}`);
      await smtp.command("QUIT");
      smtp.close();
    }
    const fifth = await openSmtp({ port: world.smtpPort, localAddress: "127.0.0.8" });
    assert.equal(
      fifth.greeting.raw,
      "421 4.7.0 Too many connections from client [127.0.0.8], try again later",
    );
    fifth.close();
  });

  it("answers the fourth MAIL in a minute with 450 4.7.1", { timeout: 30_000 }, async () => {
    const smtp = await session(world.smtpPort, "127.0.0.6");
    open.push(smtp);
    for (let i = 0; i < 3; i++) {
      assert.equal((await smtp.command(`MAIL FROM:<m${i}@good.test>`)).code, 250);
      assert.equal((await smtp.command("RSET")).code, 250);
    }
    const refused = await smtp.command("MAIL FROM:<m3@good.test>");
    assert.equal(refused.raw, "450 4.7.1 Too many messages from client [127.0.0.6], try again later");
    smtp.close();
  });

  it("answers the sixth RCPT in a minute with 452 4.5.3, keeping the earlier ones", {
    timeout: 30_000,
  }, async () => {
    const smtp = await session(world.smtpPort, "127.0.0.7");
    open.push(smtp);
    assert.equal((await smtp.command("MAIL FROM:<r@good.test>")).code, 250);
    for (let i = 0; i < 5; i++) assert.equal((await smtp.command(`RCPT TO:<r${i}@example.test>`)).code, 250);
    const refused = await smtp.command("RCPT TO:<r5@example.test>");
    assert.equal(refused.raw, "452 4.5.3 Too many recipients from client [127.0.0.7], try again later");
    assert.equal((await smtp.command("RSET")).code, 250);
    smtp.close();
  });

  it("adds Authentication-Results (SPF, DKIM, DMARC pass) to a delivered message", {
    timeout: 60_000,
  }, async () => {
    const text = message("news@good.test", "signed and aligned");
    const key = { signingDomain: "good.test", selector: "sel", privateKey };
    const signed = await dkimSign(text, { ...key, signatureData: [key] });
    assert.deepEqual(signed.errors, []);
    const smtp = await session(world.smtpPort, "127.0.0.1");
    open.push(smtp);
    const reply = await transaction(smtp, "news@good.test", signed.signatures + text);
    assert.equal(reply.code, 250, reply.raw);
    smtp.close();
    const copy = await eventually("the sink's copy", async () =>
      (await sink.messages()).find((m) => m.content.includes("Subject: signed and aligned")),
    );
    const ar = /^Authentication-Results: mailfleet\.test;\n(?:[ \t].*\n)+/m.exec(copy.content)?.[0];
    assert.ok(ar, `no Authentication-Results in:\n${copy.content}`);
    assert.match(ar, /dkim=pass header\.i=@good\.test/);
    assert.match(ar, /spf=pass .*smtp\.mailfrom=news@good\.test/);
    assert.match(ar, /dmarc=pass \(p=REJECT/);
    assert.match(copy.content, /^Received-SPF: pass /m);
    assert.doesNotMatch(copy.content, /^X-Spam: Yes/m);
  });

  it("refuses a message failing DMARC of a p=reject domain with 550 5.7.1", { timeout: 30_000 }, async () => {
    const smtp = await session(world.smtpPort, "127.0.0.4");
    open.push(smtp);
    const reply = await transaction(smtp, "ceo@strict.test", message("ceo@strict.test", "forged ceo"));
    assert.equal(reply.code, 550, reply.raw);
    assert.match(
      reply.raw,
      /^550 5\.7\.1 Message rejected by the DMARC policy of strict\.test: dmarc=fail \(p=REJECT/,
    );
    assert.equal((await smtp.command("NOOP")).code, 250, "the session goes on");
    smtp.close();
  });

  it("refuses a client listed in the DNSBL with 554 5.7.1 at connect", { timeout: 30_000 }, async () => {
    const smtp = await openSmtp({ port: world.smtpPort, localAddress: "127.0.0.2" });
    assert.equal(
      smtp.greeting.raw,
      "554 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.test; listed for the policy scenario",
    );
    assert.equal(await smtp.closedWithin(5000), true);
  });

  it("refuses the GTUBE test message through rspamd with 554 5.7.1", { timeout: 30_000 }, async (t) => {
    if (rspamd === null) return t.skip(RSPAMD_MISSING);
    const smtp = await session(world.smtpPort, "127.0.0.5");
    open.push(smtp);
    const reply = await transaction(smtp, "news@good.test", message("news@good.test", "gtube", GTUBE));
    assert.equal(reply.raw, "554 5.7.1 Spam message rejected: Gtube pattern");
    smtp.close();
    assert.equal(
      (await sink.messages()).some((m) => m.content.includes("Subject: gtube")),
      false,
      "nothing was delivered",
    );
  });
});

describe("inbound policy defaults of a fleet's input instance", () => {
  let dir = "";
  let dns: DnsServer;
  let sink: Sink;
  let fleet: MailfleetProcess | null = null;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mailfleet-policy-fleet-"));
    dns = await startDnsServer({
      "example.test": { mx: [{ preference: 10, exchange: "mx1.example.test" }] },
      "mx1.example.test": { a: ["127.0.0.1"] },
      "good.test": { txt: ["v=spf1 ip4:127.0.0.0/8 -all"] },
    });
    sink = await startSink({ host: "127.0.0.1", port: await freePort() });
  });
  after(async () => {
    await fleet?.stop();
    await sink?.destroy();
    await dns?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("the input instance adds Authentication-Results by default, taking out forged ones under its name; the output instance adds none", {
    timeout: 60_000,
  }, async () => {
    const inPort = await freePort();
    const outPort = await freePort();
    const yaml = `hostname: fleet.test
run_dir: ${dir}/run
log: { file: ${dir}/mail.log }
dns: { servers: ["127.0.0.1:${dns.port}"], timeout: 1s, tries: 1 }
instances:
  input:
    role: input
    spool_dir: ${dir}/spool-in
    listen: ["127.0.0.1:${inPort}"]
    relay: { trusted_networks: ["127.0.0.1/32"], local_domains: [example.test] }
  output:
    role: output
    spool_dir: ${dir}/spool-out
    listen: ["127.0.0.1:${outPort}"]
    delivery: { allow_private_destinations: true }
    transports: { mx: { port: ${sink.port}, retry_schedule: [1s] } }
`;
    fleet = await startMailfleet(await writeConfig(dir, yaml));
    for (const port of [inPort, outPort]) {
      await eventually(`a listener on ${port}`, async () =>
        (await canConnect("127.0.0.1", port)) ? true : undefined,
      );
    }
    // From outside the input's trusted networks, with results forged under its authserv-id.
    const forged = [
      "Authentication-Results: fleet.test; dkim=pass header.d=bank.example; dmarc=pass",
      "Authentication-Results: other.example; spf=neutral",
    ].join("\r\n");
    const smtp = await session(inPort, "127.0.0.5");
    const reply = await transaction(
      smtp,
      "news@good.test",
      `${forged}\r\n${message("news@good.test", "through the input")}`,
    );
    assert.equal(reply.code, 250, reply.raw);
    smtp.close();
    const copy = await eventually("the sink's copy", async () =>
      (await sink.messages()).find((m) => m.content.includes("Subject: through the input")),
    );
    const results = copy.content.match(/^Authentication-Results: .*$/gm) ?? [];
    assert.deepEqual(
      results,
      ["Authentication-Results: fleet.test;", "Authentication-Results: other.example; spf=neutral"],
      copy.content,
    );
    assert.doesNotMatch(copy.content, /bank\.example/);
    assert.match(copy.content, /^ spf=pass .*smtp\.mailfrom=news@good\.test/m);
    assert.match(copy.content, /^ dkim=none/m);
  });
});
