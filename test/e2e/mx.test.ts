/**
 * Scenario: MX resolution against a real (fake) DNS server. Null MX and NXDOMAIN bounce at once,
 * SERVFAIL defers, an MX host that refuses connections is skipped for the next one, and a
 * destination in private address space is refused unless allow_private_destinations is on.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ZoneSpec } from "../support/dns-server.ts";
import { eventually, simpleMessage, sleep, startWorld, type World } from "../support/e2e-world.ts";
import { freePort } from "../support/ports.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";

const zone: ZoneSpec = {
  // A Null MX domain that also has an A record pointing at the sink: the A fallback must not
  // be used, so the sink getting this mail proves the Null MX was ignored.
  "nullmx.test": { mx: [{ preference: 0, exchange: "." }], a: ["127.0.0.1"] },
  "broken.test": { behaviour: "servfail" },
  "twomx.test": {
    mx: [
      { preference: 10, exchange: "mx1.twomx.test" },
      { preference: 20, exchange: "mx2.twomx.test" },
    ],
  },
  // Nothing listens on 127.0.0.3: connection refused.
  "mx1.twomx.test": { a: ["127.0.0.3"] },
  "mx2.twomx.test": { a: ["127.0.0.1"] },
  "private.test": { mx: [{ preference: 10, exchange: "mx.private.test" }] },
  "mx.private.test": { a: ["127.0.0.1"] },
  "sender.test": { mx: [{ preference: 10, exchange: "mx.sender.test" }] },
  "mx.sender.test": { a: ["127.0.0.2"] },
};

describe("mx", () => {
  let sink: Sink;
  let senderMx: Sink;
  let world: World;
  let mxPort: number;

  before(async () => {
    mxPort = await freePort();
    sink = await startSink({ host: "127.0.0.1", port: mxPort });
    senderMx = await startSink({ host: "127.0.0.2", port: mxPort });
    world = await startWorld({ mxPort, zone });
  });

  after(async () => {
    await world?.close();
    await sink?.destroy();
    await senderMx?.destroy();
  });

  async function send(to: string, subject: string, w = world) {
    const sent = await w.send(
      "alice@sender.test",
      [to],
      simpleMessage({ from: "alice@sender.test", to, subject }),
    );
    assert.equal(sent.code, 0, sent.stderr);
    assert.ok(sent.queueId);
    return sent.queueId;
  }

  it("bounces a Null MX domain at once with 5.1.10 and never connects", { timeout: 60_000 }, async () => {
    const id = await send("bob@nullmx.test", "null mx");
    const bounced = await world.mailfleet.waitForLog(/\bbounced\b.*to=<bob@nullmx\.test>/, 20_000);
    assert.ok(bounced.includes(id), bounced);
    assert.match(bounced, /\b5\.1\.10\b/);
    const deferrals = world.mailfleet.log.filter((l) => l.includes(id) && /\bdeferred\b/.test(l));
    assert.deepEqual(deferrals, [], "a Null MX is final on the first attempt");
    const copies = (await sink.messages()).filter((m) => m.content.includes("Subject: null mx"));
    assert.deepEqual(copies, [], "the A-record fallback must not be used for a Null MX domain");
  });

  it("bounces a domain that does not exist (NXDOMAIN)", { timeout: 60_000 }, async () => {
    const id = await send("bob@nowhere.test", "nxdomain");
    const bounced = await world.mailfleet.waitForLog(/\bbounced\b.*to=<bob@nowhere\.test>/, 20_000);
    assert.ok(bounced.includes(id), bounced);
    assert.match(bounced, /dsn=5\.\d+\.\d+/);
  });

  it("defers on SERVFAIL and keeps the message queued", { timeout: 60_000 }, async () => {
    const id = await send("bob@broken.test", "servfail");
    const deferred = await world.mailfleet.waitForLog(/\bdeferred\b.*to=<bob@broken\.test>/, 20_000);
    assert.ok(deferred.includes(id), deferred);
    assert.match(deferred, /dsn=4\.\d+\.\d+/);
    const pending = await eventually("mailq listing it with a reason", async () => {
      const message = (await world.mailq()).messages.find((m) => m.id === id);
      const recipient = message?.recipients[0];
      return recipient?.lastReason ? recipient : undefined;
    });
    assert.equal(pending.state, "pending");
    const bounces = world.mailfleet.log.filter((l) => l.includes(id) && /\bbounced\b/.test(l));
    assert.deepEqual(bounces, [], "a DNS failure that may pass must not bounce");
  });

  it("delivers via the second MX when the first refuses connections", { timeout: 60_000 }, async () => {
    const id = await send("bob@twomx.test", "two mx");
    const delivered = await world.mailfleet.waitForLog(/\bdelivered\b.*to=<bob@twomx\.test>/, 20_000);
    assert.ok(delivered.includes(id), delivered);
    assert.match(delivered, new RegExp(`relay=mx2\\.twomx\\.test\\[127\\.0\\.0\\.1\\]:${mxPort}`));
    const copy = await eventually("the copy at the second MX", async () =>
      (await sink.messages()).find((m) => m.content.includes("Subject: two mx")),
    );
    assert.ok(copy.rcptArgs.some((a) => a.startsWith("<bob@twomx.test>")));
  });

  it("refuses a private destination when allow_private_destinations is false", {
    timeout: 60_000,
  }, async () => {
    const strict = await startWorld({
      mxPort,
      zone,
      config: { delivery: { allow_private_destinations: false } },
    });
    try {
      const id = await send("bob@private.test", "private destination", strict);
      const line = await eventually("a final or temporary failure for bob@private.test", () =>
        strict.mailfleet.log.find(
          (l) => /\b(bounced|deferred)\b/.test(l) && l.includes("to=<bob@private.test>"),
        ),
      );
      assert.ok(line.includes(id), line);
      assert.match(line, /\bbounced\b/, `a private destination is a permanent refusal: ${line}`);
      assert.match(line, /private/i);
      await sleep(1_000);
      const copies = (await sink.messages()).filter((m) =>
        m.content.includes("Subject: private destination"),
      );
      assert.deepEqual(copies, [], "nothing may be sent to a private address");
      assert.ok(!strict.mailfleet.log.some((l) => /\bdelivered\b.*to=<bob@private\.test>/.test(l)));
    } finally {
      await strict.close();
    }
  });
});
