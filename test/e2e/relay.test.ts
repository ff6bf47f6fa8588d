/**
 * Scenario: plain relaying. A trusted client hands a message in; mailfleet resolves the MX via
 * DNS and delivers it to a real MTA (smtp-sink) with our trace header and the body intact, logs
 * it, and empties its queue. An untrusted client is refused; EHLO announces our extensions; DSN
 * parameters given to us travel on to the next hop.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { eventually, simpleMessage, startWorld, type World } from "../support/e2e-world.ts";
import { openSmtp } from "../support/smtp-dialog.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";

describe("relay", () => {
  let sink: Sink;
  let world: World;

  before(async () => {
    sink = await startSink();
    const mxPort = sink.port;
    world = await startWorld({
      mxPort,
      zone: {
        "example.test": { mx: [{ preference: 10, exchange: "mx1.example.test" }] },
        "mx1.example.test": { a: ["127.0.0.1"] },
      },
      // Only 127.0.0.1 may relay, so a client bound to 127.0.0.2 is an outsider.
      config: { relay: { trusted_networks: ["127.0.0.1/32"] } },
    });
  });

  after(async () => {
    await world?.close();
    await sink?.destroy();
  });

  it("delivers a sent message through the MX with our Received header and the body intact", {
    timeout: 60_000,
  }, async () => {
    const body = "First line of the body.\nSecond line, with a dot:\n.\nand the end.";
    const sent = await world.send(
      "alice@client.test",
      ["bob@example.test"],
      simpleMessage({ from: "alice@client.test", to: "bob@example.test", subject: "relay one", body }),
    );
    assert.equal(sent.code, 0, `send failed: ${sent.stdout}${sent.stderr}`);
    assert.match(sent.stdout, /^250 /m);
    const id = sent.queueId;
    assert.ok(id, `no queue id in ${sent.stdout}`);

    const delivered = await world.mailfleet.waitForLog(/\bdelivered\b.*to=<bob@example\.test>/, 20_000);
    assert.ok(delivered.includes(id), `delivered line has another queue id: ${delivered}`);
    const received = world.mailfleet.log.find((l) => /\breceived\b/.test(l) && l.includes(id));
    assert.ok(received, `no received line for ${id}: ${world.mailfleet.log.join("\n")}`);
    assert.match(delivered, /relay=mx1\.example\.test\[127\.0\.0\.1\]/);

    const copy = await eventually("the sink's copy", async () =>
      (await sink.messages()).find((m) => m.content.includes("Subject: relay one")),
    );
    assert.ok(
      copy.rcptArgs.some((a) => a.includes("bob@example.test")),
      `rcpt: ${copy.rcptArgs}`,
    );
    assert.match(copy.content, /^Received: from [^\n]*\n(?:[ \t][^\n]*\n)*?[ \t]+by mailfleet\.test\b/m);
    assert.ok(copy.content.endsWith(`\n\n${body}\n`), `body changed:\n${copy.content}`);
    assert.doesNotMatch(copy.content, /\r/);

    const queue = await eventually("an empty queue", async () => {
      const listing = await world.mailq();
      return listing.total === 0 ? listing : undefined;
    });
    assert.deepEqual(queue.messages, []);
  });

  it("refuses to relay for a client outside trusted_networks with 554 5.7.1", {
    timeout: 30_000,
  }, async () => {
    const connection = new SMTPConnection({
      host: "127.0.0.1",
      port: world.smtpPort,
      localAddress: "127.0.0.2",
      ignoreTLS: true,
      name: "outsider.test",
    });
    try {
      await new Promise<void>((resolve, reject) => {
        connection.once("error", reject);
        connection.connect(() => resolve());
      });
      const error = await new Promise<{ responseCode?: number; response?: string }>((resolve, reject) => {
        connection.send(
          { from: "eve@outsider.test", to: ["bob@example.test"] },
          "Subject: x\r\n\r\nx\r\n",
          (err) =>
            err
              ? resolve(err as { responseCode?: number; response?: string })
              : reject(new Error("relay was accepted")),
        );
      });
      assert.equal(error.responseCode, 554, `reply: ${error.response}`);
      assert.match(error.response ?? "", /^554 5\.7\.1 /);
    } finally {
      connection.close();
    }
  });

  it("announces PIPELINING, 8BITMIME, SMTPUTF8, SIZE, ENHANCEDSTATUSCODES and DSN", {
    timeout: 30_000,
  }, async () => {
    const smtp = await openSmtp({ port: world.smtpPort });
    try {
      assert.equal(smtp.greeting.code, 220);
      const ehlo = await smtp.command("EHLO client.test");
      assert.equal(ehlo.code, 250, ehlo.raw);
      const keywords = ehlo.lines.slice(1).map((l) => l.split(" ")[0]!.toUpperCase());
      for (const extension of ["PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE", "ENHANCEDSTATUSCODES", "DSN"]) {
        assert.ok(keywords.includes(extension), `EHLO lacks ${extension}:\n${ehlo.raw}`);
      }
      const size = ehlo.lines.find((l) => /^SIZE\b/i.test(l));
      assert.match(size ?? "", /^SIZE 1048576$/i, "SIZE should announce max_message_size (1MiB)");
    } finally {
      smtp.close();
    }
  });

  it("passes DSN parameters (RET, ENVID, NOTIFY, ORCPT) on to the next hop", {
    timeout: 60_000,
  }, async () => {
    const smtp = await openSmtp({ port: world.smtpPort });
    try {
      assert.equal((await smtp.command("EHLO client.test")).code, 250);
      const mail = await smtp.command("MAIL FROM:<alice@client.test> RET=HDRS ENVID=env-4711");
      assert.equal(mail.code, 250, mail.raw);
      const rcpt = await smtp.command(
        "RCPT TO:<dsn@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig@example.test",
      );
      assert.equal(rcpt.code, 250, rcpt.raw);
      assert.equal((await smtp.command("DATA")).code, 354);
      const done = await smtp.sendRaw("Subject: dsn params\r\n\r\nhello\r\n.\r\n");
      assert.equal(done.code, 250, done.raw);
      await smtp.command("QUIT").catch(() => undefined);
    } finally {
      smtp.close();
    }
    const copy = await eventually("the sink's copy", async () =>
      (await sink.messages()).find((m) => m.content.includes("Subject: dsn params")),
    );
    assert.match(copy.mailArgs, /\bRET=HDRS\b/i, `MAIL args: ${copy.mailArgs}`);
    assert.match(copy.mailArgs, /\bENVID=env-4711\b/, `MAIL args: ${copy.mailArgs}`);
    const rcptArgs = copy.rcptArgs.join(" | ");
    assert.match(rcptArgs, /dsn@example\.test/);
    assert.match(rcptArgs, /NOTIFY=SUCCESS,FAILURE/i, `RCPT args: ${rcptArgs}`);
    assert.match(rcptArgs, /ORCPT=rfc822;orig@example\.test/i, `RCPT args: ${rcptArgs}`);
  });
});
