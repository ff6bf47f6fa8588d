/**
 * Scenario: IP warm-up over several simulated days (issue #8). One instance with a test clock
 * (MAILFLEET_TEST_CLOCK=1) and a counting receiver on 127.0.0.1 that sees each message's
 * source address. The test DNS makes mx.google.test and mx.yahoo.test the MX hosts of two
 * domains, and the config names them providers "google" and "yahoo".
 *   - warm_ips: pool "mixed" = 127.0.0.2 (warming for google: days [3, 5, 8], weight 9) and
 *     127.0.0.3 (warm). Ten messages a day for three days: 127.0.0.2 carries exactly 3, 5 and 8,
 *     the rest leaves from 127.0.0.3, and nothing waits.
 *   - wait: pool "patient" = 127.0.0.4 alone (warming for yahoo: days [2, 4], overflow wait).
 *     Four messages on its day 1 (the scenario's day 4): two leave, two wait with the warm-up reason (a flush does not
 *     move them); the next simulated day they leave from 127.0.0.4.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FleetReport } from "../../src/api-types/queue.ts";
import type { WarmupReport } from "../../src/reputation/warmup.ts";
import { advanceClock } from "../support/admin-get.ts";
import { type CountingReceiver, startCountingReceiver } from "../support/counting-receiver.ts";
import { eventually, sleep, startWorld, type World } from "../support/e2e-world.ts";
import { runCli } from "../support/mailfleet-process.ts";
import { injectMessages } from "../support/smtp-inject.ts";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

describe("IP warm-up", () => {
  let world: World;
  let receiver: CountingReceiver;
  let spoolDir: string;

  before(async () => {
    // The instance's test clock starts at real time; the first step below moves it to 01:00 UTC
    // of the next day, so the scenario never straddles a real midnight. That day is day 1.
    const day1At = Math.floor(Date.now() / DAY_MS + 1) * DAY_MS;
    const day1 = new Date(day1At).toISOString().slice(0, 10);
    // The second case runs after the first moved the clock three days on: its day 1 is day 4.
    const day4 = new Date(day1At + 3 * DAY_MS).toISOString().slice(0, 10);
    process.env.MAILFLEET_TEST_CLOCK = "1"; // this test process only: passed to the instance
    receiver = await startCountingReceiver();
    const transport = (pool: string) => ({
      pool,
      nexthop: "mx",
      port: receiver.port,
      concurrency: 2,
      retry_schedule: ["1s"],
      idle_timeout: "1s",
    });
    world = await startWorld({
      mxPort: receiver.port,
      zone: {
        "gmail.test": { mx: [{ preference: 10, exchange: "mx.google.test" }] },
        "mx.google.test": { a: ["127.0.0.1"] },
        "ymail.test": { mx: [{ preference: 10, exchange: "mx.yahoo.test" }] },
        "mx.yahoo.test": { a: ["127.0.0.1"] },
      },
      config: {
        providers: { google: ["*.google.test"], yahoo: ["*.yahoo.test"] },
        sources: {
          warming: {
            address: "127.0.0.2",
            warmup: { start_date: day1, schedules: { google: { days: [3, 5, 8] } } },
          },
          warm: { address: "127.0.0.3" },
          patient: {
            address: "127.0.0.4",
            warmup: { start_date: day4, overflow: "wait", schedules: { yahoo: { days: [2, 4] } } },
          },
        },
        pools: {
          mixed: {
            strategy: "weighted",
            sources: [
              { source: "warming", weight: 9 },
              { source: "warm", weight: 1 },
            ],
          },
          patient: { sources: ["patient"] },
        },
        transports: { mixed: transport("mixed"), patient: transport("patient") },
        routes: [
          { match: { recipient_domain: ["gmail.test"] }, transport: "mixed" },
          { match: { recipient_domain: ["ymail.test"] }, transport: "patient" },
        ],
      },
    });
    spoolDir = join(world.dir, "spool");
    const now = Date.now();
    await advanceClock(spoolDir, Math.floor(now / DAY_MS + 1) * DAY_MS - now + HOUR_MS);
  });

  after(async () => {
    await world?.close();
    await receiver?.close();
    delete process.env.MAILFLEET_TEST_CLOCK;
  });

  async function status(): Promise<WarmupReport> {
    const result = await runCli(["warmup", "status", "--json", "-c", world.configPath]);
    assert.equal(result.code, 0, result.stderr);
    return (JSON.parse(result.stdout) as FleetReport<WarmupReport>).instances[0]!;
  }

  const arrivedWith = (prefix: string) => receiver.messages.filter((m) => m.subject?.startsWith(prefix));

  function countBySource(prefix: string): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const m of arrivedWith(prefix)) counts[m.clientAddress] = (counts[m.clientAddress] ?? 0) + 1;
    return counts;
  }

  it("caps hold exactly over three simulated days; the overflow leaves from the warm IP", {
    timeout: 90_000,
  }, async () => {
    const caps = [3, 5, 8];
    for (let day = 1; day <= 3; day++) {
      const prefix = `g${day} `;
      await injectMessages(
        world.smtpPort,
        Array.from({ length: 10 }, (_, i) => ({
          from: "sender@client.test",
          to: [`user${i}@gmail.test`],
          subject: `${prefix}${i}`,
        })),
        2,
      );
      await eventually(`day ${day}: 10 messages at the receiver`, () =>
        arrivedWith(prefix).length >= 10 ? true : undefined,
      );
      assert.deepEqual(
        countBySource(prefix),
        { "127.0.0.2": caps[day - 1]!, "127.0.0.3": 10 - caps[day - 1]! },
        `day ${day}`,
      );
      const row = (await status()).rows.find((r) => r.address === "127.0.0.2" && r.provider === "google");
      assert.deepEqual(
        [row?.day, row?.cap, row?.used, row?.remaining, row?.warm],
        [day, caps[day - 1], caps[day - 1], 0, false],
      );
      if (day === 1) {
        // route explain shows the candidate IPs' warm-up toward this site's provider.
        const explained = await runCli([
          "route",
          "explain",
          "--from",
          "sender@client.test",
          "--to",
          "someone@gmail.test",
          "-c",
          world.configPath,
        ]);
        assert.equal(explained.code, 0, explained.stderr);
        assert.match(explained.stdout, /127\.0\.0\.2 .*warm-up cap reached for google: day 1, 3\/3/);
      }
      await advanceClock(spoolDir, DAY_MS);
    }
    // Day 4: past the table, the IP is warm.
    const row = (await status()).rows.find((r) => r.address === "127.0.0.2" && r.provider === "google");
    assert.deepEqual([row?.day, row?.cap, row?.warm], [4, null, true]);
  });

  it("with overflow wait, the excess waits for the next simulated day", { timeout: 90_000 }, async () => {
    const start = (await status()).rows.find((r) => r.address === "127.0.0.4" && r.provider === "yahoo");
    assert.deepEqual([start?.day, start?.cap, start?.used], [1, 2, 0]);
    await injectMessages(
      world.smtpPort,
      Array.from({ length: 4 }, (_, i) => ({
        from: "sender@client.test",
        to: [`user${i}@ymail.test`],
        subject: `y ${i}`,
      })),
      2,
    );
    await eventually("two messages leave, two wait", async () => {
      const listing = await world.mailq();
      const waiting = listing.messages.filter((m) =>
        m.recipients.some((r) => r.lastReason?.includes("warm-up cap reached for 127.0.0.4 -> yahoo")),
      );
      return arrivedWith("y ").length === 2 && waiting.length === 2 ? true : undefined;
    });
    const flushed = await runCli(["queue", "flush", "--all", "-c", world.configPath]);
    assert.equal(flushed.code, 0, flushed.stderr);
    await sleep(1500);
    assert.equal(arrivedWith("y ").length, 2, "a flush must not pass the cap");
    await advanceClock(spoolDir, DAY_MS);
    const again = await runCli(["queue", "flush", "--all", "-c", world.configPath]);
    assert.equal(again.code, 0, again.stderr);
    await eventually("the waiting two leave the next day", () =>
      arrivedWith("y ").length >= 4 ? true : undefined,
    );
    assert.deepEqual(countBySource("y "), { "127.0.0.4": 4 });
    const end = (await status()).rows.find((r) => r.address === "127.0.0.4" && r.provider === "yahoo");
    assert.deepEqual([end?.day, end?.cap, end?.used, end?.remaining], [2, 4, 2, 2]);
    assert.equal((await world.mailq()).total, 0);
  });
});
