/**
 * Scheduler behaviour with the real spool and results stage; only the network edge (DNS and
 * SMTP) is scripted, so retries, expiry and DSNs can be driven precisely and quickly.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { builtinConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import type { DestinationResolver, OpenResult, SiteConnector } from "../delivery/types.ts";
import type { DsnNotify, NewMessage, RecipientOutcome, Reply } from "../message/types.ts";
import { createDeliveryLog } from "../results/delivery-log.ts";
import { createResultRecorder } from "../results/recorder.ts";
import { createSpool } from "../spool/spool.ts";
import { sampleMessage, silentLogger, tempDir } from "../spool/testing.ts";
import type { Spool } from "../spool/types.ts";
import { Scheduler } from "./scheduler.ts";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

/** "ok": delivered to a next hop without DSN; "ok-dsn": to one that announces DSN. */
type Script = (domain: string, recipient: string, attempt: number) => "ok" | "ok-dsn" | Reply;

const accept: Reply = { code: 250, enhanced: "2.0.0", text: "ok" };

/** Delivers per a script: each (domain, recipient) gets "ok" or a reply on each attempt. */
function scripted(script: Script) {
  const attempts = new Map<string, number>();
  const delivered: { id: string; to: string; body: string }[] = [];
  const resolver: DestinationResolver = {
    async resolve(domain, transport) {
      return {
        kind: "site",
        site: {
          key: `${transport.name}|${domain}`,
          transport,
          hosts: [{ name: domain, preference: 0, addresses: ["127.0.0.1"] }],
          port: 25,
        },
      };
    },
  };
  const connector: SiteConnector = {
    async open(site): Promise<OpenResult> {
      const domain = site.hosts[0]!.name;
      return {
        ok: true,
        session: {
          usable: true,
          async deliver(job) {
            return job.recipients.map((r): RecipientOutcome => {
              const n = (attempts.get(r.address) ?? 0) + 1;
              attempts.set(r.address, n);
              const result = script(domain, r.address, n);
              const relay = { host: domain, ip: "127.0.0.1", port: 25, sourceIp: null };
              if (result === "ok" || result === "ok-dsn") {
                delivered.push({ id: job.id, to: r.address, body: job.body.toString() });
                const peerSupportsDsn = result === "ok-dsn";
                return { kind: "delivered", recipientIndex: r.index, reply: accept, relay, peerSupportsDsn };
              }
              return result.code >= 500
                ? { kind: "bounced", recipientIndex: r.index, reply: result, scope: "recipient", relay }
                : { kind: "deferred", recipientIndex: r.index, reply: result, scope: "recipient", relay };
            });
          },
          async close() {},
        },
      };
    },
  };
  return { resolver, connector, delivered, attempts };
}

async function setup(script: Script, tune: (c: Config) => void = () => {}) {
  const { dir, cleanup } = await tempDir("mf-sched-");
  cleanups.push(cleanup);
  const config = builtinConfig(dir);
  const mx = config.transports.mx!;
  mx.retryScheduleMs = [30];
  mx.idleTimeoutMs = 10;
  tune(config);
  const spool = createSpool({ dir, logger: silentLogger });
  await spool.open();
  const net = scripted(script);
  return { dir, config, ...(await startScheduler(config, spool, net)), ...net };
}

/** A scheduler (with the real results stage) over an open spool; both are stopped at the end. */
async function startScheduler(config: Config, spool: Spool, net: ReturnType<typeof scripted>) {
  cleanups.unshift(() => spool.close());
  const lines: string[] = [];
  const log = createDeliveryLog({ format: "text", write: (l) => lines.push(l) });
  const scheduler = new Scheduler({
    config: () => config,
    spool,
    resolver: net.resolver,
    connector: net.connector,
    results: createResultRecorder({
      spool,
      log,
      logger: silentLogger,
      identity: () => ({ hostname: "mx.test", bounceFrom: "MAILER-DAEMON@mx.test" }),
    }),
    logger: silentLogger,
  });
  cleanups.unshift(() => scheduler.stop());
  scheduler.start();
  return { spool, scheduler, lines };
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const tempFail: Reply = { code: 450, enhanced: "4.2.0", text: "mailbox busy" };
const hardFail: Reply = { code: 550, enhanced: "5.1.1", text: "no such user" };

test("a deferred recipient is retried on schedule and then delivered, alone", async () => {
  const env = await setup((_d, rcpt, n) => (rcpt.startsWith("rcpt1") && n < 3 ? tempFail : "ok"));
  const stored = await env.spool.store(
    sampleMessage(2, { arrivedAt: Date.now() }),
    Buffer.from("Subject: x\r\n\r\nhi\r\n"),
  );
  env.scheduler.enqueue(stored);
  await until(() => env.scheduler.size === 0, "the message to leave the queue");
  assert.deepEqual(env.delivered.map((d) => d.to).sort(), ["rcpt0@example.com", "rcpt1@example.com"]);
  assert.equal(env.attempts.get("rcpt0@example.com"), 1, "the delivered recipient is not sent again");
  assert.equal(env.attempts.get("rcpt1@example.com"), 3);
  assert.equal(env.lines.filter((l) => / deferred to=<rcpt1@example.com>/.test(l)).length, 2);
});

test("final failures of one message produce one DSN to the sender, queued like any message", async () => {
  const env = await setup((domain) => (domain === "example.com" ? hardFail : "ok"));
  const stored = await env.spool.store(
    sampleMessage(2, { arrivedAt: Date.now() }),
    Buffer.from("Subject: x\r\n\r\nhi\r\n"),
  );
  env.scheduler.enqueue(stored);
  await until(() => env.delivered.length === 1 && env.scheduler.size === 0, "the DSN to be delivered");
  const dsn = env.delivered[0]!;
  assert.equal(dsn.to, "sender@example.org");
  assert.match(dsn.body, /report-type=delivery-status/);
  assert.match(dsn.body, /Final-Recipient: rfc822;\s*rcpt0@example.com/);
  assert.match(dsn.body, /Final-Recipient: rfc822;\s*rcpt1@example.com/);
  assert.equal(env.lines.filter((l) => / bounced /.test(l)).length, 2);
});

test("a message past its queue lifetime expires with 4.4.7", async () => {
  const env = await setup(
    (domain) => (domain === "example.com" ? tempFail : "ok"),
    (c) => {
      c.transports.mx!.maxQueueLifetimeMs = 100;
    },
  );
  const stored = await env.spool.store(
    sampleMessage(1, { arrivedAt: Date.now() }),
    Buffer.from("Subject: x\r\n\r\nhi\r\n"),
  );
  env.scheduler.enqueue(stored);
  await until(() => env.delivered.length === 1 && env.scheduler.size === 0, "the expiry DSN");
  assert.match(env.delivered[0]!.body, /Status: 4\.4\.7/);
  assert.equal(env.lines.filter((l) => / expired /.test(l)).length, 1);
});

test("a bounce of a message from the null sender produces no DSN", async () => {
  const env = await setup(() => hardFail);
  const stored = await env.spool.store(
    sampleMessage(1, { sender: "", arrivedAt: Date.now() }),
    Buffer.from("Subject: x\r\n\r\nhi\r\n"),
  );
  env.scheduler.enqueue(stored);
  await until(() => env.scheduler.size === 0, "the bounce");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(env.delivered.length, 0);
  assert.equal(env.attempts.size, 1, "nothing was sent anywhere else");
});

/** A message whose recipients carry the given NOTIFY lists (null = none given). */
function withNotify(notify: (DsnNotify[] | null)[], overrides: Partial<NewMessage> = {}): NewMessage {
  const message = sampleMessage(notify.length, { arrivedAt: Date.now(), ...overrides });
  notify.forEach((n, i) => {
    message.recipients[i]!.dsn.notify = n;
  });
  return message;
}

const body = () => Buffer.from("Subject: x\r\n\r\nhi\r\n");
const dsnsTo = (env: { delivered: { to: string; body: string }[] }, action: string) =>
  env.delivered.filter((d) => d.to === "sender@example.org" && d.body.includes(`Action: ${action}`));

test("NOTIFY=SUCCESS relayed to a next hop without DSN: one relayed DSN, before the marks", async () => {
  const env = await setup(() => "ok");
  const stored = await env.spool.store(withNotify([["SUCCESS"], ["SUCCESS", "FAILURE"], null]), body());
  env.scheduler.enqueue(stored);
  await until(() => env.scheduler.size === 0 && env.delivered.length === 4, "the success DSN");
  const dsns = dsnsTo(env, "relayed");
  assert.equal(dsns.length, 1, "one report for the message");
  const report = dsns[0]!.body;
  assert.match(report, /Subject: Successful Mail Delivery Report/);
  assert.match(report, /Final-Recipient: rfc822; rcpt0@example\.com/);
  assert.match(report, /Final-Recipient: rfc822; rcpt1@example\.com/);
  assert.doesNotMatch(report, /Final-Recipient: rfc822; rcpt2@example\.com/, "no NOTIFY: no success report");
  assert.match(report, /Status: 2\.0\.0/);
  assert.doesNotMatch(report, /\r\nhi\r\n/, "headers only");
  const logged = env.lines.filter((l) => l.includes(stored.id) && / dsn_queued /.test(l));
  assert.equal(logged.length, 1);
  assert.match(logged[0]!, /nrcpt=2 action=relayed/);
  const dsnQueued = env.lines.findIndex((l) => / dsn_queued /.test(l));
  const removed = env.lines.findIndex((l) => l.includes(stored.id) && / removed/.test(l));
  assert.ok(dsnQueued >= 0 && dsnQueued < removed, "the DSN is queued before the message is done");
});

test("NOTIFY=SUCCESS to a next hop that announces DSN: it reports, we do not", async () => {
  const env = await setup(() => "ok-dsn");
  const stored = await env.spool.store(withNotify([["SUCCESS"]]), body());
  env.scheduler.enqueue(stored);
  await until(() => env.scheduler.size === 0, "the delivery");
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(
    env.delivered.map((d) => d.to),
    ["rcpt0@example.com"],
  );
  assert.equal(env.lines.filter((l) => / dsn_queued /.test(l)).length, 0);
});

test("no success report for a message from the null sender", async () => {
  const env = await setup(() => "ok");
  const stored = await env.spool.store(withNotify([["SUCCESS"]], { sender: "" }), body());
  env.scheduler.enqueue(stored);
  await until(() => env.scheduler.size === 0, "the delivery");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(env.delivered.length, 1);
  assert.equal(env.lines.filter((l) => / dsn_queued /.test(l)).length, 0);
});

const greylisted: Reply = { code: 451, enhanced: "4.7.1", text: "greylisted" };

test("one delay DSN once the message is late, for NOTIFY=DELAY recipients only, never repeated", async () => {
  // rcpt0 asked for DELAY, rcpt1 gave no NOTIFY; both are deferred for 8 attempts (30 ms apart).
  const env = await setup(
    (domain, _rcpt, n) => (domain === "example.com" && n <= 8 ? greylisted : "ok"),
    (c) => {
      c.bounce.delayWarningAfterMs = 60;
    },
  );
  const stored = await env.spool.store(withNotify([["DELAY", "FAILURE"], null]), body());
  env.scheduler.enqueue(stored);
  await until(() => env.scheduler.size === 0, "the message and its DSN to be delivered");
  const warnings = dsnsTo(env, "delayed");
  assert.equal(warnings.length, 1, "exactly one delay warning");
  const report = warnings[0]!.body;
  assert.match(report, /Subject: Delayed Mail \(still being retried\)/);
  assert.match(report, /Final-Recipient: rfc822; rcpt0@example\.com/);
  assert.doesNotMatch(report, /rcpt1@example\.com>?:/, "no NOTIFY: no delay warning");
  assert.match(report, /Status: 4\.7\.1/);
  const lifetime = new Date(stored.arrivedAt + env.config.transports.mx!.maxQueueLifetimeMs);
  assert.match(report, new RegExp(`Will-Retry-Until: ${lifetime.toUTCString().replace(/GMT$/, "\\+0000")}`));
  assert.equal(env.lines.filter((l) => / dsn_queued .*action=delayed/.test(l)).length, 1);
  assert.ok(env.attempts.get("rcpt0@example.com")! > 2, "retried after the warning, without another");
});

test("no delay DSN when delay_warning_after is 0", async () => {
  const env = await setup(
    (domain, _rcpt, n) => (domain === "example.com" && n <= 4 ? greylisted : "ok"),
    (c) => {
      c.bounce.delayWarningAfterMs = 0;
    },
  );
  const stored = await env.spool.store(
    withNotify([["DELAY"]], { arrivedAt: Date.now() - 86_400_000 }),
    body(),
  );
  env.scheduler.enqueue(stored);
  await until(() => env.scheduler.size === 0, "the delivery");
  assert.equal(env.delivered.length, 1);
  assert.equal(env.lines.filter((l) => / dsn_queued /.test(l)).length, 0);
});

test("the delay warning is remembered in the spool: no second one after a restart", async () => {
  const env = await setup(
    (domain) => (domain === "example.com" ? greylisted : "ok"),
    (c) => {
      c.bounce.delayWarningAfterMs = 1000;
      c.transports.mx!.retryScheduleMs = [3_600_000];
    },
  );
  const stored = await env.spool.store(withNotify([["DELAY"]], { arrivedAt: Date.now() - 5000 }), body());
  env.scheduler.enqueue(stored);
  await until(() => dsnsTo(env, "delayed").length === 1, "the delay warning");
  const entry = env.scheduler.entries().find((e) => e.message.id === stored.id);
  await until(() => entry?.active === false, "the round to end");
  assert.equal(entry?.message.deferral?.delayWarned, true);
  await env.scheduler.stop();
  await env.spool.close();

  // Restart on the same spool; the message is due now and still deferred.
  const spool = createSpool({ dir: env.dir, logger: silentLogger });
  const { messages } = await spool.open();
  const recovered = messages.find((m) => m.id === stored.id);
  assert.equal(recovered?.deferral?.delayWarned, true, "delayWarned survives in the spool");
  const net = scripted((domain) => (domain === "example.com" ? greylisted : "ok"));
  const again = await startScheduler(env.config, spool, net);
  again.scheduler.enqueue({
    ...recovered!,
    deferral: { ...recovered!.deferral!, nextAttemptAt: Date.now() },
  });
  await until(() => (net.attempts.get("rcpt0@example.com") ?? 0) >= 1, "an attempt after the restart");
  await until(() => again.lines.some((l) => / deferred /.test(l)), "the deferral after the restart");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(again.lines.filter((l) => / dsn_queued /.test(l)).length, 0, "no second warning");
});
