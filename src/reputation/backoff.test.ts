import assert from "node:assert/strict";
import { test } from "node:test";
import pino from "pino";
import type { RecipientOutcome, Reply } from "../message/types.ts";
import { BackoffController, type BackoffEvent, backoffLogLine, describeBackoff } from "./backoff.ts";
import { parseBackoffRules } from "./backoff-rules.ts";

const logger = pino({ level: "silent" });
const site = { key: "mx|mta5.am0.yahoodns.net", hosts: [{ name: "mta5.am0.yahoodns.net" }] };
const other = { key: "mx|mx.other.example", hosts: [{ name: "mx.other.example" }] };
const TSS04: Reply = {
  code: 421,
  enhanced: "4.7.0",
  text: "[TSS04] Messages from 127.0.0.2 temporarily deferred due to unexpected volume or user complaints",
};
const relay = { host: "mta5.am0.yahoodns.net", ip: "127.0.0.1", port: 25, sourceIp: "127.0.0.2" };
const deferred: RecipientOutcome[] = [
  { kind: "deferred", recipientIndex: 0, reply: TSS04, scope: "source", relay },
];
const delivered: RecipientOutcome[] = [
  { kind: "delivered", recipientIndex: 0, reply: { code: 250, enhanced: "2.0.0", text: "ok" }, relay },
];

function setup() {
  const loaded = parseBackoffRules(
    [
      "settings: { reduced_rate_floor: 1s, ramp_after_successes: 2, ramp_factor: 2 }",
      "rules:",
      "  - { name: yahoo-ts04, provider: '*.yahoodns.net', code: 421, text: 'TSS?04', suspend: 15m }",
    ].join("\n"),
    "test.yaml",
  );
  assert.ok(loaded.ok);
  let now = 1_700_000_000_000;
  const events: BackoffEvent[] = [];
  const backoff = new BackoffController({
    rules: loaded.rules,
    clock: { now: () => now },
    logger,
    record: (e) => events.push(e),
  });
  return { backoff, events, advance: (ms: number) => (now += ms), now: () => now };
}

test("a match suspends, then the rate is halved, then it ramps back to normal", () => {
  const { backoff, events, advance, now } = setup();
  assert.equal(backoff.suspension("127.0.0.2", site), null);
  assert.equal(backoff.rateDelayMs("127.0.0.2", site, 0), 0);

  backoff.observe("127.0.0.2", site, deferred, 0);
  const suspended = backoff.suspension("127.0.0.2", site);
  assert.equal(suspended?.code, 451);
  assert.match(suspended?.text ?? "", /suspended until .* \(rule yahoo-ts04\)/);
  assert.deepEqual(
    events.map((e) => [e.step, e.until, e.delayMs]),
    [["suspend", now() + 15 * 60_000, 2000]],
  );
  // Only this source IP x site: another source or another site is untouched.
  assert.equal(backoff.suspension("127.0.0.3", site), null);
  assert.equal(backoff.suspension("127.0.0.2", other), null);
  // A second deferral from a delivery already under way does not halve twice.
  backoff.observe("127.0.0.2", site, deferred, 0);
  assert.equal(events.length, 1);
  // Successes during the suspension do not count.
  backoff.observe("127.0.0.2", site, delivered, 0);
  assert.equal(backoff.list().entries[0]?.successes, 0);

  advance(15 * 60_000 - 1);
  assert.ok(backoff.suspension("127.0.0.2", site), "still suspended 1 ms before the end");
  advance(1);
  assert.equal(backoff.suspension("127.0.0.2", site), null);
  assert.equal(events.at(-1)?.step, "resume");
  assert.equal(backoff.rateDelayMs("127.0.0.2", site, 0), 2000, "half the rate: one per 2 s");
  assert.equal(backoff.rateDelayMs("127.0.0.2", site, 5000), 5000, "never faster than configured");
  const [entry] = backoff.list().entries;
  assert.equal(entry?.state, "reduced");
  assert.match(describeBackoff(entry!), /^rate halved: 1 per 2s, ramping \(0\/2/);

  backoff.observe("127.0.0.2", site, delivered, 0);
  assert.equal(backoff.rateDelayMs("127.0.0.2", site, 0), 2000);
  backoff.observe("127.0.0.2", site, delivered, 0);
  assert.equal(backoff.rateDelayMs("127.0.0.2", site, 0), 0, "back at the configured rate");
  assert.equal(events.at(-1)?.step, "normal");
  assert.deepEqual(backoff.list().entries, []);
});

test("a new match while ramping suspends again and halves again; ramp steps are gradual", () => {
  const { backoff, events, advance } = setup();
  backoff.observe("127.0.0.2", site, deferred, 0);
  advance(15 * 60_000);
  assert.equal(backoff.rateDelayMs("127.0.0.2", site, 0), 2000);
  backoff.observe("127.0.0.2", site, deferred, 0);
  assert.ok(backoff.suspension("127.0.0.2", site));
  advance(15 * 60_000);
  assert.equal(backoff.rateDelayMs("127.0.0.2", site, 0), 4000, "halved twice: one per 4 s");
  assert.equal(backoff.list().entries[0]?.halvings, 2);
  for (let i = 0; i < 2; i++) backoff.observe("127.0.0.2", site, delivered, 0);
  assert.equal(backoff.rateDelayMs("127.0.0.2", site, 0), 2000, "one ramp step");
  assert.equal(events.at(-1)?.step, "ramp");
  for (let i = 0; i < 2; i++) backoff.observe("127.0.0.2", site, delivered, 0);
  assert.equal(backoff.rateDelayMs("127.0.0.2", site, 0), 0);
  assert.deepEqual(
    events.map((e) => e.step),
    ["suspend", "resume", "suspend", "resume", "ramp", "normal"],
  );
});

test("a connection-level reply (greeting 421) is matched too; other deferrals are not", () => {
  const { backoff } = setup();
  backoff.observe("127.0.0.2", site, { code: 451, enhanced: "4.3.0", text: "try later" }, 0);
  assert.equal(backoff.suspension("127.0.0.2", site), null);
  backoff.observe("127.0.0.2", other, TSS04, 0);
  assert.equal(backoff.suspension("127.0.0.2", other), null, "not a Yahoo site");
  backoff.observe(null, site, TSS04, 0);
  assert.ok(backoff.suspension(null, site));
  assert.equal(backoff.list().entries[0]?.source, "default");
});

test("the delivery-log line names source, site, step, until and rule", () => {
  const event: BackoffEvent = {
    step: "suspend",
    source: "127.0.0.2",
    site: "mx|mta5.am0.yahoodns.net",
    rule: "yahoo-ts04",
    until: Date.UTC(2026, 0, 1, 12, 30),
    delayMs: 2000,
    reply: TSS04,
  };
  const time = new Date(Date.UTC(2026, 0, 1, 12, 0));
  const text = backoffLogLine(event, "text", "out", time);
  assert.equal(
    text,
    "2026-01-01T12:00:00.000Z out backoff source=127.0.0.2 site=mx|mta5.am0.yahoodns.net step=suspend until=2026-01-01T12:30:00.000Z delay=2.00s rule=yahoo-ts04 reply=(421 4.7.0 [TSS04] Messages from 127.0.0.2 temporarily deferred due to unexpected volume or user complaints)\n",
  );
  const json = JSON.parse(backoffLogLine(event, "json", "out", time));
  assert.equal(json.event, "backoff");
  assert.equal(json.step, "suspend");
  assert.equal(json.until, "2026-01-01T12:30:00.000Z");
});
