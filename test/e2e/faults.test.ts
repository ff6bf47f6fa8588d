/**
 * Scenario: faults on the receiving side. A connection dropped after the final dot (no reply)
 * defers the message with a "may be duplicated" warning. A message whose recipients fare
 * differently is tracked per recipient: the accepted one is delivered exactly once and only the
 * deferred one is retried.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, simpleMessage, sleep, startWorld, type World } from "../support/e2e-world.ts";
import { freePort } from "../support/ports.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";

describe("faults", () => {
  let mxPort: number;
  let good: Sink;
  let slow: Sink;
  let dropper: Sink;
  let world: World;

  before(async () => {
    mxPort = await freePort();
    good = await startSink({ host: "127.0.0.1", port: mxPort });
    slow = await startSink({ host: "127.0.0.2", port: mxPort, flags: ["-r", "RCPT"] });
    dropper = await startSink({ host: "127.0.0.3", port: mxPort, flags: ["-q", "."] });
    world = await startWorld({
      mxPort,
      zone: {
        "good.test": { mx: [{ preference: 10, exchange: "mx.good.test" }] },
        "mx.good.test": { a: ["127.0.0.1"] },
        "slow.test": { mx: [{ preference: 10, exchange: "mx.slow.test" }] },
        "mx.slow.test": { a: ["127.0.0.2"] },
        "dropper.test": { mx: [{ preference: 10, exchange: "mx.dropper.test" }] },
        "mx.dropper.test": { a: ["127.0.0.3"] },
      },
    });
  });

  after(async () => {
    await world?.close();
    for (const sink of [good, slow, dropper]) await sink?.destroy();
  });

  it("defers with a 'may be duplicated' warning when the peer drops after the final dot", {
    timeout: 60_000,
  }, async () => {
    const sent = await world.send(
      "alice@good.test",
      ["bob@dropper.test"],
      simpleMessage({ from: "alice@good.test", to: "bob@dropper.test", subject: "dropped after dot" }),
    );
    assert.equal(sent.code, 0, sent.stderr);
    const deferred = await world.mailfleet.waitForLog(/\bdeferred\b.*to=<bob@dropper\.test>/, 30_000);
    assert.ok(deferred.includes(sent.queueId!), deferred);
    assert.match(deferred, /may be duplicated/);
    const delivered = world.mailfleet.log.filter((l) => /\bdelivered\b.*to=<bob@dropper\.test>/.test(l));
    assert.deepEqual(delivered, [], "no reply to the dot is not a delivery");
    const listing = await world.mailq();
    assert.ok(
      listing.messages.some((m) => m.id === sent.queueId),
      "the message stays queued for another attempt",
    );
  });

  it("delivers an accepted recipient once and retries only the deferred one", {
    timeout: 60_000,
  }, async () => {
    const subject = "mixed outcome";
    const sent = await world.send(
      "alice@good.test",
      ["carol@good.test", "dave@slow.test"],
      simpleMessage({ from: "alice@good.test", to: "carol@good.test, dave@slow.test", subject }),
    );
    assert.equal(sent.code, 0, sent.stderr);
    const id = sent.queueId!;
    await world.mailfleet.waitForLog(/\bdelivered\b.*to=<carol@good\.test>/, 20_000);
    // Let a few retries of dave happen while the slow MTA still refuses.
    await world.mailfleet.waitForLogCount(/\bdeferred\b.*to=<dave@slow\.test>/, 2, 20_000);
    const listing = await world.mailq();
    const message = listing.messages.find((m) => m.id === id);
    assert.ok(message, "the message is still queued for dave");
    const states = Object.fromEntries(message.recipients.map((r) => [r.address, r.state]));
    assert.deepEqual(states, { "carol@good.test": "delivered", "dave@slow.test": "pending" });

    await slow.destroy();
    slow = await startSink({ host: "127.0.0.2", port: mxPort });
    await world.mailfleet.waitForLog(/\bdelivered\b.*to=<dave@slow\.test>/, 20_000);
    await eventually("the message leaving the queue", async () =>
      (await world.mailq()).messages.some((m) => m.id === id) ? undefined : true,
    );
    await sleep(1_500);

    const atGood = (await good.messages()).filter((m) => m.content.includes(`Subject: ${subject}`));
    assert.equal(atGood.length, 1, "carol gets exactly one copy");
    assert.deepEqual(
      atGood[0]!.rcptArgs.map((a) => a.split(" ")[0]),
      ["<carol@good.test>"],
    );
    const atSlow = (await slow.messages()).filter((m) => m.content.includes(`Subject: ${subject}`));
    assert.equal(atSlow.length, 1, "dave gets exactly one copy");
    assert.deepEqual(
      atSlow[0]!.rcptArgs.map((a) => a.split(" ")[0]),
      ["<dave@slow.test>"],
    );
    const carolDeliveries = world.mailfleet.log.filter((l) => /\bdelivered\b.*to=<carol@good\.test>/.test(l));
    assert.equal(carolDeliveries.length, 1);
  });
});
