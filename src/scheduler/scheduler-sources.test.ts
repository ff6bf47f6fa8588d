/**
 * The scheduler's source and routing duties, with the real spool, results stage and source
 * selector; only DNS and SMTP are scripted: MX-matching routes, the source IP and HELO a
 * delivery binds, and a source that cannot be bound moving its mail to the pool's other source.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { builtinConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { createSourceSelector } from "../delivery/pool.ts";
import type { DestinationResolver, OpenResult, SiteConnector } from "../delivery/types.ts";
import type { RecipientOutcome } from "../message/types.ts";
import { createDeliveryLog } from "../results/delivery-log.ts";
import { createResultRecorder } from "../results/recorder.ts";
import { createSpool } from "../spool/spool.ts";
import { sampleMessage, silentLogger, tempDir } from "../spool/testing.ts";
import { Scheduler } from "./scheduler.ts";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

interface Sent {
  to: string;
  transport: string;
  bindAddress: string | null;
  helo: string;
}

/** DNS: `mx` gives each domain's MX names (null = lookup fails). SMTP: records who sent what. */
function scriptedNet(mx: Record<string, string[] | null>, unbindable: Set<string>) {
  const sent: Sent[] = [];
  const resolver: DestinationResolver = {
    async resolve(domain, transport) {
      const host = mx[domain]?.[0] ?? domain;
      return {
        kind: "site",
        site: {
          key: `${transport.name}|${host}`,
          transport,
          hosts: [{ name: host, preference: 0, addresses: ["127.0.0.1"] }],
          port: 25,
        },
      };
    },
    async mxHostNames(domain) {
      return domain in mx ? (mx[domain] ?? null) : [domain];
    },
  };
  const connector: SiteConnector = {
    async open(site): Promise<OpenResult> {
      const { transport } = site;
      if (transport.bindAddress && unbindable.has(transport.bindAddress)) {
        return {
          ok: false,
          permanent: false,
          reply: {
            code: 451,
            enhanced: "4.4.0",
            text: `cannot bind source address ${transport.bindAddress}`,
          },
          scope: "source",
          bindFailed: true,
        };
      }
      return {
        ok: true,
        session: {
          usable: true,
          async deliver(job) {
            return job.recipients.map((r): RecipientOutcome => {
              sent.push({
                to: r.address,
                transport: transport.name,
                bindAddress: transport.bindAddress,
                helo: transport.helo,
              });
              const relay = { host: "mx", ip: "127.0.0.1", port: 25, sourceIp: transport.bindAddress };
              return {
                kind: "delivered",
                recipientIndex: r.index,
                reply: { code: 250, enhanced: "2.0.0", text: "ok" },
                relay,
              };
            });
          },
          async close() {},
        },
      };
    },
  };
  return { resolver, connector, sent };
}

async function setup(
  tune: (c: Config) => void,
  mx: Record<string, string[] | null>,
  unbindable: string[] = [],
) {
  const { dir, cleanup } = await tempDir("mf-sched-src-");
  cleanups.push(cleanup);
  const config = builtinConfig(dir);
  const base = config.transports.mx!;
  base.retryScheduleMs = [60_000];
  base.idleTimeoutMs = 10;
  config.sources = {
    out2: { name: "out2", address: "127.0.0.2", helo: "out2.example.test" },
    out3: { name: "out3", address: "127.0.0.3", helo: "out3.example.test" },
  };
  config.pools = {
    both: {
      name: "both",
      strategy: "round_robin",
      members: [
        { source: "out2", weight: 1 },
        { source: "out3", weight: 1 },
      ],
    },
  };
  config.transports.google = { ...base, name: "google", pool: "both" };
  tune(config);
  const spool = createSpool({ dir, logger: silentLogger });
  await spool.open();
  cleanups.unshift(() => spool.close());
  const net = scriptedNet(mx, new Set(unbindable));
  const lines: string[] = [];
  const sources = createSourceSelector({ config: () => config, logger: silentLogger });
  const scheduler = new Scheduler({
    config: () => config,
    spool,
    resolver: net.resolver,
    connector: net.connector,
    sources,
    results: createResultRecorder({
      spool,
      log: createDeliveryLog({ format: "text", write: (l) => lines.push(l) }),
      logger: silentLogger,
      identity: () => ({ hostname: "mx.test", bounceFrom: "MAILER-DAEMON@mx.test" }),
    }),
    logger: silentLogger,
  });
  cleanups.unshift(() => scheduler.stop());
  scheduler.start();
  return { config, spool, scheduler, sources, lines, ...net };
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function recipients(...addresses: string[]) {
  return addresses.map((address) => ({ address, dsn: { notify: null, orcpt: null } }));
}

const mxRule = (config: Config) => {
  config.routes = [
    {
      index: 1,
      name: "google-hosted",
      match: { recipientDomain: null, mx: ["*.google.test"], sender: null, senderDomain: null, tenant: null },
      transport: "google",
    },
  ];
};

test("an MX-matching route sends Google-hosted domains out the pool, each source with its HELO", async () => {
  const env = await setup(mxRule, {
    "custom.test": ["aspmx.l.google.test"],
    "gmail.test": ["alt1.gmail-smtp-in.l.google.test"],
    "other.test": ["mx.other.test"],
  });
  const stored = await env.spool.store(
    sampleMessage(0, {
      arrivedAt: Date.now(),
      recipients: recipients("a@custom.test", "b@gmail.test", "c@other.test"),
    }),
    Buffer.from("Subject: x\r\n\r\nhi\r\n"),
  );
  env.scheduler.enqueue(stored);
  await until(() => env.scheduler.size === 0, "the message to leave the queue");
  const by = Object.fromEntries(env.sent.map((s) => [s.to, s]));
  assert.equal(by["a@custom.test"]?.transport, "google");
  assert.equal(by["b@gmail.test"]?.transport, "google");
  assert.deepEqual(
    [by["c@other.test"]?.transport, by["c@other.test"]?.bindAddress],
    ["mx", null],
    "no rule matched: the default transport, the OS's source address",
  );
  for (const s of [by["a@custom.test"], by["b@gmail.test"]]) {
    assert.ok(s?.bindAddress === "127.0.0.2" || s?.bindAddress === "127.0.0.3", JSON.stringify(s));
    assert.equal(s.helo, s.bindAddress === "127.0.0.2" ? "out2.example.test" : "out3.example.test");
  }
  assert.notEqual(by["a@custom.test"]?.bindAddress, by["b@gmail.test"]?.bindAddress, "round robin");
});

test("a failed MX lookup defers a recipient an MX rule might route, instead of guessing", async () => {
  const env = await setup(mxRule, { "flaky.test": null });
  const stored = await env.spool.store(
    sampleMessage(0, { arrivedAt: Date.now(), recipients: recipients("a@flaky.test") }),
    Buffer.from("Subject: x\r\n\r\nhi\r\n"),
  );
  env.scheduler.enqueue(stored);
  await until(() => env.lines.some((l) => / deferred /.test(l)), "the deferral");
  assert.equal(env.sent.length, 0);
  assert.match(
    env.lines.find((l) => / deferred /.test(l)) ?? "",
    /4\.4\.3.*MX lookup for flaky\.test failed/,
  );
});

test("a source that cannot be bound moves its mail to the pool's other source and is marked unhealthy", async () => {
  const env = await setup(
    (config) => {
      config.delivery.defaultTransport = "google";
    },
    {},
    ["127.0.0.3"],
  );
  for (let i = 0; i < 6; i++) {
    const stored = await env.spool.store(
      sampleMessage(0, { arrivedAt: Date.now(), recipients: recipients(`r${i}@d${i}.test`) }),
      Buffer.from("Subject: x\r\n\r\nhi\r\n"),
    );
    env.scheduler.enqueue(stored);
  }
  await until(() => env.scheduler.size === 0, "every message to be delivered");
  assert.equal(env.sent.length, 6);
  assert.ok(
    env.sent.every((s) => s.bindAddress === "127.0.0.2"),
    JSON.stringify(env.sent.map((s) => s.bindAddress)),
  );
  const health = env.sources.health().find((h) => h.address === "127.0.0.3");
  assert.equal(health?.healthy, false);
  assert.match(health?.reason ?? "", /cannot bind/);
  assert.equal(env.lines.filter((l) => / deferred /.test(l)).length, 0, "nothing was deferred");
});

test("a pool member at max_per_hour toward a site leaves the next jobs to the other member", async () => {
  const env = await setup((config) => {
    config.delivery.defaultTransport = "google";
    config.pools.both!.strategy = "weighted";
    config.pools.both!.members = [
      { source: "out2", weight: 3 },
      { source: "out3", weight: 1 },
    ];
    config.transports.google!.limits.maxPerHour = 2;
  }, {});
  const send = async (i: number) => {
    const stored = await env.spool.store(
      sampleMessage(i, { arrivedAt: Date.now(), recipients: recipients(`r${i}@capped.test`) }),
      Buffer.from("Subject: x\r\n\r\nhi\r\n"),
    );
    env.scheduler.enqueue(stored);
  };
  for (let i = 0; i < 4; i++) await send(i);
  await until(() => env.sent.length === 4, "four deliveries");
  const from = (address: string) => env.sent.filter((s) => s.bindAddress === address).length;
  assert.deepEqual([from("127.0.0.2"), from("127.0.0.3")], [2, 2], "weight 3:1, but each capped at 2");
  assert.equal(env.lines.filter((l) => / deferred /.test(l)).length, 0, "nothing was deferred");

  await send(4);
  await until(() => env.lines.some((l) => / deferred /.test(l)), "the deferral once both are capped");
  assert.match(env.lines.find((l) => / deferred /.test(l)) ?? "", /hourly limit of 2 messages reached/);
  assert.equal(env.sent.length, 4);
});
