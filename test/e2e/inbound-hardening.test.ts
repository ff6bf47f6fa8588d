/**
 * Scenario: protocol hardening of the listener on a real mailfleet (issue #5), each case on real
 * sockets with the reply it gets:
 * - SMTP smuggling: `\n.\n`, `\n.\r\n`, `\r.\r`, `\r\n.\n`, `\r\n\x00.\r\n`, each followed by a
 *   second MAIL/RCPT/DATA, never queue a second message;
 * - line length: a command over 998 bytes gets 500 5.5.2 and the session goes on; a content line
 *   over 998 refuses the message with 500 5.5.2; a 256 MB command line and a 10 MB content line
 *   keep the process's memory bounded;
 * - too many recipients: 452 4.5.3, the earlier ones kept and delivered;
 * - size: 552 5.3.4 at MAIL SIZE= and after DATA, nothing queued; bad SIZE syntax 501;
 * - NUL and invalid bytes in commands: 501, the session goes on;
 * - early talker: 554 5.5.0 and close; error limit: 421 4.7.0 after 20 errors; HTTP verbs close;
 * - slow clients: a trickled command and a trickled DATA are cut off (421 4.4.2) while another
 *   client is served; connections per client IP: 421 4.7.0; hop loops: 554 5.4.0.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { eventually, sleep } from "../support/e2e-world.ts";
import { type InboundWorld, startInboundWorld } from "../support/inbound-world.ts";
import { openSmtp, type SmtpDialog } from "../support/smtp-dialog.ts";

const MAX_SIZE = 256 * 1024;

describe("inbound protocol hardening", () => {
  let inbound: InboundWorld;

  before(async () => {
    inbound = await startInboundWorld({
      config: {
        limits: {
          max_message_size: MAX_SIZE,
          max_recipients: 3,
          max_hops: 5,
          greet_pause: "1s",
          command_timeout: "2s",
          min_data_rate: 1000,
          max_connections_per_ip: 3,
          max_connections: 10,
        },
      },
    });
  });

  after(async () => {
    await inbound?.close();
  });

  /** A trusted client's session (127.0.0.1: no greet pause, no per-IP cap). */
  async function session(
    run: (smtp: SmtpDialog) => Promise<void>,
    localAddress = "127.0.0.1",
  ): Promise<void> {
    const smtp = await openSmtp({ port: inbound.port, localAddress });
    try {
      assert.equal((await smtp.command("EHLO client.test")).code, 250);
      await run(smtp);
    } finally {
      smtp.close();
    }
  }

  function receivedFrom(sender: string): string[] {
    return inbound.world.mailfleet.log.filter(
      (l) => /\breceived\b/.test(l) && l.includes(`from=<${sender}>`),
    );
  }

  function rssKiB(): number {
    const status = readFileSync(`/proc/${inbound.instancePid()}/status`, "utf8");
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  }

  const VARIANTS = ["\n.\n", "\n.\r\n", "\r.\r", "\r\n.\n", "\r\n\x00.\r\n"];
  for (const [i, variant] of VARIANTS.entries()) {
    it(`smuggling: ${JSON.stringify(variant)} then MAIL/RCPT/DATA queues one message only`, {
      timeout: 30_000,
    }, async (t) => {
      const replies: string[] = [];
      await session(async (smtp) => {
        assert.equal((await smtp.command(`MAIL FROM:<smuggle${i}@client.test>`)).code, 250);
        assert.equal((await smtp.command("RCPT TO:<real@dest.test>")).code, 250);
        assert.equal((await smtp.command("DATA")).code, 354);
        const smuggled =
          `MAIL FROM:<evil${i}@evil.test>\r\nRCPT TO:<victim@dest.test>\r\nDATA\r\n` +
          `Subject: smuggled ${i}\r\n\r\nevil`;
        replies.push(
          (await smtp.sendRaw(`Subject: smuggle ${i}\r\n\r\nhello${variant}${smuggled}${variant}\r\n.\r\n`))
            .raw,
        );
        replies.push((await smtp.command("NOOP")).raw);
      });
      t.diagnostic(replies.join(" | "));
      assert.match(replies[0]!, /^250 2\.0\.0 Ok: queued as /);
      assert.match(replies[1]!, /^250 /, "the NOOP is the next command: nothing was left over");
      await eventually("the received line", () =>
        receivedFrom(`smuggle${i}@client.test`).length === 1 ? true : undefined,
      );
      const copy = await eventually("the delivered copy", async () =>
        (await inbound.sink.messages()).find((m) => m.content.includes(`Subject: smuggle ${i}`)),
      );
      assert.deepEqual(copy.rcptArgs, ["<real@dest.test>"]);
      assert.ok(copy.content.includes(`MAIL FROM:<evil${i}@evil.test>`), "the smuggled commands are content");
      assert.deepEqual(receivedFrom(`evil${i}@evil.test`), [], "no second message");
    });
  }

  it("answers a command line over 998 bytes with 500 5.5.2 and goes on", { timeout: 30_000 }, async () => {
    await session(async (smtp) => {
      assert.equal((await smtp.command(`NOOP ${"a".repeat(993)}`)).code, 250);
      assert.equal((await smtp.command(`NOOP ${"a".repeat(994)}`)).raw, "500 5.5.2 Error: line too long");
      assert.equal((await smtp.command("MAIL FROM:<after-long@client.test>")).code, 250);
    });
  });

  it("refuses a message with a content line over 998 bytes with 500 5.5.2", { timeout: 30_000 }, async () => {
    await session(async (smtp) => {
      await smtp.command("MAIL FROM:<longline@client.test>");
      await smtp.command("RCPT TO:<real@dest.test>");
      await smtp.command("DATA");
      const reply = await smtp.sendRaw(`Subject: long content line\r\n\r\n${"b".repeat(999)}\r\n.\r\n`);
      assert.equal(reply.raw, "500 5.5.2 Error: line too long: message has lines longer than 998 octets");
      assert.equal((await smtp.command("RSET")).code, 250);
    });
    assert.deepEqual(receivedFrom("longline@client.test"), []);
  });

  it("keeps memory bounded for a 256 MB command line and a 10 MB content line", {
    timeout: 60_000,
  }, async (t) => {
    const socket = connect({ host: "127.0.0.1", port: inbound.port });
    let text = "";
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
    });
    const reply = async (pattern: RegExp) => {
      const line = await eventually(`a reply ${pattern}`, () => pattern.exec(text)?.[0], 20_000);
      text = text.slice(text.indexOf(line) + line.length);
      return line.trim();
    };
    const write = (data: Buffer | string) =>
      new Promise<void>((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())));
    const chunk = Buffer.alloc(64 * 1024, "x");
    const before = rssKiB();
    let peak = before;
    const megabytes = async (count: number) => {
      for (let k = 0; k < count * 16; k++) {
        await write(chunk);
        if (k % 16 === 0) peak = Math.max(peak, rssKiB());
      }
    };
    try {
      await reply(/^220 .*\r\n/m);
      await write("EHLO big.test\r\n");
      await reply(/^250 .*\r\n/m);
      await megabytes(256); // one command line, no line end: keeping it would not fit the bound
      await write("\r\n");
      assert.equal(await reply(/^5\d\d .*\r\n/m), "500 5.5.2 Error: line too long");
      peak = Math.max(peak, rssKiB());
      await write("MAIL FROM:<huge@client.test>\r\nRCPT TO:<real@dest.test>\r\nDATA\r\n");
      await reply(/^354 .*\r\n/m);
      await megabytes(10); // one content line
      await write("\r\n.\r\n");
      assert.match(
        await reply(/^5\d\d .*\r\n/m),
        /^552 5\.3\.4 /,
        "over max_message_size too: refused, nothing kept",
      );
      peak = Math.max(peak, rssKiB());
    } finally {
      socket.destroy();
    }
    t.diagnostic(
      `instance RSS before ${before} KiB, peak ${peak} KiB (+${peak - before} KiB for 256 + 10 MiB)`,
    );
    // What grows is garbage: socket buffers live outside V8's heap, and V8 lets about 64 MiB of
    // such external memory build up before it collects: a cold instance peaks near 130 MiB
    // whether it is sent 128 or 512 MiB. Keeping the line would need 256 MiB.
    assert.ok(peak - before < 200 * 1024, `RSS grew by ${peak - before} KiB`);
    assert.deepEqual(receivedFrom("huge@client.test"), []);
  });

  it("answers recipients past max_recipients with 452 4.5.3 and delivers to the earlier ones", {
    timeout: 60_000,
  }, async () => {
    await session(async (smtp) => {
      await smtp.command("MAIL FROM:<many@client.test>");
      for (const r of ["r1", "r2", "r3"])
        assert.equal((await smtp.command(`RCPT TO:<${r}@dest.test>`)).code, 250);
      assert.match((await smtp.command("RCPT TO:<r4@dest.test>")).raw, /^452 4\.5\.3 /);
      await smtp.command("DATA");
      assert.equal((await smtp.sendRaw("Subject: too many rcpts\r\n\r\nx\r\n.\r\n")).code, 250);
    });
    const copy = await eventually("the delivered copy", async () =>
      (await inbound.sink.messages()).find((m) => m.content.includes("Subject: too many rcpts")),
    );
    assert.deepEqual(copy.rcptArgs.sort(), ["<r1@dest.test>", "<r2@dest.test>", "<r3@dest.test>"]);
  });

  it("refuses oversize at MAIL SIZE= and after DATA with 552 5.3.4, bad SIZE with 501", {
    timeout: 30_000,
  }, async () => {
    await session(async (smtp) => {
      assert.match(
        (await smtp.command(`MAIL FROM:<big@client.test> SIZE=${MAX_SIZE + 1}`)).raw,
        /^552 5\.3\.4 /,
      );
      assert.match((await smtp.command("MAIL FROM:<big@client.test> SIZE=12abc")).raw, /^501 /);
      assert.match((await smtp.command("MAIL FROM:<big@client.test> SIZE=")).raw, /^501 /);
      assert.equal((await smtp.command(`MAIL FROM:<big@client.test> SIZE=${MAX_SIZE}`)).code, 250);
      await smtp.command("RCPT TO:<real@dest.test>");
      await smtp.command("DATA");
      const body = `${"c".repeat(900)}\r\n`.repeat(Math.ceil(MAX_SIZE / 900) + 1);
      assert.match((await smtp.sendRaw(`Subject: big\r\n\r\n${body}.\r\n`)).raw, /^552 5\.3\.4 /);
    });
    await sleep(200);
    assert.deepEqual(receivedFrom("big@client.test"), []);
  });

  it("answers NUL and invalid bytes in a command with 501 and goes on", { timeout: 30_000 }, async () => {
    await session(async (smtp) => {
      assert.equal(
        (await smtp.sendRaw("NOOP\0x\r\n")).raw,
        "501 5.5.2 Error: NUL, control or invalid UTF-8 bytes in command",
      );
      assert.equal((await smtp.sendRaw(Buffer.from("MAIL FROM:<\xff@client.test>\r\n", "latin1"))).code, 501);
      assert.equal((await smtp.command("MAIL FROM:<clean@client.test>")).code, 250);
    });
  });

  it("greet pause: a stranger talking before the banner gets 554 5.5.0 and is closed", {
    timeout: 30_000,
  }, async () => {
    const socket = connect({ host: "127.0.0.1", port: inbound.port, localAddress: "127.0.0.2" });
    let received = "";
    socket.on("data", (d: Buffer) => {
      received += d.toString();
    });
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write("EHLO eager.test\r\n");
    await new Promise((resolve) => socket.once("close", resolve));
    assert.equal(received, "554 5.5.0 Error: protocol violation: client sent data before the greeting\r\n");
    const started = Date.now();
    const polite = await openSmtp({ port: inbound.port, localAddress: "127.0.0.2" });
    assert.equal(polite.greeting.code, 220);
    assert.ok(Date.now() - started >= 900, "greeted after the pause");
    polite.close();
  });

  it("says 421 4.7.0 and closes after 20 errors; HTTP verbs are closed at once", {
    timeout: 30_000,
  }, async () => {
    const smtp = await openSmtp({ port: inbound.port });
    for (let i = 1; i <= 20; i++) assert.equal((await smtp.command(`XYZZY ${i}`)).code, 500);
    assert.equal((await smtp.sendRaw("")).raw, "421 4.7.0 Error: too many errors");
    assert.equal(await smtp.closedWithin(3000), true);
    for (const request of ["GET / HTTP/1.1", "POST /submit HTTP/1.1", "CONNECT mx.dest.test:25 HTTP/1.1"]) {
      const http = await openSmtp({ port: inbound.port });
      const reply = await http.sendRaw(`${request}\r\nHost: x\r\n\r\n`);
      assert.match(reply.raw, /^421 4\.7\.0 /, request);
      assert.equal(await http.closedWithin(3000), true, request);
    }
  });

  it("cuts off slowloris clients (421 4.4.2) while another client is served", {
    timeout: 30_000,
  }, async () => {
    const slowCommand = await openSmtp({ port: inbound.port, timeoutMs: 10_000 });
    const slowData = await openSmtp({ port: inbound.port, timeoutMs: 10_000 });
    await slowData.command("EHLO slow.test");
    await slowData.command("MAIL FROM:<slow@client.test>");
    await slowData.command("RCPT TO:<real@dest.test>");
    assert.equal((await slowData.command("DATA")).code, 354);
    const started = Date.now();
    const drip = setInterval(() => {
      slowCommand.write("N"); // one byte every 200 ms: an idle timeout never fires
      slowData.write("0123456789"); // 50 B/s, below min_data_rate
    }, 200);
    try {
      await session(async (smtp) => {
        await smtp.command("MAIL FROM:<served@client.test>");
        await smtp.command("RCPT TO:<real@dest.test>");
        await smtp.command("DATA");
        assert.equal((await smtp.sendRaw("Subject: served meanwhile\r\n\r\nok\r\n.\r\n")).code, 250);
      });
      const cut = await Promise.all([slowCommand.sendRaw(""), slowData.sendRaw("")]);
      for (const reply of cut)
        assert.equal(reply.raw, "421 4.4.2 Error: timeout exceeded, closing connection");
      const elapsed = Date.now() - started;
      assert.ok(elapsed > 1500 && elapsed < 6000, `cut after ${elapsed} ms`);
    } finally {
      clearInterval(drip);
      slowCommand.close();
      slowData.close();
    }
    assert.deepEqual(receivedFrom("slow@client.test"), []);
  });

  it("caps connections per client IP with 421 4.7.0", { timeout: 30_000 }, async () => {
    const open = await Promise.all(
      [1, 2, 3].map(() => openSmtp({ port: inbound.port, localAddress: "127.0.0.9" })),
    );
    const fourth = connect({ host: "127.0.0.1", port: inbound.port, localAddress: "127.0.0.9" });
    let text = "";
    fourth.on("data", (d: Buffer) => {
      text += d.toString();
    });
    await new Promise((resolve) => fourth.once("close", resolve));
    assert.equal(text, "421 4.7.0 Error: too many connections from your address, try again later\r\n");
    for (const s of open) s.close();
  });

  it("caps sessions in all at max_connections with 421 4.7.0; a trusted client still gets in", {
    timeout: 30_000,
  }, async () => {
    // 12 strangers from 4 addresses, 3 each (the per-IP cap): only max_connections get a banner.
    const addresses = ["127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"].flatMap((a) => [a, a, a]);
    const strangers = await Promise.all(addresses.map((a) => firstLine(inbound.port, a)));
    const greeted = strangers.filter((s) => s.line.startsWith("220 "));
    const refused = strangers.filter((s) => !s.line.startsWith("220 "));
    assert.ok(greeted.length >= 1 && greeted.length <= 10, `${greeted.length} strangers greeted`);
    assert.ok(refused.length >= 2);
    for (const r of refused) assert.equal(r.line, "421 4.7.0 Error: too many connections, try again later");
    await session(async (smtp) => {
      assert.equal((await smtp.command("NOOP")).code, 250, "the trusted client is served");
    });
    for (const s of strangers) s.socket.destroy();
  });

  it("refuses a message over max_hops Received headers with 554 5.4.0", { timeout: 30_000 }, async () => {
    await session(async (smtp) => {
      await smtp.command("MAIL FROM:<loop@client.test>");
      await smtp.command("RCPT TO:<real@dest.test>");
      await smtp.command("DATA");
      const hops = "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n".repeat(5);
      assert.equal(
        (await smtp.sendRaw(`${hops}Subject: loop\r\n\r\nx\r\n.\r\n`)).raw,
        "554 5.4.0 Error: too many hops (5 Received headers)",
      );
    });
    assert.deepEqual(receivedFrom("loop@client.test"), []);
  });
});

/** Connects from `localAddress` and reads the server's first line (banner or refusal). */
function firstLine(port: number, localAddress: string): Promise<{ socket: Socket; line: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, localAddress });
    let text = "";
    socket.on("error", reject);
    socket.on("data", (d: Buffer) => {
      text += d.toString();
      const end = text.indexOf("\r\n");
      if (end >= 0) resolve({ socket, line: text.slice(0, end) });
    });
  });
}
