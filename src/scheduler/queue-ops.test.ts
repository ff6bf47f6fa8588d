/**
 * Operator actions through the scheduler, with the real spool and results stage; only DNS and SMTP
 * are scripted. Hold/release/delete/requeue/flush by id and for all, during an attempt, and a hold
 * that survives a restart.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { builtinConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import type { DestinationResolver, SiteConnector } from "../delivery/types.ts";
import type { RecipientOutcome, Reply } from "../message/types.ts";
import { createDeliveryLog } from "../results/delivery-log.ts";
import { createResultRecorder } from "../results/recorder.ts";
import { createSpool } from "../spool/spool.ts";
import { sampleMessage, silentLogger, tempDir } from "../spool/testing.ts";
import type { QueuedMessage, Spool } from "../spool/types.ts";
import { Scheduler } from "./scheduler.ts";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

const tempFail: Reply = { code: 450, enhanced: "4.2.0", text: "mailbox busy" };
const accept: Reply = { code: 250, enhanced: "2.0.0", text: "ok" };
const body = () => Buffer.from("Subject: x\r\n\r\nhi\r\n");

interface Attempt {
  id: string;
  to: string;
  transport: string;
}

/**
 * A network where `answer` decides per attempt; `gate`, while set, keeps every delivery waiting
 * (so a test can act on a message while it is active).
 */
function network(answer: (a: Attempt) => "ok" | Reply) {
  const attempts: Attempt[] = [];
  const state: { gate: Promise<void> | null } = { gate: null };
  const resolver: DestinationResolver = {
    async resolve(domain, transport) {
      const hosts = [{ name: domain, preference: 0, addresses: ["127.0.0.1"] }];
      return { kind: "site", site: { key: `${transport.name}|${domain}`, transport, hosts, port: 25 } };
    },
  };
  const connector: SiteConnector = {
    async open(site) {
      return {
        ok: true,
        session: {
          usable: true,
          async deliver(job) {
            if (state.gate) await state.gate;
            return job.recipients.map((r): RecipientOutcome => {
              const attempt = { id: job.id, to: r.address, transport: site.transport.name };
              attempts.push(attempt);
              const result = answer(attempt);
              const relay = { host: "mx", ip: "127.0.0.1", port: 25, sourceIp: null };
              return result === "ok"
                ? { kind: "delivered", recipientIndex: r.index, reply: accept, relay }
                : { kind: "deferred", recipientIndex: r.index, reply: result, scope: "recipient", relay };
            });
          },
          async close() {},
        },
      };
    },
  };
  return { resolver, connector, attempts, state };
}

type Net = ReturnType<typeof network>;

async function startScheduler(config: Config, spool: Spool, net: Net) {
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
  return { scheduler, lines };
}

async function setup(answer: (a: Attempt) => "ok" | Reply, retryMs = 3_600_000) {
  const { dir, cleanup } = await tempDir("mf-qops-");
  cleanups.push(cleanup);
  const config = builtinConfig(dir);
  const mx = config.transports.mx!;
  mx.retryScheduleMs = [retryMs];
  mx.idleTimeoutMs = 10;
  const spool = createSpool({ dir, logger: silentLogger, compactIntervalMs: 0 });
  await spool.open();
  cleanups.unshift(() => spool.close());
  const net = network(answer);
  const { scheduler, lines } = await startScheduler(config, spool, net);
  return { dir, config, spool, scheduler, lines, net };
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Env = Awaited<ReturnType<typeof setup>>;

/** Stores and enqueues a message, and waits until its first attempt deferred it. */
async function deferred(env: Env, recipients = 1): Promise<QueuedMessage> {
  const stored = await env.spool.store(sampleMessage(recipients, { arrivedAt: Date.now() }), body());
  env.scheduler.enqueue(stored);
  await until(() => stored.deferral !== null && !isActive(env, stored.id), "the first deferral");
  return stored;
}

function isActive(env: Env, id: string): boolean {
  return env.scheduler.entries().find((e) => e.message.id === id)?.active === true;
}

const attemptsOf = (env: Env, id: string) => env.net.attempts.filter((a) => a.id === id).length;

test("a held message is never tried, even when due; release makes it due now", async () => {
  let open = false;
  const env = await setup(() => (open ? "ok" : tempFail), 20);
  const a = await deferred(env);
  const b = await deferred(env);
  assert.deepEqual(await env.scheduler.hold({ ids: [a.id, "NOPE"] }), { affected: 1, missing: ["NOPE"] });
  assert.equal(a.held, true);
  assert.deepEqual(await env.scheduler.hold({ ids: [a.id] }), { affected: 0, missing: [] }, "already held");
  const before = attemptsOf(env, a.id);
  await sleep(150);
  assert.equal(attemptsOf(env, a.id), before, "no attempt while held (retry every 20 ms)");
  assert.ok(attemptsOf(env, b.id) > 2, "the other message kept being retried");
  assert.deepEqual(await env.scheduler.flush(), { affected: 1, missing: [] }, "flush leaves held mail alone");
  assert.deepEqual(await env.scheduler.requeue({ all: true }), { affected: 1, missing: [] });
  open = true;
  await until(() => env.scheduler.size === 1, "b to be delivered");
  assert.deepEqual(await env.scheduler.release({ ids: [a.id, b.id] }), { affected: 1, missing: [b.id] });
  await until(() => env.scheduler.size === 0, "a to be delivered after release");
});

test("a hold survives a restart; release after it delivers", async () => {
  let open = false;
  const env = await setup(() => (open ? "ok" : tempFail), 10);
  const a = await deferred(env);
  await env.scheduler.hold({ all: true });
  await env.scheduler.stop();
  await env.spool.close();

  const spool = createSpool({ dir: env.dir, logger: silentLogger, compactIntervalMs: 0 });
  cleanups.unshift(() => spool.close());
  const net = network(() => "ok");
  const again = await startScheduler(env.config, spool, net);
  await spool.open({
    onRecovered: (batch) => {
      for (const m of batch) again.scheduler.enqueue(m);
    },
  });
  await spool.whenRecovered();
  const entry = again.scheduler.entries().find((e) => e.message.id === a.id);
  assert.equal(entry?.message.held, true);
  await sleep(100);
  assert.equal(net.attempts.length, 0, "not tried after the restart");
  open = true;
  assert.deepEqual(await again.scheduler.release({ all: true }), { affected: 1, missing: [] });
  await until(() => again.scheduler.size === 0, "delivery after release");
  assert.equal(net.attempts.length, 1);
});

test("delete drops deferred mail without a DSN, and it stays gone after a restart", async () => {
  const env = await setup(() => tempFail);
  const a = await deferred(env, 2);
  const b = await deferred(env);
  assert.deepEqual(await env.scheduler.delete({ ids: [a.id] }), { affected: 1, missing: [] });
  assert.deepEqual(
    env.scheduler.entries().map((e) => e.message.id),
    [b.id],
  );
  await sleep(50);
  assert.equal(env.scheduler.size, 1, "no DSN was queued");
  assert.equal(env.lines.filter((l) => / dsn_queued | bounced /.test(l)).length, 0);
  await env.scheduler.stop();
  await env.spool.close();
  const spool = createSpool({ dir: env.dir, logger: silentLogger, compactIntervalMs: 0 });
  const { messages } = await spool.open();
  await spool.close();
  assert.deepEqual(
    messages.map((m) => m.id),
    [b.id],
  );
});

test("hold and delete during an attempt apply once it ends; its results are still recorded", async () => {
  const env = await setup((a) => (a.to.startsWith("rcpt0") ? "ok" : tempFail));
  let open = () => {};
  env.net.state.gate = new Promise((resolve) => {
    open = resolve;
  });
  const toHold = await env.spool.store(sampleMessage(2, { arrivedAt: Date.now() }), body());
  const toDelete = await env.spool.store(sampleMessage(2, { arrivedAt: Date.now() }), body());
  env.scheduler.enqueue(toHold);
  env.scheduler.enqueue(toDelete);
  await until(() => isActive(env, toHold.id) && isActive(env, toDelete.id), "both attempts to start");
  assert.deepEqual(await env.scheduler.hold({ ids: [toHold.id] }), { affected: 1, missing: [] });
  assert.deepEqual(await env.scheduler.delete({ ids: [toDelete.id] }), { affected: 1, missing: [] });
  assert.equal(env.scheduler.size, 2, "nothing changes while the attempts run");
  env.net.state.gate = null;
  open();
  await until(() => env.scheduler.size === 1 && !isActive(env, toHold.id), "the attempts to end");
  // rcpt0 of each was delivered and logged; the rest of toDelete is gone, toHold is held.
  assert.equal(env.lines.filter((l) => / delivered to=<rcpt0@example.com>/.test(l)).length, 2);
  const [entry] = env.scheduler.entries();
  assert.equal(entry?.message.id, toHold.id);
  assert.equal(entry?.message.held, true);
  assert.deepEqual(
    entry?.message.recipients.map((r) => r.state),
    ["delivered", "pending"],
  );
  await assert.rejects(env.spool.readBody(toDelete.id), /not in the spool/);
  const tries = attemptsOf(env, toHold.id);
  await env.scheduler.flush({ ids: [toHold.id] });
  await sleep(50);
  assert.equal(attemptsOf(env, toHold.id), tries, "still held");
});

test("requeue tries now with the current routes; flush by id reports unknown ids", async () => {
  const env = await setup((a) => (a.transport === "fresh" ? "ok" : tempFail));
  const a = await deferred(env);
  const b = await deferred(env);
  assert.deepEqual(
    env.net.attempts.map((x) => x.transport),
    ["mx", "mx"],
  );
  // Reload-like change: a new default transport. Deferred mail would use it at its next attempt
  // (in an hour); requeue makes that now.
  env.config.transports.fresh = { ...env.config.transports.mx!, name: "fresh" };
  env.config.delivery.defaultTransport = "fresh";
  assert.deepEqual(await env.scheduler.requeue({ ids: [a.id] }), { affected: 1, missing: [] });
  await until(() => env.scheduler.size === 1, "a to be delivered");
  assert.equal(env.net.attempts.at(-1)?.transport, "fresh");
  assert.deepEqual(await env.scheduler.flush({ ids: [b.id, "GONE"] }), { affected: 1, missing: ["GONE"] });
  await until(() => env.scheduler.size === 0, "b to be delivered");
});
