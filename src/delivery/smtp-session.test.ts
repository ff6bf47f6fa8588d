/**
 * SiteConnector against real receivers: Postfix's smtp-sink (with its fault flags) and
 * smtp-server where a per-recipient or per-connection behaviour is needed.
 */
import assert from "node:assert/strict";
import { chmod, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import pino from "pino";
import type { RecipientOutcome } from "../message/types.ts";
import { createSiteConnector } from "./smtp-session.ts";
import { startReceiver, startSmtpSink, testJob, testSite, testTransport } from "./test-helpers.ts";
import type { OpenResult, SiteSession } from "./types.ts";

const logger = pino({ level: "silent" });
const connector = createSiteConnector({ logger });
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function opened(r: OpenResult): SiteSession {
  assert.equal(r.ok, true, `open failed: ${JSON.stringify(r)}`);
  const session = (r as Extract<OpenResult, { ok: true }>).session;
  cleanups.push(() => session.close());
  return session;
}

function kinds(outcomes: RecipientOutcome[]) {
  return outcomes.map((o) => [
    o.recipientIndex,
    o.kind,
    o.reply.code,
    o.kind === "delivered" ? null : o.scope,
  ]);
}

describe("smtp session against smtp-sink", () => {
  it("delivers with relay info, DSN parameters and the body as sent", async () => {
    const dumpDir = await mkdtemp(join(tmpdir(), "mailfleet-sink-"));
    await chmod(dumpDir, 0o777);
    cleanups.push(() => rm(dumpDir, { recursive: true, force: true }));
    const sink = await startSmtpSink(["-d", `${dumpDir}/%M.`]);
    cleanups.push(() => sink.stop());
    const session = opened(await connector.open(testSite(sink.port, [[sink.host]])));
    const job = testJob(["a@dest.test", "b@dest.test"], {
      ret: "HDRS",
      envid: "env+1",
      bodyType: "8BITMIME",
    });
    job.recipients[0]!.notify = ["SUCCESS", "FAILURE"];
    job.recipients[0]!.orcpt = "rfc822;a@dest.test";
    job.recipients[1]!.notify = [];
    const outcomes = await session.deliver(job);
    assert.deepEqual(kinds(outcomes), [
      [0, "delivered", 250, null],
      [1, "delivered", 250, null],
    ]);
    const first = outcomes[0]!;
    assert.ok(first.kind === "delivered");
    assert.deepEqual(first.relay, {
      host: "mx1.test",
      ip: "127.0.0.1",
      port: sink.port,
      sourceIp: "127.0.0.1",
    });
    await session.close();
    await sink.stop();
    const files = await readdir(dumpDir);
    assert.equal(files.length, 1);
    const dump = await readFile(join(dumpDir, files[0]!), "utf8");
    assert.match(dump, /X-Mail-Args: <sender@origin\.test> BODY=8BITMIME RET=HDRS ENVID=env\+2B1\n/);
    assert.match(dump, /X-Rcpt-Args: <a@dest\.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@dest\.test\n/);
    assert.match(dump, /X-Rcpt-Args: <b@dest\.test> NOTIFY=NEVER\n/);
    assert.match(dump, /Subject: test\n\nHello\.\n\.leading dot\n/);
  });

  it("bounces recipients when the final dot gets a 5xx (scope message)", async () => {
    const sink = await startSmtpSink(["-f", ".", "-B", "554 5.7.1 Message content rejected"]);
    cleanups.push(() => sink.stop());
    const session = opened(await connector.open(testSite(sink.port, [[sink.host]])));
    const outcomes = await session.deliver(testJob(["a@dest.test"]));
    assert.deepEqual(kinds(outcomes), [[0, "bounced", 554, "message"]]);
    assert.equal(outcomes[0]?.reply.enhanced, "5.7.1");
    assert.equal(session.usable, true);
    // The connection still carries the next message.
    assert.equal((await session.deliver(testJob(["b@dest.test"])))[0]?.kind, "bounced");
  });

  it("defers all recipients of a soft RCPT reject (scope recipient)", async () => {
    const sink = await startSmtpSink(["-r", "rcpt"]);
    cleanups.push(() => sink.stop());
    const session = opened(await connector.open(testSite(sink.port, [[sink.host]])));
    const outcomes = await session.deliver(testJob(["a@dest.test", "b@dest.test"]));
    assert.deepEqual(kinds(outcomes), [
      [0, "deferred", 450, "recipient"],
      [1, "deferred", 450, "recipient"],
    ]);
    assert.equal(outcomes[0]?.reply.enhanced, "4.3.0");
    assert.equal(session.usable, true);
  });

  it("marks a drop after the final dot as maybe duplicated", async () => {
    const sink = await startSmtpSink(["-q", "."]);
    cleanups.push(() => sink.stop());
    const session = opened(await connector.open(testSite(sink.port, [[sink.host]])));
    const outcomes = await session.deliver(testJob(["a@dest.test"]));
    const o = outcomes[0]!;
    assert.equal(o.kind, "deferred");
    assert.ok(o.kind === "deferred");
    assert.equal(o.scope, "destination");
    assert.equal(o.mayBeDuplicated, true);
    assert.equal(session.usable, false);
  });

  it("defers without duplication flag when the drop comes before DATA", async () => {
    const sink = await startSmtpSink(["-q", "rcpt"]);
    cleanups.push(() => sink.stop());
    const session = opened(await connector.open(testSite(sink.port, [[sink.host]])));
    const o = (await session.deliver(testJob(["a@dest.test"])))[0]!;
    assert.ok(o.kind === "deferred");
    assert.equal(o.scope, "destination");
    assert.equal(o.mayBeDuplicated, undefined);
    assert.equal(session.usable, false);
    const later = await session.deliver(testJob(["b@dest.test"]));
    assert.deepEqual(kinds(later), [[0, "deferred", 451, "destination"]]);
  });

  it("moves to the next MX after a refused connection and after a 4xx greeting", async () => {
    const good = await startSmtpSink([], "127.0.0.1");
    cleanups.push(() => good.stop());
    const greylisting = await startSmtpSink(["-r", "connect"], "127.0.0.3", good.port);
    cleanups.push(() => greylisting.stop());
    // 127.0.0.2: nothing listens there (refused); 127.0.0.3: 450 greeting; 127.0.0.1: fine.
    const session = opened(
      await connector.open(testSite(good.port, [["127.0.0.2"], ["127.0.0.3"], ["127.0.0.1"]])),
    );
    const o = (await session.deliver(testJob(["a@dest.test"])))[0]!;
    assert.ok(o.kind === "delivered");
    assert.equal(o.relay.host, "mx3.test");
  });

  it("fails permanently only when every MX answers 5xx", async () => {
    const a = await startSmtpSink(["-f", "connect"], "127.0.0.1");
    cleanups.push(() => a.stop());
    const b = await startSmtpSink(["-f", "connect", "-B", "554 5.3.2 No thanks"], "127.0.0.3", a.port);
    cleanups.push(() => b.stop());
    const all5xx = await connector.open(testSite(a.port, [["127.0.0.1"], ["127.0.0.3"]]));
    assert.equal(all5xx.ok, false);
    assert.ok(!all5xx.ok);
    assert.equal(all5xx.permanent, true);
    assert.equal(all5xx.scope, "destination");
    assert.equal(all5xx.reply.code, 554);
    assert.match(all5xx.reply.text, /No thanks/);
    const mixed = await connector.open(testSite(a.port, [["127.0.0.1"], ["127.0.0.2"]]));
    assert.ok(!mixed.ok);
    assert.equal(mixed.permanent, false);
    assert.equal(mixed.reply.code, 451);
    // A 5xx greeting on the first MX only: the second one takes the mail.
    const good = await startSmtpSink([], "127.0.0.4", a.port);
    cleanups.push(() => good.stop());
    const session = opened(await connector.open(testSite(a.port, [["127.0.0.1"], ["127.0.0.4"]])));
    const o = (await session.deliver(testJob(["a@dest.test"])))[0]!;
    assert.ok(o.kind === "delivered");
    assert.equal(o.relay.ip, "127.0.0.4");
  });

  it("gives up on a silent greeting and a stalled DATA within the transport timeouts", async () => {
    // Accepts connections and never says a word.
    const silentSockets: net.Socket[] = [];
    const silent = net.createServer((socket) => silentSockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    cleanups.push(async () => {
      for (const socket of silentSockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });
    const fast = testTransport({
      timeouts: { connectMs: 500, greetingMs: 300, commandMs: 300, dataMs: 300 },
    });
    const { port } = silent.address() as net.AddressInfo;
    const r = await connector.open(testSite(port, [["127.0.0.1"]], fast));
    assert.ok(!r.ok);
    assert.deepEqual([r.permanent, r.reply.code, r.scope], [false, 451, "destination"]);

    const stalling = await startSmtpSink(["-w", "5"]);
    cleanups.push(() => stalling.stop());
    const session = opened(await connector.open(testSite(stalling.port, [["127.0.0.1"]], fast)));
    const o = (await session.deliver(testJob(["a@dest.test"])))[0]!;
    assert.ok(o.kind === "deferred");
    assert.equal(o.scope, "destination");
    assert.equal(o.mayBeDuplicated, undefined);
    assert.equal(session.usable, false);
  });
});

describe("smtp session against smtp-server", () => {
  it("gives each recipient its own outcome (250/450/550) and sends DATA for the accepted", async () => {
    const receiver = await startReceiver({
      onRcptTo(address, _session, callback) {
        if (address.address.startsWith("soft"))
          return callback(Object.assign(new Error("4.2.1 Mailbox busy"), { responseCode: 450 }));
        if (address.address.startsWith("hard"))
          return callback(Object.assign(new Error("5.1.1 User unknown"), { responseCode: 550 }));
        callback();
      },
    });
    cleanups.push(() => receiver.close());
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]])));
    const outcomes = await session.deliver(testJob(["ok@dest.test", "soft@dest.test", "hard@dest.test"]));
    assert.deepEqual(kinds(outcomes), [
      [0, "delivered", 250, null],
      [1, "deferred", 450, "recipient"],
      [2, "bounced", 550, "recipient"],
    ]);
    assert.equal(outcomes[2]?.reply.enhanced, "5.1.1");
    assert.deepEqual(
      receiver.messages.map((m) => m.to),
      [["ok@dest.test"]],
    );
  });

  it("bounces every recipient when MAIL FROM is refused (pipelined), with the null sender", async () => {
    const receiver = await startReceiver({
      onMailFrom(address, _session, callback) {
        if (address.address === "") return callback();
        callback(Object.assign(new Error("5.7.1 Sender refused"), { responseCode: 550 }));
      },
    });
    cleanups.push(() => receiver.close());
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]])));
    const refused = await session.deliver(testJob(["x@dest.test", "y@dest.test"]));
    assert.deepEqual(kinds(refused), [
      [0, "bounced", 550, "message"],
      [1, "bounced", 550, "message"],
    ]);
    assert.match(refused[0]!.reply.text, /Sender refused/);
    const bounce = await session.deliver(testJob(["x@dest.test"], { sender: "" }));
    assert.equal(bounce[0]?.kind, "delivered");
    assert.equal(receiver.messages[0]?.from, "");
  });

  it("sends no message when no recipient is accepted", async () => {
    const receiver = await startReceiver({
      onRcptTo(_address, _session, callback) {
        callback(Object.assign(new Error("5.1.1 User unknown"), { responseCode: 550 }));
      },
    });
    cleanups.push(() => receiver.close());
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]])));
    const outcomes = await session.deliver(testJob(["x@dest.test", "y@dest.test"]));
    assert.deepEqual(kinds(outcomes), [
      [0, "bounced", 550, "recipient"],
      [1, "bounced", 550, "recipient"],
    ]);
    assert.equal(receiver.messages.length, 0);
    assert.equal(session.usable, true);
    // The aborted transaction does not poison the next one.
    assert.equal((await session.deliver(testJob(["x@dest.test"])))[0]?.kind, "bounced");
  });

  it("sends recipients refused with 452 again in a second transaction", async () => {
    const receiver = await startReceiver({
      onRcptTo(_address, session, callback) {
        if (session.envelope.rcptTo.length >= 2) {
          return callback(Object.assign(new Error("4.5.3 Too many recipients"), { responseCode: 452 }));
        }
        callback();
      },
    });
    cleanups.push(() => receiver.close());
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]])));
    const rcpts = ["r1@dest.test", "r2@dest.test", "r3@dest.test", "r4@dest.test", "r5@dest.test"];
    const outcomes = await session.deliver(testJob(rcpts));
    assert.deepEqual(
      outcomes.map((o) => o.kind),
      ["delivered", "delivered", "delivered", "delivered", "delivered"],
    );
    assert.deepEqual(
      receiver.messages.map((m) => m.to),
      [rcpts.slice(0, 2), rcpts.slice(2, 4), rcpts.slice(4)],
    );
    assert.equal(receiver.connections, 1);
  });

  it("reuses one connection for several messages up to the per-connection limit", async () => {
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const transport = testTransport({ maxMessagesPerConnection: 3 });
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]], transport)));
    for (let i = 0; i < 3; i++) {
      assert.equal(session.usable, true);
      assert.equal((await session.deliver(testJob([`m${i}@dest.test`])))[0]?.kind, "delivered");
    }
    assert.equal(session.usable, false);
    assert.equal(receiver.messages.length, 3);
    assert.equal(receiver.connections, 1);
  });

  it("binds the transport's source address", async () => {
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const transport = testTransport({ bindAddress: "127.0.0.2" });
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]], transport)));
    const o = (await session.deliver(testJob(["a@dest.test"])))[0]!;
    assert.ok(o.kind === "delivered");
    assert.equal(o.relay.sourceIp, "127.0.0.2");
    assert.equal(receiver.messages[0]?.remoteAddress, "127.0.0.2");
  });

  it("uses STARTTLS when offered under opportunistic TLS", async () => {
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const transport = testTransport({ tls: "opportunistic" });
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]], transport)));
    assert.equal((await session.deliver(testJob(["a@dest.test"])))[0]?.kind, "delivered");
    assert.equal(receiver.messages[0]?.secure, true);
  });

  it("falls back to plaintext when the STARTTLS handshake fails (opportunistic)", async () => {
    // The server only speaks TLS 1.0, which the client refuses: a real handshake failure.
    const receiver = await startReceiver({ minVersion: "TLSv1", maxVersion: "TLSv1" } as never);
    cleanups.push(() => receiver.close());
    const transport = testTransport({ tls: "opportunistic" });
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]], transport)));
    assert.equal((await session.deliver(testJob(["a@dest.test"])))[0]?.kind, "delivered");
    assert.equal(receiver.messages[0]?.secure, false);
    assert.equal(receiver.connections, 2);
  });

  it("defers when TLS is required and fails, and when it is not offered", async () => {
    const broken = await startReceiver({ minVersion: "TLSv1", maxVersion: "TLSv1" } as never);
    cleanups.push(() => broken.close());
    const noTls = await startReceiver({ hideSTARTTLS: true, disabledCommands: ["AUTH", "STARTTLS"] });
    cleanups.push(() => noTls.close());
    const transport = testTransport({ tls: "required" });
    for (const port of [broken.port, noTls.port]) {
      const r = await connector.open(testSite(port, [["127.0.0.1"]], transport));
      assert.ok(!r.ok, "open must fail");
      assert.equal(r.permanent, false);
      assert.equal(r.reply.enhanced, "4.7.5");
      assert.equal(r.scope, "destination");
    }
    assert.equal(broken.messages.length + noTls.messages.length, 0);
  });
});
