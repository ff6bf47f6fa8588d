/**
 * Scheduler behaviour with the real spool and results stage; only the network edge (DNS and
 * SMTP) is scripted, so retries, expiry and DSNs can be driven precisely and quickly.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { builtinConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import type { DestinationResolver, OpenResult, SiteConnector } from "../delivery/types.ts";
import type { RecipientOutcome, Reply } from "../message/types.ts";
import { createDeliveryLog } from "../results/delivery-log.ts";
import { createResultRecorder } from "../results/recorder.ts";
import { createSpool } from "../spool/spool.ts";
import { sampleMessage, silentLogger, tempDir } from "../spool/testing.ts";
import { Scheduler } from "./scheduler.ts";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

type Script = (domain: string, recipient: string, attempt: number) => "ok" | Reply;

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
              if (result === "ok") {
                delivered.push({ id: job.id, to: r.address, body: job.body.toString() });
                return { kind: "delivered", recipientIndex: r.index, reply: accept, relay };
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
  cleanups.unshift(() => spool.close());
  const lines: string[] = [];
  const log = createDeliveryLog({ format: "text", write: (l) => lines.push(l) });
  const net = scripted(script);
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
  return { spool, scheduler, lines, ...net };
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
