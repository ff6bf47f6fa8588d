/**
 * Session hardening on the listener (connection.ts, line-limit.ts): long command lines, bad
 * bytes, HTTP verbs, the error limit, early talkers, connections per IP, slow clients, and the
 * InboundPolicy hooks. Real sockets against an in-process listener.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Config } from "../config/types.ts";
import type { Reply } from "../message/types.ts";
import { RawSmtpClient, type RunningListener, startTestListener, testConfig } from "./test-harness.ts";
import type { InboundPolicy, SessionFacts } from "./types.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function withListener(
  cfg: Config,
  body: (running: RunningListener) => Promise<void>,
  policy?: InboundPolicy,
) {
  const running = await startTestListener(cfg, undefined, policy ? { policy } : {});
  try {
    await body(running);
  } finally {
    await running.listener.stop();
  }
  return running;
}

async function client(running: RunningListener, localAddress = "127.0.0.1"): Promise<RawSmtpClient> {
  return RawSmtpClient.connect(running.port, localAddress);
}

describe("listener hardening", () => {
  it("answers a command line over 998 bytes with 500 5.5.2 and goes on; 998 is fine", async () => {
    await withListener(testConfig(), async (running) => {
      const c = await client(running);
      await c.hello();
      assert.equal((await c.command(`NOOP ${"x".repeat(993)}`)).code, 250, "998 bytes");
      assert.equal((await c.command(`NOOP ${"x".repeat(994)}`)).last, "500 5.5.2 Error: line too long");
      // Pipelined around a long line, in pieces: the commands before and after it still run.
      const batch = `NOOP\r\nNOOP ${"y".repeat(5000)}\r\nRSET\r\n`;
      for (let i = 0; i < batch.length; i += 700) c.send(batch.slice(i, i + 700));
      assert.deepEqual(
        (await c.replies(3)).map((r) => r.last),
        ["250 2.0.0 OK", "500 5.5.2 Error: line too long", "250 2.0.0 Flushed"],
      );
      assert.equal((await c.command("MAIL FROM:<a@b.example>")).code, 250);
      c.close();
    });
  });

  it("drops a long line that never ends without keeping it, and answers when its LF comes", async () => {
    await withListener(testConfig(), async (running) => {
      const c = await client(running);
      await c.hello();
      const chunk = "z".repeat(64 * 1024);
      for (let i = 0; i < 80; i++) c.send(chunk); // 5 MiB, no LF
      await sleep(50);
      assert.ok(c.idle, "nothing is answered before the line ends");
      c.send("\r\nNOOP\r\n");
      assert.deepEqual(
        (await c.replies(2)).map((r) => r.code),
        [500, 250],
      );
      c.close();
    });
  });

  it("answers NUL, control or invalid UTF-8 bytes in a command with 501 5.5.2, and goes on", async () => {
    await withListener(testConfig(), async (running) => {
      const c = await client(running);
      await c.hello();
      for (const bad of [
        Buffer.from("NOOP\0\r\n"),
        Buffer.from("MAIL FROM:<a\x01b@c.example>\r\n"),
        Buffer.from([0x4e, 0x4f, 0x4f, 0x50, 0x20, 0xff, 0x0d, 0x0a]),
      ]) {
        c.send(bad);
        assert.equal(
          (await c.reply()).last,
          "501 5.5.2 Error: NUL, control or invalid UTF-8 bytes in command",
        );
      }
      c.send(Buffer.from("MAIL FROM:<j\u00f6rg@b.example> SMTPUTF8\r\n", "utf8"));
      assert.equal((await c.reply()).code, 250, "valid UTF-8 is fine");
      c.close();
    });
  });

  for (const verb of [
    "GET / HTTP/1.1",
    "POST /x HTTP/1.0",
    "CONNECT mail.example:25 HTTP/1.1",
    "HEAD / HTTP/1.1",
    "PUT /a HTTP/1.1",
  ]) {
    it(`closes at once on "${verb}"`, async () => {
      await withListener(testConfig(), async (running) => {
        const c = await client(running);
        assert.equal((await c.reply()).code, 220);
        c.send(`${verb}\r\nHost: x\r\n\r\n`);
        assert.match((await c.reply()).last, /^421 4\.7\.0 /);
        assert.equal(await c.closedWithin(2000), true);
      });
    });
  }

  it("says 421 4.7.0 and closes after max_errors error replies", async () => {
    await withListener(testConfig({ maxErrors: 5 }), async (running) => {
      const c = await client(running);
      await c.hello();
      for (let i = 0; i < 5; i++) assert.equal((await c.command(`BOGUS${i}`)).code, 500);
      assert.equal((await c.reply()).last, "421 4.7.0 Error: too many errors");
      assert.equal(await c.closedWithin(2000), true);
    });
  });

  it("counts errors per message: a delivered message starts the count again", async () => {
    await withListener(testConfig({ maxErrors: 3 }), async (running) => {
      const c = await client(running);
      await c.hello();
      for (let i = 0; i < 2; i++) assert.equal((await c.command("BOGUS")).code, 500);
      await c.command("MAIL FROM:<a@b.example>");
      await c.command("RCPT TO:<c@d.example>");
      await c.command("DATA");
      c.send("x\r\n.\r\n");
      assert.equal((await c.reply()).code, 250);
      for (let i = 0; i < 2; i++) assert.equal((await c.command("BOGUS")).code, 500);
      assert.equal((await c.command("NOOP")).code, 250, "still open after 4 errors in all");
      c.close();
    });
  });

  it("greet pause: an untrusted client that talks first gets 554 5.5.0 and is closed; others wait", async () => {
    const cfg = testConfig({ greetPauseMs: 400, trustedNetworks: ["127.0.0.2/32"] });
    await withListener(cfg, async (running) => {
      const early = await client(running);
      early.send("EHLO early.example\r\n");
      assert.equal(
        (await early.reply()).last,
        "554 5.5.0 Error: protocol violation: client sent data before the greeting",
      );
      assert.equal(await early.closedWithin(2000), true);

      const partial = await client(running);
      partial.send("EH"); // not even a whole line
      assert.equal((await partial.reply()).code, 554);

      const started = Date.now();
      const polite = await client(running);
      assert.equal((await polite.reply()).code, 220);
      assert.ok(Date.now() - started >= 350, "greeted after the pause");
      polite.close();

      const trustedStart = Date.now();
      const trusted = await client(running, "127.0.0.2");
      assert.equal((await trusted.reply()).code, 220);
      assert.ok(Date.now() - trustedStart < 300, "trusted networks are greeted at once");
      trusted.close();
    });
  });

  it("caps sessions per client IP with 421 4.7.0 (trusted networks exempt)", async () => {
    const cfg = testConfig({ maxConnectionsPerIp: 2, trustedNetworks: ["127.0.0.2/32"] });
    await withListener(cfg, async (running) => {
      const [a, b] = [await client(running), await client(running)];
      assert.equal((await a.reply()).code, 220);
      assert.equal((await b.reply()).code, 220);
      const c = await client(running);
      assert.equal(
        (await c.reply()).last,
        "421 4.7.0 Error: too many connections from your address, try again later",
      );
      assert.equal(await c.closedWithin(2000), true);
      const others = await Promise.all([1, 2, 3].map(() => client(running, "127.0.0.2")));
      for (const o of others) assert.equal((await o.reply()).code, 220);
      a.close();
      // The server sees the close a moment later: try until a slot is free (bounded).
      let code = 0;
      for (let i = 0; i < 50 && code !== 220; i++) {
        await sleep(20);
        const d = await client(running);
        code = (await d.reply()).code;
        d.close();
      }
      assert.equal(code, 220, "a slot is free again");
      for (const x of [b, ...others]) x.close();
    });
  });

  it("caps sessions in all at max_connections with 421 4.7.0; trusted clients count but get in", async () => {
    const cfg = testConfig({ maxConnections: 3, trustedNetworks: ["127.0.0.2/32"] });
    await withListener(cfg, async (running) => {
      const trusted = await client(running, "127.0.0.2");
      const strangers = [await client(running), await client(running, "127.0.0.3")];
      for (const c of [trusted, ...strangers]) assert.equal((await c.reply()).code, 220);
      const refused = await client(running, "127.0.0.4");
      assert.equal((await refused.reply()).last, "421 4.7.0 Error: too many connections, try again later");
      assert.equal(await refused.closedWithin(2000), true);
      const alsoTrusted = await client(running, "127.0.0.2");
      assert.equal((await alsoTrusted.reply()).code, 220, "trusted networks are never refused");
      alsoTrusted.close();
      trusted.close();
      // Once two sessions have ended (the server sees the close a moment later), a stranger gets in.
      let code = 0;
      for (let i = 0; i < 50 && code !== 220; i++) {
        await sleep(20);
        const next = await client(running, "127.0.0.4");
        code = (await next.reply()).code;
        next.close();
      }
      assert.equal(code, 220, "a slot is free again");
      for (const c of strangers) c.close();
    });
  });

  it("cuts off a client trickling a command or DATA too slowly, while others are served", async () => {
    const cfg = testConfig({ commandTimeoutMs: 600, minDataRate: 1000 });
    await withListener(cfg, async (running) => {
      const slow = await client(running);
      await slow.hello();
      const started = Date.now();
      const trickle = setInterval(() => slow.send("N"), 100); // resets an idle timeout every time
      try {
        const fast = await client(running);
        await fast.hello();
        assert.equal((await fast.command("NOOP")).code, 250);
        fast.close();
        assert.equal((await slow.reply()).last, "421 4.4.2 Error: timeout exceeded, closing connection");
        assert.ok(Date.now() - started < 2000, `cut after ${Date.now() - started} ms`);
      } finally {
        clearInterval(trickle);
      }

      const slowData = await client(running);
      await slowData.hello();
      await slowData.command("MAIL FROM:<a@b.example>");
      await slowData.command("RCPT TO:<c@d.example>");
      assert.equal((await slowData.command("DATA")).code, 354);
      const dataStart = Date.now();
      const drip = setInterval(() => slowData.send("0123456789"), 100); // 100 B/s < 1000 B/s
      try {
        assert.equal((await slowData.reply()).code, 421);
        assert.ok(Date.now() - dataStart < 2000);
      } finally {
        clearInterval(drip);
      }
      assert.equal(running.receiver.accepted.length, 0);
    });
  });

  it("a handler that takes long (the receiver storing) does not count against the client", async () => {
    const cfg = testConfig({ commandTimeoutMs: 300 });
    await withListener(cfg, async (running) => {
      const accept = running.receiver.accept.bind(running.receiver);
      running.receiver.accept = async (m, b) => {
        await sleep(700);
        return accept(m, b);
      };
      const c = await client(running);
      await c.hello();
      await c.command("MAIL FROM:<a@b.example>");
      await c.command("RCPT TO:<c@d.example>");
      await c.command("DATA");
      c.send("x\r\n.\r\n");
      assert.equal((await c.reply()).code, 250);
      c.close();
    });
  });

  it("calls the InboundPolicy hooks with the session facts, stores its rewrite and prepends its headers", async () => {
    const calls: string[] = [];
    const seen: SessionFacts[] = [];
    const refuse = (text: string): Reply => ({ code: 550, enhanced: "5.7.1", text });
    const policy: InboundPolicy = {
      async onConnect(s) {
        calls.push(`connect ${s.clientAddress}`);
        return s.clientAddress === "127.0.0.3" ? { code: 554, enhanced: "5.7.1", text: "go away" } : null;
      },
      async onMail(s, sender) {
        seen.push(s);
        calls.push(`mail ${sender}`);
        return sender === "spam@bad.example" ? refuse("bad sender") : null;
      },
      async onRcpt(_s, sender, rcpt) {
        calls.push(`rcpt ${sender} ${rcpt}`);
        return rcpt === "no@dest.example" ? refuse("bad rcpt") : null;
      },
      async onData(_s, envelope, message) {
        calls.push(`data ${envelope.recipients.join(",")} ${message.toString().split("\r\n")[0]}`);
        return {
          headers: ["Authentication-Results: mx.test.example; spf=pass"],
          content: Buffer.from(message.toString().replace("Subject: p", "Subject: rewritten")),
        };
      },
      onClose(s) {
        calls.push(`close ${s.clientAddress}`);
      },
    };
    const running = await withListener(
      testConfig(),
      async (r) => {
        const refused = await client(r, "127.0.0.3");
        assert.equal((await refused.reply()).last, "554 5.7.1 go away");
        assert.equal(await refused.closedWithin(2000), true);
        const c = await client(r);
        await c.hello();
        assert.equal((await c.command("MAIL FROM:<spam@bad.example>")).last, "550 5.7.1 bad sender");
        assert.equal((await c.command("MAIL FROM:<ok@src.example>")).code, 250);
        assert.equal((await c.command("RCPT TO:<no@dest.example>")).last, "550 5.7.1 bad rcpt");
        assert.equal((await c.command("RCPT TO:<yes@dest.example>")).code, 250);
        await c.command("DATA");
        c.send("Subject: p\r\n\r\nbody\r\n.\r\n");
        assert.equal((await c.reply()).code, 250);
        await c.command("QUIT");
        await c.closedWithin(2000);
        await sleep(50);
      },
      policy,
    );
    assert.deepEqual(calls, [
      "connect 127.0.0.3",
      "close 127.0.0.3",
      "connect 127.0.0.1",
      "mail spam@bad.example",
      "mail ok@src.example",
      "rcpt ok@src.example no@dest.example",
      "rcpt ok@src.example yes@dest.example",
      "data yes@dest.example Subject: p",
      "close 127.0.0.1",
    ]);
    const { id, ...rest } = seen[0]!;
    assert.equal(typeof id, "string");
    assert.deepEqual(rest, {
      clientAddress: "127.0.0.1",
      helo: "client.test.example",
      tls: false,
      user: null,
      trusted: true,
      listener: `127.0.0.1:${running.port}`,
    });
    const body = running.receiver.accepted[0]!.body.toString();
    assert.match(
      body,
      /^Authentication-Results: mx\.test\.example; spf=pass\r\nReceived: from client\.test\.example/,
    );
    assert.match(body, /\r\nSubject: rewritten\r\n\r\nbody\r\n$/, "the policy's rewrite is what is stored");
  });

  it("relay: an untrusted client may send to local domains only, and never with routing tricks", async () => {
    const cfg = testConfig({ trustedNetworks: ["127.0.0.2/32"], localDomains: ["bounces.test.example"] });
    await withListener(cfg, async (running) => {
      const c = await client(running);
      await c.hello();
      await c.command("MAIL FROM:<a@src.example>");
      assert.equal((await c.command("RCPT TO:<u@bounces.test.example>")).code, 250);
      for (const path of [
        "<u@foreign.example>",
        "<u%foreign.example@bounces.test.example>",
        "<foreign.example!u@bounces.test.example>",
        "<@bounces.test.example:u@bounces.test.example>",
        '<"u%foreign.example"@bounces.test.example>',
        "<u@[127.0.0.1]>",
      ]) {
        assert.match(
          (await c.command(`RCPT TO:${path}`)).last,
          /^(554 5\.7\.1 Relay access denied|501 )/,
          path,
        );
      }
      c.close();
    });
  });
});
