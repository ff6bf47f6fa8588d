/**
 * Scenario: the listener's protocol limits, seen by a raw SMTP client: an oversized message
 * (declared with SIZE, or just sent) gets 552, recipients past max_recipients get 452, a line
 * past max_line_length refuses the message, and bare LF / bare CR in the content are relayed
 * as CRLF only. The last one is checked byte-exact at a receiving smtp-server, because
 * smtp-sink's dump writes LF for every line end and would hide a relayed bare LF.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SMTPServer } from "smtp-server";
import { eventually, startWorld, type World } from "../support/e2e-world.ts";
import { freePort } from "../support/ports.ts";
import { openSmtp, type SmtpDialog } from "../support/smtp-dialog.ts";

const MAX_SIZE = 10 * 1024;
const MAX_RECIPIENTS = 3;
const MAX_LINE = 200;

describe("limits", () => {
  let world: World;
  let receiver: SMTPServer;
  const received: { rcpt: string[]; raw: Buffer }[] = [];

  before(async () => {
    const mxPort = await freePort("127.0.0.2");
    // A byte-exact receiving MTA: keeps the DATA bytes (dot-unstuffed, line ends as sent).
    receiver = new SMTPServer({
      authOptional: true,
      disabledCommands: ["AUTH", "STARTTLS"],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          received.push({ rcpt: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks) });
          callback();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      receiver.once("error", reject);
      receiver.listen(mxPort, "127.0.0.2", () => resolve());
    });
    world = await startWorld({
      mxPort,
      zone: {
        "raw.test": { mx: [{ preference: 10, exchange: "mx.raw.test" }] },
        "mx.raw.test": { a: ["127.0.0.2"] },
      },
      config: {
        limits: { max_message_size: MAX_SIZE, max_recipients: MAX_RECIPIENTS, max_line_length: MAX_LINE },
      },
    });
  });

  after(async () => {
    await world?.close();
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  });

  async function session(run: (smtp: SmtpDialog) => Promise<void>): Promise<void> {
    const smtp = await openSmtp({ port: world.smtpPort });
    try {
      assert.equal((await smtp.command("EHLO client.test")).code, 250);
      await run(smtp);
    } finally {
      smtp.close();
    }
  }

  it("refuses a message declared over max_message_size at MAIL with 552", { timeout: 30_000 }, async () => {
    await session(async (smtp) => {
      const mail = await smtp.command(`MAIL FROM:<alice@client.test> SIZE=${MAX_SIZE * 2}`);
      assert.equal(mail.code, 552, mail.raw);
    });
  });

  it("refuses a message sent over max_message_size with 552 after the dot", { timeout: 30_000 }, async () => {
    await session(async (smtp) => {
      assert.equal((await smtp.command("MAIL FROM:<alice@client.test>")).code, 250);
      assert.equal((await smtp.command("RCPT TO:<bob@raw.test>")).code, 250);
      assert.equal((await smtp.command("DATA")).code, 354);
      const line = "x".repeat(98);
      const body = Array.from({ length: (MAX_SIZE * 2) / 100 }, () => line).join("\r\n");
      const reply = await smtp.sendRaw(`Subject: too big\r\n\r\n${body}\r\n.\r\n`);
      assert.equal(reply.code, 552, reply.raw);
      // The session goes on: the next transaction is possible.
      assert.equal((await smtp.command("RSET")).code, 250);
    });
    assert.ok(!received.some((m) => m.raw.includes("Subject: too big")));
  });

  it("answers 452 to recipients past max_recipients", { timeout: 30_000 }, async () => {
    await session(async (smtp) => {
      assert.equal((await smtp.command("MAIL FROM:<alice@client.test>")).code, 250);
      for (let i = 1; i <= MAX_RECIPIENTS; i++) {
        const ok = await smtp.command(`RCPT TO:<r${i}@raw.test>`);
        assert.equal(ok.code, 250, ok.raw);
      }
      const over = await smtp.command(`RCPT TO:<r${MAX_RECIPIENTS + 1}@raw.test>`);
      assert.equal(over.code, 452, over.raw);
      assert.equal((await smtp.command("RSET")).code, 250);
    });
  });

  it("refuses a message with a line longer than max_line_length", { timeout: 30_000 }, async () => {
    await session(async (smtp) => {
      assert.equal((await smtp.command("MAIL FROM:<alice@client.test>")).code, 250);
      assert.equal((await smtp.command("RCPT TO:<bob@raw.test>")).code, 250);
      assert.equal((await smtp.command("DATA")).code, 354);
      const reply = await smtp.sendRaw(`Subject: long line\r\n\r\n${"y".repeat(MAX_LINE + 1)}\r\n.\r\n`);
      assert.ok(reply.code >= 500 && reply.code < 600, `expected a 5xx, got ${reply.raw}`);
    });
    await session(async (smtp) => {
      assert.equal((await smtp.command("MAIL FROM:<alice@client.test>")).code, 250);
      assert.equal((await smtp.command("RCPT TO:<bob@raw.test>")).code, 250);
      assert.equal((await smtp.command("DATA")).code, 354);
      const reply = await smtp.sendRaw(`Subject: line at limit\r\n\r\n${"y".repeat(MAX_LINE)}\r\n.\r\n`);
      assert.equal(reply.code, 250, `a line of exactly max_line_length is fine: ${reply.raw}`);
    });
  });

  it("relays bare LF and bare CR as CRLF only", { timeout: 60_000 }, async () => {
    await session(async (smtp) => {
      assert.equal((await smtp.command("MAIL FROM:<alice@client.test>")).code, 250);
      assert.equal((await smtp.command("RCPT TO:<bare@raw.test>")).code, 250);
      assert.equal((await smtp.command("DATA")).code, 354);
      const reply = await smtp.sendRaw(
        "Subject: bare endings\r\n\r\nline one\nline two\rline three\r\nend\r\n.\r\n",
      );
      assert.equal(reply.code, 250, reply.raw);
    });
    const copy = await eventually("the copy at the receiving MTA", () =>
      received.find((m) => m.rcpt.includes("bare@raw.test")),
    );
    const text = copy.raw.toString("latin1");
    assert.ok(text.includes("\r\n\r\nline one\r\nline two\r\nline three\r\nend\r\n"), JSON.stringify(text));
    assert.doesNotMatch(text, /[^\r]\n/, "no bare LF may be relayed");
    assert.doesNotMatch(text, /\r(?!\n)/, "no bare CR may be relayed");
    await world.mailfleet.waitForLog(/\bdelivered\b.*to=<bare@raw\.test>/);
  });
});
