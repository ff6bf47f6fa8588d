/**
 * Scenario: tenants, bounce classes and automatic suppression on one real mailfleet. Clients
 * name their tenant in an X-Mailfleet-Tenant header. The default transport goes to a peer
 * (smtp-server) that answers 550 5.1.1 for gone@dest.test; a route for tenant "beta" goes to a
 * Postfix smtp-sink instead. Checked: the hard bounce is logged with class=invalid_recipient and
 * the real relay, it lands on tenant acme's suppression list, acme's next message to the address
 * is refused (all recipients suppressed) or has that recipient bounced without an attempt, beta's
 * message to it is delivered through beta's transport, the tenant header never reaches a receiver,
 * and `mailfleet suppression list|remove` work through the admin API.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SMTPServer } from "smtp-server";
import { eventually } from "../support/e2e-world.ts";
import { type MailfleetProcess, runCli, startMailfleet, writeConfig } from "../support/mailfleet-process.ts";
import { canConnect, freePort } from "../support/ports.ts";
import { openSmtp } from "../support/smtp-dialog.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";

interface Peer {
  port: number;
  rcpts: string[];
  contents: string[];
  close(): Promise<void>;
}

/** A receiver that refuses gone@dest.test as an unknown user and keeps what it accepts. */
async function startPeer(): Promise<Peer> {
  const rcpts: string[] = [];
  const contents: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    hideENHANCEDSTATUSCODES: false,
    logger: false,
    onRcptTo(address, _session, done) {
      rcpts.push(address.address);
      if (address.address !== "gone@dest.test") return done();
      const error = new Error("<gone@dest.test>: Recipient address rejected: User unknown") as Error & {
        responseCode: number;
      };
      error.responseCode = 550;
      done(error);
    },
    onData(stream, _session, done) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        contents.push(Buffer.concat(chunks).toString("utf8"));
        done();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return { port, rcpts, contents, close: () => new Promise((r) => server.close(() => r())) };
}

async function send(
  port: number,
  tenant: string,
  rcpts: string[],
  subject: string,
): Promise<{ code: number; raw: string }> {
  const smtp = await openSmtp({ host: "127.0.0.1", port });
  try {
    await smtp.command("EHLO client.test");
    assert.equal((await smtp.command("MAIL FROM:<a@client.test>")).code, 250);
    for (const rcpt of rcpts) assert.equal((await smtp.command(`RCPT TO:<${rcpt}>`)).code, 250);
    assert.equal((await smtp.command("DATA")).code, 354);
    const body =
      `From: a@client.test\r\nTo: ${rcpts.join(", ")}\r\nX-Mailfleet-Tenant: ${tenant}\r\n` +
      `Subject: ${subject}\r\n\r\nHello.\r\n.\r\n`;
    const reply = await smtp.sendRaw(body);
    return { code: reply.code, raw: reply.raw };
  } finally {
    smtp.close();
  }
}

describe("tenants, bounce classes and suppression", () => {
  let dir = "";
  let peer: Peer;
  let sink: Sink;
  let mailfleet: MailfleetProcess | null = null;
  let configPath = "";
  let port = 0;
  const log = () => readFile(join(dir, "mail.log"), "utf8").catch(() => "");

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mailfleet-tenants-"));
    peer = await startPeer();
    sink = await startSink({ dump: true });
    port = await freePort();
    configPath = await writeConfig(
      dir,
      `hostname: mf.test
run_dir: ${dir}/run
spool_dir: ${dir}/spool
log: { file: ${dir}/mail.log }
listen: ["127.0.0.1:${port}"]
tenants: { from: [header, sender_domain] }
transports:
  mx: { nexthop: "[127.0.0.1]:${peer.port}", tls: none }
  beta-out: { nexthop: "[127.0.0.1]:${sink.port}", tls: none }
routes:
  - name: beta
    match: { tenant: beta }
    transport: beta-out
`,
    );
    mailfleet = await startMailfleet(configPath);
    await eventually("the listener", async () => ((await canConnect("127.0.0.1", port)) ? true : undefined));
  });

  after(async () => {
    await mailfleet?.stop().catch(() => {});
    await peer?.close();
    await sink?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("a hard bounce is classified, logged with its relay and suppresses the address for the tenant", {
    timeout: 60_000,
  }, async () => {
    const first = await send(port, "acme", ["gone@dest.test", "ok@dest.test"], "first from acme");
    assert.equal(first.code, 250, first.raw);
    const bounced = await eventually("the bounce in the log", async () =>
      (await log()).split("\n").find((l) => / bounced to=<gone@dest\.test> /.test(l)),
    );
    assert.match(bounced, /class=invalid_recipient/);
    assert.match(bounced, new RegExp(`relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${peer.port}`));
    assert.match(bounced, /dsn=5\.1\.1/);
    const delivered = await eventually("acme's good recipient at the peer", async () =>
      peer.contents.find((c) => c.includes("Subject: first from acme")),
    );
    assert.doesNotMatch(delivered, /X-Mailfleet-Tenant/i, "the tenant header never leaves mailfleet");

    const listed = await runCli(["suppression", "list", "--tenant", "acme", "-c", configPath, "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    const report = JSON.parse(listed.stdout) as {
      instances: { entries: { tenant: string; address: string; reason: string; detail: string }[] }[];
    };
    const entries = report.instances[0]?.entries ?? [];
    assert.deepEqual(
      entries.map((e) => [e.tenant, e.address, e.reason]),
      [["acme", "gone@dest.test", "hard_bounce"]],
    );
    assert.match(entries[0]!.detail, /550 5\.1\.1/);
  });

  it("acme's next message to the address is refused, or that recipient bounced without an attempt", {
    timeout: 60_000,
  }, async () => {
    const only = await send(port, "acme", ["gone@dest.test"], "second from acme");
    assert.equal(only.code, 550, only.raw);
    assert.match(only.raw, /^550 5\.7\.1 Recipient address suppressed \(hard bounce on \d{4}-\d\d-\d\d\)/);

    const mixed = await send(port, "acme", ["gone@dest.test", "ok2@dest.test"], "third from acme");
    assert.equal(mixed.code, 250, mixed.raw);
    const id = /queued as (\S+)/.exec(mixed.raw)?.[1] ?? "";
    const line = await eventually("the suppressed recipient bounced", async () =>
      (await log()).split("\n").find((l) => l.includes(` ${id} bounced to=<gone@dest.test>`)),
    );
    assert.match(line, /relay=none scope=recipient class=policy dsn=5\.7\.1/);
    await eventually("ok2 delivered", async () =>
      peer.contents.some((c) => c.includes("Subject: third from acme")) ? true : undefined,
    );
    assert.equal(
      peer.rcpts.filter((r) => r === "gone@dest.test").length,
      1,
      "a suppressed address is never tried again",
    );
  });

  it("another tenant's message to the address goes out, through the route for that tenant", {
    timeout: 60_000,
  }, async () => {
    const beta = await send(port, "beta", ["gone@dest.test"], "from beta");
    assert.equal(beta.code, 250, beta.raw);
    const copy = await eventually("beta's message at the sink", async () =>
      (await sink.messages()).find((m) => m.content.includes("Subject: from beta")),
    );
    assert.doesNotMatch(copy.content, /X-Mailfleet-Tenant/i);
    assert.ok(
      !peer.contents.some((c) => c.includes("Subject: from beta")),
      "not through the default transport",
    );
  });

  it("`suppression remove` lifts it, `suppression add` puts an address on a list", {
    timeout: 30_000,
  }, async () => {
    const removed = await runCli([
      "suppression",
      "remove",
      "gone@dest.test",
      "--tenant",
      "acme",
      "-c",
      configPath,
    ]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /no longer suppressed for tenant acme/);
    const added = await runCli(["suppression", "add", "x@dest.test", "--tenant", "beta", "-c", configPath]);
    assert.equal(added.code, 0, added.stderr);
    const listed = await runCli(["suppression", "list", "-c", configPath]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^beta {2}x@dest\.test {2}manual /m);
    assert.doesNotMatch(listed.stdout, /gone@dest\.test/);
    const missing = await runCli(["suppression", "list", "gone@dest.test", "-c", configPath]);
    assert.equal(missing.code, 66);
  });
});

describe("tenants across the fleet", () => {
  let dir = "";
  let peer: Peer;
  let sink: Sink;
  let mailfleet: MailfleetProcess | null = null;
  let configPath = "";
  const ports = { sub: 0, out: 0 };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mailfleet-tenants-fleet-"));
    peer = await startPeer();
    sink = await startSink({ dump: true });
    ports.sub = await freePort();
    ports.out = await freePort();
    configPath = await writeConfig(
      dir,
      `hostname: fleet.test
run_dir: ${dir}/run
log: { file: ${dir}/mail.log }
instances:
  submission:
    role: submission
    listen: ["127.0.0.1:${ports.sub}"]
    tenants: { from: [sender_domain] }
  output:
    role: output
    listen: ["127.0.0.1:${ports.out}"]
    transports:
      mx: { nexthop: "[127.0.0.1]:${peer.port}", tls: none }
      tenant-out: { nexthop: "[127.0.0.1]:${sink.port}", tls: none }
    routes:
      - match: { tenant: client.test }
        transport: tenant-out
`,
    );
    mailfleet = await startMailfleet(configPath);
    for (const port of [ports.sub, ports.out]) {
      await eventually("a listener", async () => ((await canConnect("127.0.0.1", port)) ? true : undefined));
    }
  });

  after(async () => {
    await mailfleet?.stop().catch(() => {});
    await peer?.close();
    await sink?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("the submission instance's tenant travels to the output instance, whose route matches it", {
    timeout: 60_000,
  }, async () => {
    // The client's own header names another tenant: the submission instance decides by sender
    // domain, replaces the header, and the output instance routes on what it decided.
    const sent = await send(ports.sub, "spoofed", ["x@dest.test"], "tenant across the fleet");
    assert.equal(sent.code, 250, sent.raw);
    const copy = await eventually("the message at the tenant's sink", async () =>
      (await sink.messages()).find((m) => m.content.includes("Subject: tenant across the fleet")),
    );
    assert.doesNotMatch(copy.content, /X-Mailfleet-Tenant/i, "stripped at the delivering instance");
    assert.equal(peer.contents.length, 0, "not through the default transport");
  });

  it("a tenant known at RCPT (sender domain) gets a suppressed recipient refused at RCPT", {
    timeout: 30_000,
  }, async () => {
    const added = await runCli([
      "suppression",
      "add",
      "blocked@dest.test",
      "--tenant",
      "client.test",
      "--instance",
      "submission",
      "-c",
      configPath,
    ]);
    assert.equal(added.code, 0, added.stderr);
    const smtp = await openSmtp({ host: "127.0.0.1", port: ports.sub });
    try {
      await smtp.command("EHLO client.test");
      assert.equal((await smtp.command("MAIL FROM:<a@client.test>")).code, 250);
      const refused = await smtp.command("RCPT TO:<blocked@dest.test>");
      assert.equal(refused.code, 550, refused.raw);
      assert.match(refused.raw, /5\.7\.1 Recipient address suppressed \(added by the operator on /);
      assert.equal((await smtp.command("RCPT TO:<fine@dest.test>")).code, 250);
      await smtp.command("RSET");
      // Another sender domain is another tenant: not suppressed.
      assert.equal((await smtp.command("MAIL FROM:<a@other.test>")).code, 250);
      assert.equal((await smtp.command("RCPT TO:<blocked@dest.test>")).code, 250);
    } finally {
      smtp.close();
    }
  });
});
