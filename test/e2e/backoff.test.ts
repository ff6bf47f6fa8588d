/**
 * Scenario (issue "Reputation control", adaptive backoff): a Yahoo-like destination (its MX is
 * a *.yahoodns.net name in the test DNS) answers the first MAIL from our source IP 127.0.0.2
 * with Yahoo's "421 4.7.0 [TSS04] ... temporarily deferred due to unexpected volume" and takes
 * everything after that. mailfleet must suspend that source IP x site (no attempt reaches the
 * peer while suspended, however often the queue retries), resume after the suspension at half
 * the rate (one delivery per 2 s instead of unlimited), and ramp back to the configured rate
 * after successes. The suspension runs on the instance's test clock (MAILFLEET_TEST_CLOCK=1),
 * so "10 minutes" pass in one admin call; retries and the rate delay are real seconds.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SMTPServer } from "smtp-server";
import type { BackoffListing } from "../../src/reputation/backoff.ts";
import { adminGet, advanceClock } from "../support/admin-get.ts";
import { eventually, simpleMessage, sleep, startWorld, type World } from "../support/e2e-world.ts";
import { type MailfleetProcess, runCli, startMailfleet } from "../support/mailfleet-process.ts";
import { freePort } from "../support/ports.ts";

const TSS04 =
  "4.7.0 [TSS04] Messages from 127.0.0.2 temporarily deferred due to unexpected volume or user complaints";
const MINUTE = 60_000;

interface Attempt {
  at: number;
  client: string;
  accepted: boolean;
}

/** An MX that defers the first `deferFirst` MAIL commands with Yahoo's 421 TSS04, then accepts. */
async function startYahooPeer(port: number, deferFirst: number) {
  const attempts: Attempt[] = [];
  let deferred = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    logger: false,
    onMailFrom(_address, session, callback) {
      const client = session.remoteAddress.replace(/^::ffff:/, "");
      if (deferred < deferFirst) {
        deferred++;
        attempts.push({ at: Date.now(), client, accepted: false });
        return callback(Object.assign(new Error(TSS04), { responseCode: 421 }));
      }
      attempts.push({ at: Date.now(), client, accepted: true });
      callback();
    },
    onData(stream, _session, callback) {
      stream.resume();
      stream.on("end", () => callback());
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return { attempts, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe("adaptive backoff", () => {
  let world: World;
  let mailfleet: MailfleetProcess | null = null;
  let peer: Awaited<ReturnType<typeof startYahooPeer>>;
  let spoolDir = "";

  before(async () => {
    const mxPort = await freePort();
    peer = await startYahooPeer(mxPort, 1);
    world = await startWorld({
      mxPort,
      start: false,
      zone: {
        "yahoo.test": { mx: [{ preference: 1, exchange: "mta5.am0.yahoodns.net" }] },
        "mta5.am0.yahoodns.net": { a: ["127.0.0.1"] },
      },
      config: {
        sources: { yahoo_ip: { address: "127.0.0.2" } },
        pools: { shared: { strategy: "round_robin", sources: ["yahoo_ip"] } },
        transports: { mx: { pool: "shared" } },
        reputation: { backoff_rules: "backoff-test.yaml" },
      },
    });
    // The shipped Yahoo rule, with a short ramp so the test stays small.
    await writeFile(
      join(world.dir, "backoff-test.yaml"),
      [
        "settings: { reduced_rate_floor: 1s, ramp_after_successes: 2, ramp_factor: 2 }",
        "rules:",
        "  - name: yahoo-ts04",
        "    provider: ['*.yahoodns.net']",
        "    code: [421]",
        "    text: '\\[?TSS?0[1-4]\\]?|unexpected volume'",
        "    suspend: 10m",
      ].join("\n"),
    );
    spoolDir = join(world.dir, "spool");
    mailfleet = await startMailfleet(world.configPath, 15_000, { env: { MAILFLEET_TEST_CLOCK: "1" } });
  });

  after(async () => {
    await mailfleet?.stop();
    await world?.close();
    await peer?.close();
  });

  async function send(n: number) {
    const to = `user${n}@yahoo.test`;
    const sent = await world.send(
      "news@sender.test",
      [to],
      simpleMessage({ from: "news@sender.test", to, subject: `m${n}` }),
    );
    assert.equal(sent.code, 0, sent.stderr);
  }

  it("suspends on a 421 TSS04, resumes at half the rate, then recovers", { timeout: 90_000 }, async () => {
    const mf = mailfleet!;
    await send(1);
    const suspend = await mf.waitForLog(/\bbackoff source=127\.0\.0\.2 .*step=suspend\b/, 20_000);
    assert.match(suspend, /rule=yahoo-ts04/);
    assert.match(suspend, /until=\d{4}-\d\d-\d\dT/);
    assert.match(suspend, /TSS04/);
    assert.equal(peer.attempts.length, 1);
    assert.equal(peer.attempts[0]?.client, "127.0.0.2");

    const state = await adminGet<BackoffListing>(spoolDir, "/v1/backoff");
    assert.equal(state.entries.length, 1, JSON.stringify(state));
    assert.equal(state.entries[0]?.state, "suspended");
    assert.equal(state.entries[0]?.source, "127.0.0.2");
    assert.equal(state.entries[0]?.delayMs, 2000);

    // More mail for the suspended pair: retried every second, deferred each time, never sent.
    for (const n of [2, 3, 4]) await send(n);
    await mf.waitForLogCount(/\bdeferred\b.*backoff: 127\.0\.0\.2 .* suspended until/, 3, 20_000);
    await sleep(2_500);
    await advanceClock(spoolDir, 5 * MINUTE);
    await sleep(2_500);
    assert.equal(peer.attempts.length, 1, "no attempt may reach the site while it is suspended");
    const report = await runCli(["reputation", "-c", world.configPath]);
    assert.match(report.stdout, /backoff/i, report.stdout + report.stderr);
    assert.match(report.stdout, /127\.0\.0\.2 .*suspended until/, report.stdout);
    const explain = await runCli([
      "route",
      "explain",
      "-c",
      world.configPath,
      "--from",
      "news@sender.test",
      "--to",
      "user9@yahoo.test",
    ]);
    assert.match(
      explain.stdout,
      /127\.0\.0\.2 .*backoff: suspended until .*rule yahoo-ts04/,
      explain.stdout + explain.stderr,
    );

    // Past the suspension: deliveries resume, the first two at least 2 s apart (half rate).
    const resumedAt = Date.now();
    await advanceClock(spoolDir, 6 * MINUTE);
    const accepted = await eventually(
      "all four messages accepted",
      () => {
        const ok = peer.attempts.filter((a) => a.accepted);
        return ok.length >= 4 ? ok : undefined;
      },
      40_000,
    );
    assert.ok(accepted.every((a) => a.client === "127.0.0.2" && a.at >= resumedAt));
    const gap = accepted[1]!.at - accepted[0]!.at;
    assert.ok(gap >= 1_900, `reduced rate: the first two starts ${gap} ms apart, expected >= 2 s`);
    await mf.waitForLog(/\bbackoff source=127\.0\.0\.2 .*step=resume\b/, 5_000);
    // Two successes ramp 2 s -> 1 s, the floor: back at the configured (unlimited) rate.
    await mf.waitForLog(/\bbackoff source=127\.0\.0\.2 .*step=normal\b/, 10_000);
    const after = await adminGet<BackoffListing>(spoolDir, "/v1/backoff");
    assert.deepEqual(after.entries, []);
    const fast = accepted[3]!.at - accepted[2]!.at;
    assert.equal(
      peer.attempts.filter((a) => !a.accepted).length,
      1,
      `exactly one refused and four accepted: ${peer.attempts.length}`,
    );
    assert.ok(
      fast < 1_900 || accepted[2]!.at - accepted[1]!.at < 1_900,
      "rate back to normal after the ramp",
    );
  });
});
