/**
 * Scenario: source IP pools. One instance, one counting receiver on 127.0.0.1; the receiver
 * sees which loopback address each message came from. A round-robin pool over 127.0.0.2-4
 * spreads 1,000 messages evenly; a sticky pool keeps each destination site on one address; the
 * admin API lists the sources and their health.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { SourcesListing } from "../../src/api-types/sources.ts";
import { adminGet } from "../support/admin-get.ts";
import { type CountingReceiver, startCountingReceiver } from "../support/counting-receiver.ts";
import { eventually, startWorld, type World } from "../support/e2e-world.ts";
import { type InjectedMessage, injectMessages } from "../support/smtp-inject.ts";

const SOURCES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
const STICKY_DOMAINS = Array.from({ length: 8 }, (_, i) => `d${i}.sticky.test`);

describe("source pools", () => {
  let world: World;
  let receiver: CountingReceiver;

  before(async () => {
    receiver = await startCountingReceiver();
    const zone: Record<string, unknown> = {
      "rr.test": { mx: [{ preference: 10, exchange: "mx.rr.test" }] },
      "mx.rr.test": { a: ["127.0.0.1"] },
    };
    for (const d of STICKY_DOMAINS) {
      zone[d] = { mx: [{ preference: 10, exchange: `mx.${d}` }] };
      zone[`mx.${d}`] = { a: ["127.0.0.1"] };
    }
    const transport = (pool: string) => ({
      pool,
      nexthop: "mx",
      port: receiver.port,
      concurrency: 4,
      retry_schedule: ["1s"],
      idle_timeout: "1s",
    });
    world = await startWorld({
      mxPort: receiver.port,
      zone: zone as Parameters<typeof startWorld>[0]["zone"],
      config: {
        sources: Object.fromEntries(
          SOURCES.map((address, i) => [`out${i + 2}`, { address, helo: `out${i + 2}.mailfleet.test` }]),
        ),
        pools: {
          spread: { strategy: "round_robin", sources: ["out2", "out3", "out4"] },
          keep: { strategy: "sticky", sources: ["out2", "out3", "out4"] },
        },
        transports: { spread: transport("spread"), keep: transport("keep") },
        routes: [
          { name: "sticky-sites", match: { recipient_domain: [".sticky.test"] }, transport: "keep" },
          { match: { recipient_domain: ["rr.test"] }, transport: "spread" },
        ],
      },
    });
  });

  after(async () => {
    await world?.close();
    await receiver?.close();
  });

  it("round robin spreads 1,000 messages over three source IPs within 5%", { timeout: 60_000 }, async () => {
    const messages: InjectedMessage[] = Array.from({ length: 1000 }, (_, i) => ({
      from: "sender@client.test",
      to: [`user${i}@rr.test`],
      subject: `rr ${i}`,
    }));
    await injectMessages(world.smtpPort, messages, 6);
    const arrived = await eventually(
      "1,000 messages at the receiver",
      () => {
        const got = receiver.messages.filter((m) => m.subject?.startsWith("rr "));
        return got.length >= 1000 ? got : undefined;
      },
      45_000,
    );
    const counts: Record<string, number> = {};
    for (const m of arrived) counts[m.clientAddress] = (counts[m.clientAddress] ?? 0) + 1;
    assert.deepEqual(Object.keys(counts).sort(), SOURCES, JSON.stringify(counts));
    for (const address of SOURCES) {
      const n = counts[address] ?? 0;
      assert.ok(
        Math.abs(n - 1000 / 3) <= (1000 / 3) * 0.05,
        `${address}: ${n} of 1000 (${JSON.stringify(counts)})`,
      );
    }
    // Each source greets with its own HELO (the name its PTR should match).
    for (const m of arrived) assert.equal(m.helo, `out${m.clientAddress.split(".")[3]}.mailfleet.test`);
  });

  it("sticky keeps each destination on one source IP", { timeout: 60_000 }, async () => {
    const messages: InjectedMessage[] = STICKY_DOMAINS.flatMap((d) =>
      Array.from({ length: 15 }, (_, i) => ({
        from: "sender@client.test",
        to: [`u${i}@${d}`],
        subject: `sticky ${d} ${i}`,
      })),
    );
    await injectMessages(world.smtpPort, messages, 4);
    const arrived = await eventually("the sticky messages", () => {
      const got = receiver.messages.filter((m) => m.subject?.startsWith("sticky "));
      return got.length >= messages.length ? got : undefined;
    });
    const byDomain = new Map<string, Set<string>>();
    for (const m of arrived) {
      const domain = m.recipients[0]!.split("@")[1]!;
      byDomain.set(domain, (byDomain.get(domain) ?? new Set()).add(m.clientAddress));
    }
    assert.equal(byDomain.size, STICKY_DOMAINS.length);
    for (const [domain, addresses] of byDomain)
      assert.equal(addresses.size, 1, `${domain} used ${[...addresses]}`);
    const used = new Set([...byDomain.values()].flatMap((s) => [...s]));
    assert.ok(used.size >= 2, `8 destinations all hashed to ${[...used]}`);
  });

  it("lists the sources and their health on GET /v1/sources", { timeout: 30_000 }, async () => {
    const listing = await adminGet<SourcesListing>(join(world.dir, "spool"), "/v1/sources");
    assert.deepEqual(
      listing.sources.map((s) => [s.name, s.address, s.healthy, s.reason, s.until]),
      SOURCES.map((address, i) => [`out${i + 2}`, address, true, null, null]),
    );
  });
});
