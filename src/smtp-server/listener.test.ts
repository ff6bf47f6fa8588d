import assert from "node:assert/strict";
import { describe, it } from "node:test";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import type { Config } from "../config/types.ts";
import { RawSmtpClient, type RunningListener, startTestListener, testConfig } from "./test-harness.ts";

/** Runs `body` against a fresh listener and client, and always cleans both up. */
async function withSession(
  config: Config,
  body: (client: RawSmtpClient, running: RunningListener) => Promise<void>,
  localAddress = "127.0.0.1",
): Promise<RunningListener> {
  const running = await startTestListener(config);
  const client = await RawSmtpClient.connect(running.port, localAddress);
  try {
    await body(client, running);
  } finally {
    client.close();
    await running.listener.stop();
  }
  return running;
}

async function transaction(client: RawSmtpClient, content: string, rcpt = "<rcpt@dest.example>") {
  assert.equal((await client.command("MAIL FROM:<sender@src.example>")).code, 250);
  assert.equal((await client.command(`RCPT TO:${rcpt}`)).code, 250);
  assert.equal((await client.command("DATA")).code, 354);
  client.send(content);
  return client.reply();
}

describe("SMTP listener", () => {
  it("greets with our hostname and advertises the ESMTP extensions", async () => {
    await withSession(testConfig(), async (client) => {
      const ehlo = await client.hello();
      assert.equal(ehlo.code, 250);
      const [first, ...extensions] = ehlo.lines.map((line) => line.slice(4));
      assert.match(first ?? "", /^mx\.test\.example /);
      for (const name of ["PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN", "SIZE 10000"]) {
        assert.ok(extensions.includes(name), `${name} missing from ${extensions.join(",")}`);
      }
      assert.ok(!extensions.some((line) => line.startsWith("STARTTLS") || line.startsWith("AUTH")));
      assert.match((await client.command("STARTTLS")).last, /^5\d\d /);
    });
  });

  it("accepts a message from nodemailer and stores envelope, DSN and a Received header", async () => {
    const running = await startTestListener(testConfig());
    try {
      const connection = new SMTPConnection({ host: "127.0.0.1", port: running.port, name: "nm.example" });
      await new Promise<void>((resolve, reject) =>
        connection.connect((err) => (err ? reject(err) : resolve())),
      );
      const info = await new Promise<{ response: string }>((resolve, reject) =>
        connection.send(
          {
            from: "sender@src.example",
            to: ["one@dest.example"],
            dsn: {
              ret: "HDRS",
              envid: "env-1",
              notify: ["SUCCESS", "FAILURE"],
              orcpt: "rfc822;orig@dest.example",
            },
          },
          "Subject: hi\r\n\r\nhello\r\n",
          (err, result) => (err || !result ? reject(err) : resolve(result)),
        ),
      );
      connection.quit();
      assert.equal(info.response, "250 2.0.0 Ok: queued as TESTID00000000000001");
      const [stored] = running.receiver.accepted;
      assert.ok(stored);
      const { message, body } = stored;
      assert.equal(message.sender, "sender@src.example");
      assert.deepEqual(message.recipients, [
        {
          address: "one@dest.example",
          dsn: { notify: ["SUCCESS", "FAILURE"], orcpt: "rfc822;orig@dest.example" },
        },
      ]);
      assert.deepEqual(message.dsn, { ret: "HDRS", envid: "env-1" });
      assert.equal(message.clientAddress, "127.0.0.1");
      assert.equal(message.clientHelo, "nm.example");
      assert.equal(message.isBounce, false);
      assert.ok(Math.abs(message.arrivedAt - Date.now()) < 60_000);
      const text = body.toString("latin1");
      assert.match(
        text,
        /^Received: from nm\.example \(unknown \[127\.0\.0\.1\]\)\r\n\tby mx\.test\.example \(mailfleet\) with ESMTP\r\n\tfor <one@dest\.example>; \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\nSubject: hi\r\n\r\nhello\r\n$/,
      );
    } finally {
      await running.listener.stop();
    }
  });

  it("maps MAIL and RCPT parameters: null sender, BODY, SMTPUTF8, NOTIFY=NEVER, absent DSN", async () => {
    const running = await withSession(testConfig(), async (client) => {
      await client.hello();
      assert.equal(
        (await client.command("MAIL FROM:<> BODY=8BITMIME SMTPUTF8 RET=FULL ENVID=a+2Bb")).code,
        250,
      );
      assert.equal((await client.command("RCPT TO:<a@dest.example> NOTIFY=NEVER")).code, 250);
      assert.equal(
        (await client.command("RCPT TO:<b@dest.example> NOTIFY=delay ORCPT=rfc822;x+2By@y")).code,
        250,
      );
      assert.equal((await client.command("RCPT TO:<c@dest.example>")).code, 250);
      assert.equal((await client.command("DATA")).code, 354);
      client.send("Subject: x\r\n\r\nbody\r\n.\r\n");
      assert.equal((await client.reply()).code, 250);
    });
    const [stored] = running.receiver.accepted;
    assert.ok(stored);
    const { message, body } = stored;
    assert.equal(message.sender, "");
    assert.equal(message.bodyType, "8BITMIME");
    assert.equal(message.smtpUtf8, true);
    // smtp-server decodes xtext in ENVID and ORCPT; we store the decoded values.
    assert.deepEqual(message.dsn, { ret: "FULL", envid: "a+b" });
    assert.deepEqual(
      message.recipients.map((r) => r.dsn),
      [
        { notify: [], orcpt: null },
        { notify: ["DELAY"], orcpt: "rfc822;x+y@y" },
        { notify: null, orcpt: null },
      ],
    );
    // Several recipients: no "for" clause; SMTPUTF8 transaction: RFC 6531 protocol name.
    assert.match(body.toString("utf8"), /with UTF8SMTP; /);
    assert.doesNotMatch(body.toString("utf8"), /\tfor </);
  });

  it("refuses relaying for a client outside trusted_networks with 554 5.7.1", async () => {
    const config = testConfig({ trustedNetworks: ["127.0.0.2/32"] });
    const running = await withSession(config, async (client) => {
      await client.hello();
      assert.equal((await client.command("MAIL FROM:<sender@src.example>")).code, 250);
      assert.equal(
        (await client.command("RCPT TO:<rcpt@dest.example>")).last,
        "554 5.7.1 Relay access denied",
      );
      assert.match((await client.command("DATA")).last, /^503 /);
    });
    assert.equal(running.receiver.accepted.length, 0);
  });

  it("lets a trusted client relay (127.0.0.2 trusted, client bound to 127.0.0.2)", async () => {
    const config = testConfig({ trustedNetworks: ["127.0.0.2/32"] });
    const running = await withSession(
      config,
      async (client) => {
        await client.hello();
        assert.equal((await transaction(client, "x\r\n.\r\n")).code, 250);
      },
      "127.0.0.2",
    );
    assert.equal(running.receiver.accepted[0]?.message.clientAddress, "127.0.0.2");
  });

  it("refuses SIZE= above the limit and an oversized message with 552 5.3.4", async () => {
    const running = await withSession(testConfig({ maxMessageSize: 1000 }), async (client) => {
      await client.hello();
      assert.match((await client.command("MAIL FROM:<s@src.example> SIZE=1001")).last, /^552 5\.3\.4 /);
      const reply = await transaction(
        client,
        `${`Subject: big\r\n\r\n${"x".repeat(70)}\r\n`.repeat(20)}.\r\n`,
      );
      assert.match(reply.last, /^552 5\.3\.4 .*1000/);
      // the session goes on
      assert.equal((await transaction(client, "small\r\n.\r\n")).code, 250);
    });
    assert.equal(running.receiver.accepted.length, 1);
  });

  it("refuses a message that only grows past the limit when bare LFs become CRLF", async () => {
    const running = await withSession(testConfig({ maxMessageSize: 1000 }), async (client) => {
      await client.hello();
      const content = "x\n".repeat(450); // 900 bytes as sent, 1350 once normalised
      assert.match((await transaction(client, `${content}\r\n.\r\n`)).last, /^552 5\.3\.4 /);
    });
    assert.equal(running.receiver.accepted.length, 0);
  });

  it("refuses recipients past max_recipients with 452 4.5.3", async () => {
    const running = await withSession(testConfig({ maxRecipients: 2 }), async (client) => {
      await client.hello();
      await client.command("MAIL FROM:<s@src.example>");
      assert.equal((await client.command("RCPT TO:<a@dest.example>")).code, 250);
      assert.equal((await client.command("RCPT TO:<b@dest.example>")).code, 250);
      assert.match((await client.command("RCPT TO:<c@dest.example>")).last, /^452 4\.5\.3 /);
      await client.command("DATA");
      client.send("x\r\n.\r\n");
      assert.equal((await client.reply()).code, 250);
    });
    assert.equal(running.receiver.accepted[0]?.message.recipients.length, 2);
  });

  it("refuses a message with a line over max_line_length, accepts one exactly at it", async () => {
    const running = await withSession(testConfig({ maxLineLength: 100 }), async (client) => {
      await client.hello();
      const long = await transaction(client, `Subject: x\r\n\r\n${"y".repeat(101)}\r\n.\r\n`);
      assert.equal(long.last, "500 5.5.2 Error: line too long: message has lines longer than 100 octets");
      const exact = await transaction(client, `Subject: x\r\n\r\n${"y".repeat(100)}\r\n.\r\n`);
      assert.equal(exact.code, 250);
    });
    assert.equal(running.receiver.accepted.length, 1);
  });

  it("refuses a message that already made max_hops hops with 554 5.4.0 (mail loop)", async () => {
    const config = testConfig();
    config.limits.maxHops = 3;
    const running = await withSession(config, async (client) => {
      await client.hello();
      const looped = await transaction(
        client,
        `${"Received: from x by y; now\r\n".repeat(3)}Subject: l\r\n\r\nb\r\n.\r\n`,
      );
      assert.equal(looped.last, "554 5.4.0 Error: too many hops (3 Received headers)");
      const fine = await transaction(
        client,
        `${"Received: from x by y; now\r\n".repeat(2)}Subject: ok\r\n\r\nb\r\n.\r\n`,
      );
      assert.equal(fine.code, 250);
    });
    assert.equal(running.receiver.accepted.length, 1);
  });

  it("passes the receiver's capacity refusal to the client at MAIL, with its own enhanced code", async () => {
    const config = testConfig();
    const running = await startTestListener(config);
    running.receiver.capacityReply = { code: 452, enhanced: "4.3.1", text: "Insufficient system storage" };
    const client = await RawSmtpClient.connect(running.port);
    try {
      await client.hello();
      assert.equal(
        (await client.command("MAIL FROM:<s@src.example>")).last,
        "452 4.3.1 Insufficient system storage",
      );
      running.receiver.capacityReply = null;
      assert.equal((await client.command("MAIL FROM:<s@src.example>")).code, 250);
    } finally {
      client.close();
      await running.listener.stop();
    }
  });

  it("answers 451 4.3.0 when the receiver throws, and a receiver refusal as given", async () => {
    const running = await startTestListener(testConfig());
    const client = await RawSmtpClient.connect(running.port);
    try {
      await client.hello();
      running.receiver.acceptBehaviour = "throw";
      assert.equal((await transaction(client, "x\r\n.\r\n")).last, "451 4.3.0 Error: queue file write error");
      running.receiver.acceptBehaviour = {
        reply: { code: 554, enhanced: "5.7.1", text: "Refused by policy" },
      };
      assert.equal((await transaction(client, "x\r\n.\r\n")).last, "554 5.7.1 Refused by policy");
      assert.equal(running.receiver.accepted.length, 0);
    } finally {
      client.close();
      await running.listener.stop();
    }
  });

  it("answers pipelined commands sent in one write, in order", async () => {
    const running = await withSession(testConfig({ maxRecipients: 2 }), async (client) => {
      await client.reply(); // greeting
      client.send(
        "EHLO pipe.example\r\nMAIL FROM:<s@src.example>\r\nRCPT TO:<a@dest.example>\r\n" +
          "RCPT TO:<b@dest.example>\r\nRCPT TO:<c@dest.example>\r\nDATA\r\n",
      );
      const replies = await client.replies(6);
      assert.deepEqual(
        replies.map((r) => r.code),
        [250, 250, 250, 250, 452, 354],
      );
      client.send("Subject: p\r\n\r\nbody\r\n.\r\nMAIL FROM:<s2@src.example>\r\nRSET\r\nNOOP\r\nQUIT\r\n");
      const after = await client.replies(5);
      assert.deepEqual(
        after.map((r) => r.code),
        [250, 250, 250, 250, 221],
      );
      assert.match(after[0]?.last ?? "", /^250 2\.0\.0 Ok: queued as TESTID/);
    });
    assert.equal(running.receiver.accepted.length, 1);
  });

  it("stop() lets a message being received finish, then says 421", async () => {
    const running = await startTestListener(testConfig(), undefined, { closeGraceMs: 5000 });
    const client = await RawSmtpClient.connect(running.port);
    try {
      await client.hello();
      await client.command("MAIL FROM:<s@src.example>");
      await client.command("RCPT TO:<r@dest.example>");
      assert.equal((await client.command("DATA")).code, 354);
      client.send("Subject: half\r\n");
      const stopped = running.listener.stop();
      await assert.rejects(RawSmtpClient.connect(running.port), /ECONNREFUSED/);
      client.send("rest of it\r\n.\r\n");
      assert.equal((await client.reply()).code, 250);
      assert.equal((await client.reply()).last, "421 4.3.2 Service shutting down, try again later");
      await stopped;
      assert.equal(await client.closedWithin(2000), true);
      assert.equal(running.receiver.accepted.length, 1);
    } finally {
      client.close();
    }
  });

  it("stop() says 421 at once to a session that is not in a message", async () => {
    const running = await startTestListener(testConfig(), undefined, { closeGraceMs: 30_000 });
    const client = await RawSmtpClient.connect(running.port);
    try {
      await client.hello();
      await client.command("MAIL FROM:<s@src.example>");
      const stopped = running.listener.stop();
      assert.match((await client.reply()).last, /^421 4\.3\.2 /);
      await stopped; // well before the 30 s grace period
      assert.equal(await client.closedWithin(2000), true);
    } finally {
      client.close();
    }
  });

  it("stop() cuts off a message that outlives the grace period", async () => {
    const running = await startTestListener(testConfig(), undefined, { closeGraceMs: 200 });
    const client = await RawSmtpClient.connect(running.port);
    try {
      await client.hello();
      await transaction(client, "x\r\n.\r\n");
      await client.command("MAIL FROM:<s@src.example>");
      await client.command("RCPT TO:<r@dest.example>");
      await client.command("DATA");
      client.send("never finished\r\n");
      await running.listener.stop();
      assert.match((await client.reply()).last, /^421 /);
      assert.equal(await client.closedWithin(2000), true);
      assert.equal(running.receiver.accepted.length, 1);
    } finally {
      client.close();
    }
  });

  it("start() fails with the address when the port is taken", async () => {
    const first = await startTestListener(testConfig());
    try {
      const config = testConfig();
      config.listen = [{ host: "127.0.0.1", port: first.port }];
      await assert.rejects(
        startTestListener(config),
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}`),
      );
    } finally {
      await first.listener.stop();
    }
  });

  it("binds every listen address and reports the ports chosen for port 0", async () => {
    const config = testConfig();
    config.listen = [
      { host: "127.0.0.1", port: 0 },
      { host: "127.0.0.1", port: 0 },
    ];
    const running = await startTestListener(config);
    try {
      const client = await RawSmtpClient.connect(running.port);
      assert.equal((await client.reply()).code, 220);
      client.close();
    } finally {
      await running.listener.stop();
    }
  });
});
