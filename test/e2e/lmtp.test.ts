/**
 * Scenario: mail for local mailboxes goes to a mail store over LMTP (RFC 2033), the way Postfix
 * hands it to Dovecot: a route on the recipient domain picks an `lmtp:unix:` transport, another
 * an `lmtp:[host]:port` one. The store (smtp-server in LMTP mode, in this process) answers each
 * recipient after the message: the delivered ones are logged with the store as relay, and the
 * one it refuses bounces alone, with a DSN to the sender through the normal MX transport.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SMTPServer } from "smtp-server";
import { eventually, startWorld, type World } from "../support/e2e-world.ts";
import { freePort } from "../support/ports.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";

interface Stored {
  via: string;
  rcpt: string[];
  body: string;
}

/** An LMTP store on `listenOn`: gone@ was deleted (550 5.1.1 after the message). */
function lmtpStore(via: string, stored: Stored[]): SMTPServer {
  return new SMTPServer({
    lmtp: true,
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const rcpt = session.envelope.rcptTo.map((r) => r.address);
        stored.push({ via, rcpt, body: Buffer.concat(chunks).toString() });
        const replies = rcpt.map((address) =>
          address.startsWith("gone@")
            ? Object.assign(new Error("5.1.1 <gone@mailbox.test> Mailbox deleted"), { responseCode: 550 })
            : `2.0.0 <${address}> stored`,
        );
        callback(null, replies as unknown as string);
      });
    },
  });
}

describe("LMTP delivery to a mail store", () => {
  let world: World;
  let sink: Sink;
  let dir: string;
  const stored: Stored[] = [];
  const servers: SMTPServer[] = [];
  let socketPath: string;
  let tcpPort: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mailfleet-lmtp-"));
    socketPath = join(dir, "lmtp.sock");
    tcpPort = await freePort();
    const unixStore = lmtpStore("unix", stored);
    const tcpStore = lmtpStore("tcp", stored);
    servers.push(unixStore, tcpStore);
    await new Promise<void>((resolve) => unixStore.listen(socketPath, resolve));
    await new Promise<void>((resolve) => tcpStore.listen(tcpPort, "127.0.0.1", resolve));
    sink = await startSink();
    world = await startWorld({
      mxPort: sink.port,
      zone: {
        "sender.test": { mx: [{ preference: 10, exchange: "mx.sender.test" }] },
        "mx.sender.test": { a: ["127.0.0.1"] },
      },
      config: {
        transports: {
          mailbox: { nexthop: `lmtp:unix:${socketPath}` },
          archive: { nexthop: `lmtp:[127.0.0.1]:${tcpPort}` },
        },
        routes: [
          { match: { recipient_domain: ["mailbox.test"] }, transport: "mailbox" },
          { match: { recipient_domain: ["archive.test"] }, transport: "archive" },
        ],
      },
    });
  });

  after(async () => {
    await world?.close();
    await sink?.destroy();
    for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("delivers each recipient by the store's own reply, and bounces only the refused one", {
    timeout: 60_000,
  }, async () => {
    const message = "From: <alice@sender.test>\r\nSubject: to the store\r\n\r\nhello store\r\n";
    const sent = await world.send(
      "alice@sender.test",
      ["bob@mailbox.test", "gone@mailbox.test", "carol@archive.test"],
      message,
    );
    assert.equal(sent.code, 0, sent.stderr);

    const lines = await eventually("three outcomes in the delivery log", () => {
      const mine = world.mailfleet.log.filter(
        (l) => / (delivered|bounced) /.test(l) && l.includes(sent.queueId ?? "?"),
      );
      return mine.length >= 3 ? mine : undefined;
    });
    const line = (to: string) => lines.find((l) => l.includes(`to=<${to}>`)) ?? "";
    assert.match(
      line("bob@mailbox.test"),
      / delivered .*relay=lmtp:unix:\S*lmtp\.sock .*<bob@mailbox\.test> stored/,
    );
    assert.match(line("gone@mailbox.test"), / bounced .*550 5\.1\.1 .*Mailbox deleted/);
    assert.match(
      line("carol@archive.test"),
      new RegExp(` delivered .*relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${tcpPort} `),
    );

    const byVia = Object.fromEntries(stored.map((s) => [s.via, s]));
    assert.deepEqual(byVia.unix?.rcpt, ["bob@mailbox.test", "gone@mailbox.test"]);
    assert.deepEqual(byVia.tcp?.rcpt, ["carol@archive.test"]);
    assert.equal(stored.length, 2);
    assert.match(byVia.unix?.body ?? "", /Subject: to the store\r\n/);

    const dsn = await eventually("the DSN for gone@ at the sender's MX", async () =>
      (await sink.messages()).find((m) => m.content.includes("gone@mailbox.test")),
    );
    assert.match(dsn.content, /Status: 5\.1\.1/);
    assert.doesNotMatch(dsn.content, /Final-Recipient: rfc822; ?bob@mailbox\.test/);
  });
});
