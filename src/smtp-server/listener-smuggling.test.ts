/**
 * SMTP smuggling (RFC 5321 2.3.8): only CRLF.CRLF ends DATA here, and the bare CR/LF variants a
 * lax server downstream might take for end-of-data are stored as plain CRLF content, so they
 * can never turn into commands when we relay the message.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RawSmtpClient, type SmtpReply, startTestListener, testConfig } from "./test-harness.ts";

const END_VARIANTS = ["\n.\n", "\n.\r\n", "\r.\r", "\r\n.\n", "\r\n\x00.\r\n"];

const SMUGGLED_COMMANDS =
  "MAIL FROM:<evil@evil.example>\r\nRCPT TO:<victim@dest.example>\r\nDATA\r\n" +
  "From: ceo@dest.example\r\nSubject: smuggled\r\n\r\nsmuggled body";

const BARE_CR_OR_LF = /\r(?!\n)|(?<!\r)\n/;

/** Reads replies until the server closes the connection (bounded by the client's timeouts). */
async function repliesUntilClosed(client: RawSmtpClient): Promise<SmtpReply[]> {
  const replies: SmtpReply[] = [];
  for (let i = 0; i < 20; i++) {
    try {
      replies.push(await client.reply());
    } catch {
      break;
    }
  }
  return replies;
}

/** One real transaction whose content is sent in `pieces` (each piece a separate write). */
async function sendMessage(pieces: string[]) {
  const running = await startTestListener(testConfig());
  const client = await RawSmtpClient.connect(running.port);
  try {
    await client.hello();
    assert.equal((await client.command("MAIL FROM:<sender@src.example>")).code, 250);
    assert.equal((await client.command("RCPT TO:<rcpt@dest.example>")).code, 250);
    assert.equal((await client.command("DATA")).code, 354);
    for (const piece of pieces) {
      client.send(piece);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    client.send("QUIT\r\n");
    const replies = await repliesUntilClosed(client);
    return { replies, accepted: running.receiver.accepted };
  } finally {
    client.close();
    await running.listener.stop();
  }
}

const visible = (s: string) => JSON.stringify(s);

describe("SMTP smuggling defence", () => {
  for (const variant of END_VARIANTS) {
    it(`${visible(variant)} does not end DATA; one message, stored with CRLF only`, async () => {
      const content = `Subject: real\r\n\r\nhello${variant}${SMUGGLED_COMMANDS}${variant}\r\n.\r\n`;
      const { replies, accepted } = await sendMessage([content]);
      assert.deepEqual(
        replies.map((reply) => reply.code),
        [250, 221],
        replies.map((reply) => reply.last).join(" | "),
      );
      assert.match(replies[0]?.last ?? "", /queued as/);
      assert.equal(accepted.length, 1);
      const body = accepted[0]!.body.toString("latin1");
      assert.doesNotMatch(body, BARE_CR_OR_LF);
      assert.ok(
        body.includes("\r\nMAIL FROM:<evil@evil.example>\r\n"),
        "smuggled commands are plain content",
      );
      assert.equal(accepted[0]!.message.recipients.length, 1);
      assert.equal(accepted[0]!.message.recipients[0]?.address, "rcpt@dest.example");
    });

    it(`${visible(variant)} split at every CR/LF into separate writes gives the same body`, async () => {
      const content = `Subject: real\r\n\r\nhello${variant}${SMUGGLED_COMMANDS}${variant}\r\n.\r\n`;
      const whole = await sendMessage([content]);
      const pieces = content.split(/(?<=[\r\n])/); // cut after every CR and every LF
      const split = await sendMessage(pieces);
      assert.deepEqual(
        split.replies.map((reply) => reply.code),
        [250, 221],
      );
      assert.equal(split.accepted.length, 1);
      assert.deepEqual(
        split.accepted[0]!.body.subarray(split.accepted[0]!.body.indexOf("Subject:")),
        whole.accepted[0]!.body.subarray(whole.accepted[0]!.body.indexOf("Subject:")),
      );
    });

    it(`${visible(variant)} then a smuggled message ended by a real CRLF.CRLF: still one message`, async () => {
      // Here the smuggled part ends with a genuine end-of-data, so the first message ends there
      // (its content holds the smuggled commands) and what follows is junk commands.
      const content = `Subject: real\r\n\r\nhello${variant}${SMUGGLED_COMMANDS}\r\n.\r\n\r\n.\r\n`;
      const { replies, accepted } = await sendMessage([content]);
      assert.equal(accepted.length, 1);
      assert.equal(replies.filter((reply) => reply.last.includes("queued as")).length, 1);
      assert.equal(replies.at(-1)?.code, 221);
      const body = accepted[0]!.body.toString("latin1");
      assert.doesNotMatch(body, BARE_CR_OR_LF);
      assert.ok(body.includes("\r\nRCPT TO:<victim@dest.example>\r\n"));
    });
  }

  it("a leading dot is unstuffed only at the start of a CRLF line", async () => {
    const { accepted } = await sendMessage(["Subject: d\r\n\r\n..dotted\r\nx\r\n.\r\n"]);
    assert.ok(accepted[0]!.body.toString("latin1").endsWith("\r\n\r\n.dotted\r\nx\r\n"));
  });
});
