/**
 * SiteConnector and SiteSession against Postfix's smtp-sink and its fault flags: MX
 * failover, permanent vs temporary open failures, timeouts, drops, and what reached the sink.
 */
import assert from "node:assert/strict";
import { chmod, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  connectorFixture,
  outcomeSummary,
  startSmtpSink,
  testJob,
  testSite,
  testTransport,
} from "./test-helpers.ts";

const { connector, opened, cleanups } = connectorFixture();
const kinds = outcomeSummary;

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

  it("blames the source when a 5xx greeting names our IP on a blocklist", async () => {
    const reply = "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org";
    const sink = await startSmtpSink(["-f", "connect", "-B", reply]);
    cleanups.push(() => sink.stop());
    const r = await connector.open(testSite(sink.port, [["127.0.0.1"]]));
    assert.ok(!r.ok);
    assert.deepEqual([r.permanent, r.scope, r.reply.enhanced], [true, "source", "5.7.1"]);
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
