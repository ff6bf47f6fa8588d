/** The ready queue (src/scheduler/site-queue.ts) under adaptive backoff, with scripted sessions. */
import assert from "node:assert/strict";
import { test } from "node:test";
import pino from "pino";
import type { TransportConfig } from "../config/types.ts";
import type { DeliveryJob, OpenResult, Site, SiteConnector } from "../delivery/types.ts";
import type { RecipientOutcome, Reply } from "../message/types.ts";
import { SiteQueue } from "../scheduler/site-queue.ts";
import { BackoffController } from "./backoff.ts";
import { parseBackoffRules } from "./backoff-rules.ts";

const logger = pino({ level: "silent" });
const TSS04: Reply = {
  code: 421,
  enhanced: "4.7.0",
  text: "[TSS04] Messages from 127.0.0.2 temporarily deferred",
};
const relay = { host: "mta5.am0.yahoodns.net", ip: "127.0.0.1", port: 25, sourceIp: "127.0.0.2" };

const site: Site = {
  key: "mx|mta5.am0.yahoodns.net",
  transport: {
    name: "mx",
    bindAddress: "127.0.0.2",
    limits: { concurrency: 1, rateDelayMs: 0, maxPerHour: 0 },
    idleTimeoutMs: 50,
  } as TransportConfig,
  hosts: [{ name: "mta5.am0.yahoodns.net", preference: 1, addresses: ["127.0.0.1"] }],
  port: 25,
};

function job(id: string): DeliveryJob {
  return {
    id,
    sender: "s@a.example",
    recipients: [{ index: 0, address: "r@yahoo.example", notify: null, orcpt: null }],
    ret: null,
    envid: null,
    bodyType: "7BIT",
    smtpUtf8: false,
    body: Buffer.from("x"),
  };
}

/** Sessions answer TSS04 to the first `refuse` jobs, then 250; start times are recorded. */
function connector(refuse: number) {
  const starts: number[] = [];
  const c: SiteConnector = {
    async open(): Promise<OpenResult> {
      return {
        ok: true,
        session: {
          usable: true,
          async deliver(j): Promise<RecipientOutcome[]> {
            starts.push(Date.now());
            const refused = starts.length <= refuse;
            return j.recipients.map((r) =>
              refused
                ? { kind: "deferred", recipientIndex: r.index, reply: TSS04, scope: "source", relay }
                : {
                    kind: "delivered",
                    recipientIndex: r.index,
                    reply: { code: 250, enhanced: null, text: "ok" },
                    relay,
                  },
            );
          },
          async close() {},
        },
      };
    },
  };
  return { connector: c, starts };
}

test("a suspended queue defers without delivering; once resumed it keeps the reduced rate", async () => {
  const loaded = parseBackoffRules(
    "settings: { reduced_rate_floor: 150ms, ramp_after_successes: 2 }\nrules:\n  - { name: y, provider: '*.yahoodns.net', code: 421, suspend: 10m }\n",
    "t.yaml",
  );
  assert.ok(loaded.ok);
  let offset = 0;
  const clock = { now: () => Date.now() + offset };
  const backoff = new BackoffController({ rules: loaded.rules, clock, logger });
  const { connector: c, starts } = connector(1);
  const queue = new SiteQueue({ site, connector: c, logger, clock, deadForMs: 1000, backoff });

  const first = await queue.deliver(job("A"));
  assert.equal(first.kind === "done" && first.outcomes[0]?.kind, "deferred");
  assert.equal(starts.length, 1);
  const held = await Promise.all([queue.deliver(job("B")), queue.deliver(job("C"))]);
  for (const r of held) {
    assert.equal(r.kind, "done");
    assert.equal(r.outcomes[0]?.kind, "deferred");
    assert.equal(r.outcomes[0]?.kind === "deferred" && r.outcomes[0].scope, "source");
    assert.match(r.outcomes[0]?.reply.text ?? "", /suspended until/);
  }
  assert.equal(starts.length, 1, "nothing reaches the site while suspended");

  offset += 10 * 60_000;
  const resumed = await Promise.all(["D", "E", "F"].map((id) => queue.deliver(job(id))));
  assert.ok(resumed.every((r) => r.kind === "done" && r.outcomes[0]?.kind === "delivered"));
  assert.equal(starts.length, 4);
  assert.ok(
    starts[2]! - starts[1]! >= 280,
    `half rate: ${starts[2]! - starts[1]!} ms between starts, expected 300`,
  );
  assert.deepEqual(backoff.list().entries, [], "two successes ramp 300 ms -> 150 ms (the floor): normal");
  queue.stop();
});
