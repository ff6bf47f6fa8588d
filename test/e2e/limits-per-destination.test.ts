/**
 * Scenario: per source IP x destination limits of a transport, measured at the receiving end.
 * Each transport delivers to its own counting receiver (its own port), so every measure belongs
 * to one limit: concurrency 3 never shows more than 3 simultaneous sessions in a 300-message
 * burst; rate_delay 0.2s spaces deliveries at least 0.2 s apart (even with several connections
 * allowed); and a transport's own max_queue_lifetime expires its deferred mail while another
 * transport's deferred mail stays queued.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type CountingReceiver, startCountingReceiver } from "../support/counting-receiver.ts";
import { eventually, sleep, startWorld, type World } from "../support/e2e-world.ts";
import { type InjectedMessage, injectMessages } from "../support/smtp-inject.ts";

describe("limits per source IP x destination", () => {
  let world: World;
  let burst: CountingReceiver;
  let paced: CountingReceiver;
  let slow: CountingReceiver;

  before(async () => {
    // Holding each final reply 15 ms makes the burst's sessions overlap.
    burst = await startCountingReceiver({ dataDelayMs: 15 });
    paced = await startCountingReceiver();
    // Defers every recipient at short.test and long.test; takes the DSNs for the sender.
    slow = await startCountingReceiver({
      deferRecipient: (rcpt) => (/@(short|long)\.test$/.test(rcpt) ? "mailbox busy, try later" : null),
    });
    const mx = (host: string) => ({ mx: [{ preference: 10, exchange: host }] });
    const at = { a: ["127.0.0.1"] };
    const out = (port: number, extra: Record<string, unknown>) => ({
      nexthop: "mx",
      port,
      retry_schedule: ["1s"],
      idle_timeout: "1s",
      ...extra,
    });
    world = await startWorld({
      mxPort: slow.port,
      zone: {
        "burst.test": mx("mx.burst.test"),
        "mx.burst.test": at,
        "paced.test": mx("mx.paced.test"),
        "mx.paced.test": at,
        "short.test": mx("mx.slow.test"),
        "long.test": mx("mx.slow.test"),
        "client.test": mx("mx.slow.test"),
        "mx.slow.test": at,
      },
      config: {
        transports: {
          burst: out(burst.port, { concurrency: 3 }),
          paced: out(paced.port, { concurrency: 4, rate_delay: "0.2s" }),
          short: out(slow.port, { max_queue_lifetime: "3s" }),
          long: out(slow.port, { max_queue_lifetime: "1h" }),
        },
        routes: [
          { match: { recipient_domain: ["burst.test"] }, transport: "burst" },
          { match: { recipient_domain: ["paced.test"] }, transport: "paced" },
          { match: { recipient_domain: ["short.test"] }, transport: "short" },
          { match: { recipient_domain: ["long.test"] }, transport: "long" },
        ],
      },
    });
  });

  after(async () => {
    await world?.close();
    await Promise.all([burst?.close(), paced?.close(), slow?.close()]);
  });

  it("never opens more than `concurrency` sessions to a site in a burst", { timeout: 60_000 }, async () => {
    const messages: InjectedMessage[] = Array.from({ length: 300 }, (_, i) => ({
      from: "sender@client.test",
      to: [`user${i}@burst.test`],
      subject: `burst ${i}`,
    }));
    await injectMessages(world.smtpPort, messages, 6);
    await eventually(
      "300 messages at the receiver",
      () => (burst.messages.length >= 300 ? true : undefined),
      45_000,
    );
    assert.equal(burst.maxOpenSessions, 3, `peak of ${burst.maxOpenSessions} simultaneous sessions`);
  });

  it("keeps rate_delay between the deliveries to a site", { timeout: 30_000 }, async () => {
    const count = 8;
    const messages: InjectedMessage[] = Array.from({ length: count }, (_, i) => ({
      from: "sender@client.test",
      to: [`user${i}@paced.test`],
      subject: `paced ${i}`,
    }));
    await injectMessages(world.smtpPort, messages, 4);
    await eventually("the paced messages", () => (paced.messages.length >= count ? true : undefined));
    const starts = paced.messages.map((m) => m.mailAt).sort((a, b) => a - b);
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    // 200 ms at the sender; 10 ms allows for the two processes' scheduling jitter.
    const smallest = Math.min(...gaps);
    assert.ok(smallest >= 190, `gaps in ms: ${gaps.map((g) => g.toFixed(1)).join(", ")}`);
  });

  it("expires mail on a transport with its own max_queue_lifetime, and only there", {
    timeout: 30_000,
  }, async () => {
    await injectMessages(world.smtpPort, [
      { from: "sender@client.test", to: ["a@short.test"], subject: "short-lived" },
      { from: "sender@client.test", to: ["b@long.test"], subject: "long-lived" },
    ]);
    await world.mailfleet.waitForLog(/ expired to=<a@short\.test>/, 15_000);
    // A few more retry rounds for the other transport: its mail is still deferred, not expired.
    await sleep(1500);
    assert.ok(!world.mailfleet.log.some((l) => / expired to=<b@long\.test>/.test(l)));
    const queue = await world.mailq();
    const rcpts = queue.messages
      .filter((m) => m.sender === "sender@client.test")
      .flatMap((m) => m.recipients.filter((r) => r.state === "pending"));
    assert.deepEqual(
      rcpts.map((r) => r.address),
      ["b@long.test"],
    );
    // The expiry DSN went back to the sender.
    await eventually("the expiry DSN", () =>
      slow.messages.find((m) => m.recipients.includes("sender@client.test") && m.sender === ""),
    );
  });
});
