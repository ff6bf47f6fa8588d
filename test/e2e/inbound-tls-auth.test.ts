/**
 * Scenario: TLS and AUTH on a real mailfleet (issue #5). The certificate comes from `mailfleet
 * tls self-signed`, the logins from `mailfleet user add`. Clients from 127.0.0.2 are not in a
 * trusted network, so only AUTH lets them relay. Checked on real sockets:
 * STARTTLS and implicit TLS; AUTH only over TLS (530 5.7.0 before); plaintext pipelined behind
 * STARTTLS is discarded and a new EHLO is required (503 5.5.1); unknown login and wrong password
 * get the identical 535 5.7.8; a sender the login may not use gets 553 5.7.1; failed AUTHs are
 * limited per client IP (450 4.7.1); users added or removed while running take effect; swaks
 * (--tls --auth) interoperates; an authenticated message is delivered to the real MTA behind MX.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { RawSmtpClient } from "../../src/smtp-server/test-harness.ts";
import { eventually, runCliBounded } from "../support/e2e-world.ts";
import { type InboundWorld, startInboundWorld } from "../support/inbound-world.ts";
import { writeConfig } from "../support/mailfleet-process.ts";

const run = promisify(execFile);
const plain = (user: string, password: string) => Buffer.from(`\0${user}\0${password}`).toString("base64");
const b64 = (text: string) => Buffer.from(text).toString("base64");
const ALICE = { name: "alice@client.test", password: "alice-password-1", allow: ["alice@client.test"] };
const APP = { name: "app", password: "app-password-12", allow: ["@client.test"] };

describe("inbound TLS and AUTH", () => {
  let inbound: InboundWorld;

  before(async () => {
    inbound = await startInboundWorld({
      tls: true,
      logins: [ALICE, APP],
      config: { auth: { users_file: "users", max_failures: 3, failure_window: "5m" } },
    });
  });

  after(async () => {
    await inbound?.close();
  });

  /** A stranger's session (127.0.0.2 by default) after STARTTLS and a second EHLO. */
  async function tlsSession(localAddress = "127.0.0.2"): Promise<RawSmtpClient> {
    const client = await RawSmtpClient.connect(inbound.port, localAddress);
    await client.hello();
    assert.equal((await client.command("STARTTLS")).code, 220);
    await client.startTls();
    assert.equal((await client.command("EHLO client.test")).code, 250);
    return client;
  }

  it("offers STARTTLS, not AUTH, before TLS; AUTH there gets 530 5.7.0", { timeout: 30_000 }, async () => {
    const client = await RawSmtpClient.connect(inbound.port, "127.0.0.2");
    try {
      const ehlo = (await client.hello()).lines.map((l) => l.slice(4));
      assert.ok(ehlo.includes("STARTTLS"), ehlo.join(","));
      assert.ok(!ehlo.some((l) => l.startsWith("AUTH")), ehlo.join(","));
      const auth = await client.command(`AUTH PLAIN ${plain(ALICE.name, ALICE.password)}`);
      assert.equal(auth.last, "530 5.7.0 Must issue a STARTTLS command first");
      assert.equal((await client.command("STARTTLS")).code, 220);
      await client.startTls();
      const secured = (await client.command("EHLO client.test")).lines.map((l) => l.slice(4));
      assert.ok(secured.includes("AUTH PLAIN LOGIN") && !secured.includes("STARTTLS"), secured.join(","));
    } finally {
      client.close();
    }
  });

  for (const injected of ["RSET", "MAIL FROM:<evil@evil.test>"]) {
    it(`discards "${injected}" sent in one write with STARTTLS; MAIL needs a new EHLO`, {
      timeout: 30_000,
    }, async () => {
      const client = await RawSmtpClient.connect(inbound.port, "127.0.0.2");
      try {
        await client.hello();
        client.send(`STARTTLS\r\n${injected}\r\n`);
        assert.equal((await client.reply()).code, 220);
        await client.startTls(); // throws if a plaintext reply to the injected command came
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.ok(client.idle, "nothing answered the injected command inside TLS either");
        const mail = await client.command("MAIL FROM:<alice@client.test>");
        assert.equal(mail.last, "503 5.5.1 Error: send HELO/EHLO first");
        assert.equal((await client.command("EHLO client.test")).code, 250);
        assert.equal((await client.command(`AUTH PLAIN ${plain(APP.name, APP.password)}`)).code, 235);
        assert.equal(
          (await client.command("MAIL FROM:<x@client.test>")).code,
          250,
          "no MAIL ran before this one",
        );
      } finally {
        client.close();
      }
    });
  }

  it("answers an unknown login and a wrong password with the identical 535 5.7.8", {
    timeout: 30_000,
  }, async () => {
    const client = await tlsSession("127.0.0.4");
    try {
      const unknown = await client.command(`AUTH PLAIN ${plain("nobody@client.test", ALICE.password)}`);
      const wrong = await client.command(`AUTH PLAIN ${plain(ALICE.name, "not-the-password")}`);
      assert.equal(unknown.last, "535 5.7.8 Authentication credentials invalid");
      assert.equal(wrong.last, unknown.last);
    } finally {
      client.close();
    }
  });

  it("limits failed AUTHs per client IP with 450 4.7.1; other addresses are not affected", {
    timeout: 30_000,
  }, async () => {
    const client = await tlsSession("127.0.0.5");
    try {
      for (let i = 0; i < 3; i++) {
        assert.equal((await client.command(`AUTH PLAIN ${plain(APP.name, `wrong-${i}`)}`)).code, 535);
      }
      const limited = await client.command(`AUTH PLAIN ${plain(APP.name, APP.password)}`);
      assert.equal(limited.last, "450 4.7.1 Too many failed authentication attempts, try again later");
    } finally {
      client.close();
    }
    const again = await tlsSession("127.0.0.5");
    try {
      assert.equal((await again.command("AUTH LOGIN")).code, 450, "also in a new session from that address");
    } finally {
      again.close();
    }
    const other = await tlsSession("127.0.0.6");
    try {
      assert.equal((await other.command(`AUTH PLAIN ${plain(APP.name, APP.password)}`)).code, 235);
    } finally {
      other.close();
    }
  });

  it("relays for a login, only from its senders (553 5.7.1), and delivers the message", {
    timeout: 60_000,
  }, async () => {
    const client = await tlsSession();
    try {
      assert.equal((await client.command("MAIL FROM:<alice@client.test>")).code, 250);
      assert.equal((await client.command("RCPT TO:<bob@dest.test>")).last, "554 5.7.1 Relay access denied");
      await client.command("RSET");
      assert.equal((await client.command("AUTH LOGIN")).code, 334);
      assert.equal((await client.command(b64(ALICE.name))).code, 334);
      assert.equal((await client.command(b64(ALICE.password))).last, "235 2.7.0 Authentication successful");
      const foreign = await client.command("MAIL FROM:<ceo@client.test>");
      assert.equal(
        foreign.last,
        "553 5.7.1 <ceo@client.test>: Sender address rejected: not owned by user alice@client.test",
      );
      assert.equal((await client.command("MAIL FROM:<alice@client.test>")).code, 250);
      assert.equal((await client.command("RCPT TO:<bob@dest.test>")).code, 250);
      assert.equal((await client.command("DATA")).code, 354);
      client.send("Subject: tls-auth submission\r\n\r\nhello over TLS\r\n.\r\n");
      assert.match((await client.reply()).last, /^250 2\.0\.0 Ok: queued as /);
    } finally {
      client.close();
    }
    const copy = await eventually("the delivered copy", async () =>
      (await inbound.sink.messages()).find((m) => m.content.includes("Subject: tls-auth submission")),
    );
    assert.match(copy.content, /by mailfleet\.test \(mailfleet\) with ESMTPSA/);
  });

  it("serves implicit TLS on its own listener, AUTH offered at once", { timeout: 30_000 }, async () => {
    const client = await RawSmtpClient.connectTls(inbound.tlsPort, "127.0.0.2");
    try {
      const ehlo = (await client.hello()).lines.map((l) => l.slice(4));
      assert.ok(ehlo.includes("AUTH PLAIN LOGIN") && !ehlo.includes("STARTTLS"), ehlo.join(","));
      assert.equal((await client.command(`AUTH PLAIN ${plain(APP.name, APP.password)}`)).code, 235);
      assert.equal((await client.command("MAIL FROM:<app@client.test>")).code, 250);
      assert.equal((await client.command("RCPT TO:<carol@dest.test>")).code, 250);
    } finally {
      client.close();
    }
  });

  it("interoperates with swaks --tls --auth (STARTTLS) and --tls-on-connect", {
    timeout: 60_000,
  }, async () => {
    const common = ["--from", "alice@client.test", "--to", "dave@dest.test", "--auth-user", ALICE.name];
    const ok = await run("swaks", [
      "--server",
      `127.0.0.1:${inbound.port}`,
      "--local-interface",
      "127.0.0.2",
      "--tls",
      "--auth",
      "PLAIN",
      "--auth-password",
      ALICE.password,
      "--header",
      "Subject: swaks starttls",
      ...common,
    ]);
    assert.match(ok.stdout, /<~ {2}235 2\.7\.0 Authentication successful/);
    assert.match(ok.stdout, /<~ {2}250 2\.0\.0 Ok: queued as /);
    const implicit = await run("swaks", [
      "--server",
      `127.0.0.1:${inbound.tlsPort}`,
      "--local-interface",
      "127.0.0.2",
      "--tls-on-connect",
      "--auth",
      "LOGIN",
      "--auth-password",
      ALICE.password,
      "--header",
      "Subject: swaks implicit",
      ...common,
    ]);
    assert.match(implicit.stdout, /<~ {2}250 2\.0\.0 Ok: queued as /);
    const refused = await run("swaks", [
      "--server",
      `127.0.0.1:${inbound.port}`,
      "--local-interface",
      "127.0.0.7",
      "--tls",
      "--auth",
      "PLAIN",
      "--auth-password",
      "wrong-password",
      ...common,
    ]).catch((error: { stdout: string }) => error);
    assert.match(refused.stdout, /<~\* 535 5\.7\.8 Authentication credentials invalid/);
    for (const subject of ["swaks starttls", "swaks implicit"]) {
      await eventually(subject, async () =>
        (await inbound.sink.messages()).find((m) => m.content.includes(`Subject: ${subject}`)),
      );
    }
  });

  it("takes logins added and removed with `mailfleet user` while running", { timeout: 30_000 }, async () => {
    const added = await inbound.user(["add", "late@client.test", "--password-stdin"], "late-password-1\n");
    assert.equal(added.code, 0, added.stderr);
    const listed = await inbound.user(["list"]);
    assert.match(listed.stdout, /^late@client\.test\tlate@client\.test$/m);
    const client = await tlsSession("127.0.0.8");
    try {
      assert.equal(
        (await client.command(`AUTH PLAIN ${plain("late@client.test", "late-password-1")}`)).code,
        235,
      );
    } finally {
      client.close();
    }
    assert.equal((await inbound.user(["remove", "late@client.test"])).code, 0);
    const after = await tlsSession("127.0.0.8");
    try {
      assert.equal(
        (await after.command(`AUTH PLAIN ${plain("late@client.test", "late-password-1")}`)).code,
        535,
      );
    } finally {
      after.close();
    }
  });

  it("refuses to start with a missing certificate, naming the file and its line", {
    timeout: 30_000,
  }, async () => {
    const dir = join(inbound.world.dir, "broken");
    await mkdir(dir);
    const key = join(inbound.world.dir, "tls/key.pem");
    const path = await writeConfig(
      dir,
      `listen: ['127.0.0.1:0']\ntls:\n  cert: missing/cert.pem\n  key: ${key}\n`,
    );
    const expected =
      /mailfleet\.yaml:3:9: tls\.cert: found "missing\/cert\.pem", expected a readable certificate file \(ENOENT/;
    const check = await runCliBounded(["check", "-c", path]);
    assert.equal(check.code, 78, check.stderr);
    assert.match(check.stderr, expected);
    const start = await runCliBounded(["start", "-c", path]);
    assert.equal(start.code, 78, start.stderr);
    assert.match(start.stderr, expected);
  });
});
