/**
 * STARTTLS, implicit TLS and AUTH on the listener: what is offered before and after TLS, the
 * plaintext-injection defence (CVE-2011-0411 class), identical 535 replies, the per-login sender
 * list, the failed-AUTH limit, and interop with nodemailer's client.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { hashPassword } from "../auth/password.ts";
import { writeUsersFile } from "../auth/users-file.ts";
import type { Config } from "../config/types.ts";
import { createSelfSigned } from "./self-signed.ts";
import { RawSmtpClient, type RunningListener, startTestListener, testConfig } from "./test-harness.ts";

const FAST = { N: 1024, r: 8, p: 1 };
const plain = (user: string, password: string) => Buffer.from(`\0${user}\0${password}`).toString("base64");
const b64 = (text: string) => Buffer.from(text).toString("base64");

describe("listener TLS and AUTH", () => {
  let dir: string;
  let usersFile: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "mf-tls-auth-"));
    const { keyPem, certPem } = createSelfSigned({ hostname: "mx.test.example" });
    writeFileSync(join(dir, "cert.pem"), certPem);
    writeFileSync(join(dir, "key.pem"), keyPem);
    usersFile = join(dir, "users");
    await writeUsersFile(usersFile, [
      {
        name: "alice@example.com",
        hash: await hashPassword("alice-pw", FAST),
        allowedSenders: ["alice@example.com"],
      },
      { name: "app", hash: await hashPassword("app-pw", FAST), allowedSenders: ["@example.org", "*"] },
    ]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** 127.0.0.1 is not trusted here: only AUTH lets it relay. */
  function config(extra: Partial<Config> = {}, maxFailures = 5): Config {
    return {
      ...testConfig({ trustedNetworks: ["127.0.0.2/32"] }),
      tls: { certFile: join(dir, "cert.pem"), keyFile: join(dir, "key.pem") },
      auth: { usersFile, maxFailures, failureWindowMs: 60_000 },
      ...extra,
    };
  }

  async function withClient(
    cfg: Config,
    body: (client: RawSmtpClient, running: RunningListener) => Promise<void>,
    connect = RawSmtpClient.connect,
  ): Promise<RunningListener> {
    const running = await startTestListener(cfg);
    const client = await connect(running.port);
    try {
      await body(client, running);
    } finally {
      client.close();
      await running.listener.stop();
    }
    return running;
  }

  async function startTls(client: RawSmtpClient): Promise<void> {
    assert.equal((await client.command("STARTTLS")).code, 220);
    await client.startTls();
  }

  it("offers STARTTLS but not AUTH before TLS; AUTH gets 530 5.7.0; after TLS AUTH and no STARTTLS", async () => {
    await withClient(config(), async (client) => {
      const before = (await client.hello()).lines.map((l) => l.slice(4));
      assert.ok(before.includes("STARTTLS"), before.join(","));
      assert.ok(!before.some((l) => l.startsWith("AUTH")), before.join(","));
      assert.equal(
        (await client.command(`AUTH PLAIN ${plain("app", "app-pw")}`)).last,
        "530 5.7.0 Must issue a STARTTLS command first",
      );
      await startTls(client);
      const afterTls = (await client.command("EHLO client.test.example")).lines.map((l) => l.slice(4));
      assert.ok(afterTls.includes("AUTH PLAIN LOGIN"), afterTls.join(","));
      assert.ok(!afterTls.includes("STARTTLS"), afterTls.join(","));
    });
  });

  for (const injected of ["RSET", "MAIL FROM:<evil@evil.example>", "NOOP"]) {
    it(`discards "${injected}" pipelined behind STARTTLS, and wants a new EHLO (503 5.5.1)`, async () => {
      await withClient(config(), async (client) => {
        await client.hello();
        client.send(`STARTTLS\r\n${injected}\r\n`);
        assert.equal((await client.reply()).code, 220);
        await client.startTls();
        // Nothing was answered for the injected command, in plaintext or inside TLS.
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.ok(client.idle, "no reply to the injected command");
        assert.equal(
          (await client.command("MAIL FROM:<a@example.com>")).last,
          "503 5.5.1 Error: send HELO/EHLO first",
        );
        assert.equal((await client.command("EHLO client.test.example")).code, 250);
        // Had the injected MAIL run inside TLS, this would be "503 nested MAIL".
        assert.equal((await client.command(`AUTH PLAIN ${plain("app", "app-pw")}`)).code, 235);
        assert.equal((await client.command("MAIL FROM:<x@example.org>")).code, 250);
      });
    });
  }

  it("PLAIN and LOGIN succeed; unknown login and wrong password get the identical 535 5.7.8", async () => {
    await withClient(config(), async (client) => {
      await client.hello();
      await startTls(client);
      await client.command("EHLO client.test.example");
      const unknown = await client.command(`AUTH PLAIN ${plain("nobody", "alice-pw")}`);
      const wrong = await client.command(`AUTH PLAIN ${plain("alice@example.com", "nope")}`);
      assert.equal(unknown.last, "535 5.7.8 Authentication credentials invalid");
      assert.equal(wrong.last, unknown.last);
      assert.equal((await client.command("AUTH LOGIN")).last, "334 VXNlcm5hbWU6");
      assert.equal((await client.command(b64("nobody"))).code, 334);
      assert.equal((await client.command(b64("x"))).last, unknown.last);
      assert.equal((await client.command("AUTH LOGIN")).code, 334);
      assert.equal((await client.command(b64("Alice@Example.com"))).code, 334);
      assert.equal((await client.command(b64("alice-pw"))).last, "235 2.7.0 Authentication successful");
    });
  });

  it("an authenticated login relays anywhere, but only from its own senders (553 5.7.1)", async () => {
    const running = await withClient(config(), async (client) => {
      await client.hello();
      assert.equal((await client.command("MAIL FROM:<alice@example.com>")).code, 250);
      assert.equal(
        (await client.command("RCPT TO:<rcpt@dest.example>")).last,
        "554 5.7.1 Relay access denied",
      );
      await client.command("RSET");
      await startTls(client);
      await client.command("EHLO client.test.example");
      assert.equal((await client.command(`AUTH PLAIN ${plain("alice@example.com", "alice-pw")}`)).code, 235);
      assert.equal(
        (await client.command("MAIL FROM:<bob@example.com>")).last,
        "553 5.7.1 <bob@example.com>: Sender address rejected: not owned by user alice@example.com",
      );
      assert.equal((await client.command("MAIL FROM:<>")).code, 553, "the null sender needs *");
      assert.equal((await client.command("MAIL FROM:<alice@example.com>")).code, 250);
      assert.equal((await client.command("RCPT TO:<rcpt@dest.example>")).code, 250);
      assert.equal((await client.command("DATA")).code, 354);
      client.send("Subject: hi\r\n\r\nhello\r\n.\r\n");
      assert.equal((await client.reply()).code, 250);
    });
    const body = running.receiver.accepted[0]!.body.toString();
    assert.match(body, /with ESMTPSA\r\n/, "authenticated over TLS");
  });

  it("refuses AUTH with 450 4.7.1 after too many failures from one address, even with the right password", async () => {
    await withClient(config({}, 2), async (client) => {
      await client.hello();
      await startTls(client);
      await client.command("EHLO client.test.example");
      for (let i = 0; i < 2; i++)
        assert.equal((await client.command(`AUTH PLAIN ${plain("app", "bad")}`)).code, 535);
      const limited = await client.command(`AUTH PLAIN ${plain("app", "app-pw")}`);
      assert.equal(limited.last, "450 4.7.1 Too many failed authentication attempts, try again later");
      assert.equal((await client.command("AUTH LOGIN")).code, 450, "refused before the exchange starts");
    });
  });

  it("serves implicit TLS from the first byte, with AUTH offered at once", async () => {
    const cfg = config({ listen: [{ host: "127.0.0.1", port: 0, tls: "implicit" }] });
    await withClient(
      cfg,
      async (client) => {
        const ehlo = (await client.hello()).lines.map((l) => l.slice(4));
        assert.ok(ehlo.includes("AUTH PLAIN LOGIN"), ehlo.join(","));
        assert.ok(!ehlo.includes("STARTTLS"));
        assert.equal((await client.command(`AUTH PLAIN ${plain("app", "app-pw")}`)).code, 235);
      },
      RawSmtpClient.connectTls,
    );
  });

  it("a tls: none listener offers neither STARTTLS nor AUTH", async () => {
    const cfg = config({ listen: [{ host: "127.0.0.1", port: 0, tls: "none" }] });
    await withClient(cfg, async (client) => {
      const ehlo = (await client.hello()).lines.map((l) => l.slice(4));
      assert.ok(!ehlo.includes("STARTTLS") && !ehlo.some((l) => l.startsWith("AUTH")), ehlo.join(","));
      assert.match((await client.command("STARTTLS")).last, /^5\d\d /);
    });
  });

  it("picks up a changed users file without a restart", async () => {
    const own = join(dir, "users-changing");
    await writeUsersFile(own, []);
    const cfg = config({ auth: { usersFile: own, maxFailures: 0, failureWindowMs: 1000 } });
    await withClient(cfg, async (client) => {
      await client.hello();
      await startTls(client);
      await client.command("EHLO client.test.example");
      assert.equal((await client.command(`AUTH PLAIN ${plain("late", "pw")}`)).code, 535);
      await writeUsersFile(own, [
        { name: "late", hash: await hashPassword("pw", FAST), allowedSenders: ["*"] },
      ]);
      assert.equal((await client.command(`AUTH PLAIN ${plain("late", "pw")}`)).code, 235);
    });
  });

  it("interoperates with nodemailer's client: STARTTLS, AUTH LOGIN and a message", async () => {
    const running = await startTestListener(config());
    try {
      const connection = new SMTPConnection({
        host: "127.0.0.1",
        port: running.port,
        name: "nm.example",
        requireTLS: true,
        tls: { rejectUnauthorized: false },
      });
      await new Promise<void>((resolve, reject) =>
        connection.connect((err) => (err ? reject(err) : resolve())),
      );
      await new Promise<void>((resolve, reject) =>
        connection.login({ user: "app", pass: "app-pw", method: "LOGIN" }, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      const info = await new Promise<{ response: string }>((resolve, reject) =>
        connection.send(
          { from: "x@example.org", to: ["rcpt@dest.example"] },
          "Subject: nm\r\n\r\nhi\r\n",
          (err, result) => (err || !result ? reject(err) : resolve(result)),
        ),
      );
      connection.quit();
      assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
      assert.equal(running.receiver.accepted[0]?.message.sender, "x@example.org");
    } finally {
      await running.listener.stop();
    }
  });
});
