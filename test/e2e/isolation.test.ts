/**
 * Scenario: automatic isolation, the documented case. Three tenants (shop, news, bad) share pool
 * `shared` (127.0.0.2, 127.0.0.3) of one delivering instance with VERP; 127.0.0.4 is pool
 * `quarantine`. Tenant "bad" gets ARF complaints (sent by SMTP to the feedback address, naming
 * the VERP senders seen at the sink). Thresholds: complaint rate above 3% with at least 100
 * messages over 24h. Shown, in order: 2 complaints on 60 messages (3.3%) change nothing (below
 * the minimum volume); at 125 messages 2 and then 3 complaints (1.6%, 2.4%) change nothing; the
 * 4th complaint (4/125 = 3.2%) isolates "bad", logged in the delivery log and shown by
 * `mailfleet reputation`; from then the sink sees bad's mail only from 127.0.0.4 and the other
 * two tenants' mail only from 127.0.0.2/127.0.0.3 (never .4, before or after); the isolation
 * survives a restart; after
 * `mailfleet tenant release bad` its mail leaves from the shared pool again.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ReputationReport } from "../../src/api-types/feedback.ts";
import type { FleetReport } from "../../src/api-types/queue.ts";
import type { IsolationView } from "../../src/reputation/isolation-types.ts";
import { adminGet } from "../support/admin-get.ts";
import { eventually, startWorld, type World } from "../support/e2e-world.ts";
import { runCli } from "../support/mailfleet-process.ts";
import { type Sink, type SinkMessage, startSink } from "../support/smtp-sink.ts";
import {
  tenantBatch as batch,
  DEST_ZONE,
  FEEDBACK_CONFIG,
  injectTenantMail as inject,
  type TenantMail as Mail,
  sendComplaint,
  subjectOf,
} from "../support/tenant-mail.ts";

const SHARED = new Set(["127.0.0.2", "127.0.0.3"]);
const QUARANTINE = "127.0.0.4";

describe("automatic isolation: one tenant's complaints move it to the quarantine pool", () => {
  let sink: Sink;
  let world: World;

  before(async () => {
    sink = await startSink();
    const mxPort = sink.port;
    world = await startWorld({
      mxPort,
      zone: DEST_ZONE,
      config: {
        sources: {
          s2: { address: "127.0.0.2" },
          s3: { address: "127.0.0.3" },
          q4: { address: QUARANTINE },
        },
        pools: { shared: { sources: ["s2", "s3"] }, quarantine: { sources: ["q4"] } },
        transports: { mx: { pool: "shared" } },
        feedback: FEEDBACK_CONFIG,
        reputation: {
          isolation: {
            window: "24h",
            min_messages: 100,
            complaint_rate: "3%",
            hard_bounce_rate: "50%",
            blocklist_replies: 0,
            action: "quarantine",
            quarantine_pool: "quarantine",
          },
        },
      },
    });
  });

  after(async () => {
    await world?.close();
    await sink?.destroy();
  });

  /** Waits until the sink holds every subject of `mails`; returns them by subject. */
  async function arrived(mails: Mail[]): Promise<Map<string, SinkMessage>> {
    const wanted = new Set(mails.map((m) => m.subject));
    return eventually(
      `${mails.length} messages at the sink`,
      async () => {
        const found = new Map<string, SinkMessage>();
        for (const m of await sink.messages()) if (wanted.has(subjectOf(m))) found.set(subjectOf(m), m);
        return found.size === wanted.size ? found : undefined;
      },
      60_000,
    );
  }

  const complain = (message: SinkMessage, rcpt: string) =>
    sendComplaint(world.smtpPort, message, rcpt, "bad");

  async function badCounts(): Promise<{ delivered: number; complaints: number }> {
    const report = await adminGet<ReputationReport>(join(world.dir, "spool"), "/v1/reputation?tenant=bad");
    const w = report.rows.find((r) => r.dimension === "tenant" && r.key === "bad")?.windows["24h"];
    return { delivered: w?.delivered ?? 0, complaints: w?.complaints ?? 0 };
  }

  const isolation = () => adminGet<IsolationView>(join(world.dir, "spool"), "/v1/isolation");

  /** Waits for bad's counters, then long enough for a (debounced) check to have run. */
  async function settle(delivered: number, complaints: number): Promise<void> {
    await eventually(`bad at ${delivered} delivered, ${complaints} complaints`, async () => {
      const c = await badCounts();
      return c.delivered === delivered && c.complaints === complaints ? true : undefined;
    });
    await new Promise((r) => setTimeout(r, 600));
  }

  const sent = new Map<string, SinkMessage>();
  const badMails: Mail[] = [];

  it("counts complaints but does not isolate below the minimum volume or the threshold", {
    timeout: 120_000,
  }, async () => {
    const first = [
      ...batch("bad", 1, 60, "one"),
      ...batch("shop", 1, 20, "one"),
      ...batch("news", 1, 20, "one"),
    ];
    await inject(world.smtpPort, first);
    for (const [k, v] of await arrived(first)) sent.set(k, v);
    badMails.push(...first.filter((m) => m.tenant === "bad"));
    // 2 complaints on 60 messages: 3.3% > 3%, but 60 < min_messages 100.
    for (const m of badMails.slice(0, 2)) await complain(sent.get(m.subject)!, m.to);
    await settle(60, 2);
    assert.deepEqual((await isolation()).isolated, []);

    const second = [
      ...batch("bad", 61, 65, "two"),
      ...batch("shop", 21, 10, "two"),
      ...batch("news", 21, 10, "two"),
    ];
    await inject(world.smtpPort, second);
    for (const [k, v] of await arrived(second)) sent.set(k, v);
    badMails.push(...second.filter((m) => m.tenant === "bad"));
    await settle(125, 2); // 1.6%
    await complain(sent.get(badMails[2]!.subject)!, badMails[2]!.to);
    await settle(125, 3); // 2.4%
    assert.deepEqual((await isolation()).isolated, []);
    // Until now every message left from the shared pool.
    for (const m of sent.values())
      assert.ok(SHARED.has(m.clientAddr), `${subjectOf(m)} from ${m.clientAddr}`);
  });

  it("isolates the tenant at 3.2% and logs it", { timeout: 60_000 }, async () => {
    await complain(sent.get(badMails[3]!.subject)!, badMails[3]!.to);
    const view = await eventually("bad isolated", async () => {
      const v = await isolation();
      return v.isolated.length > 0 ? v : undefined;
    });
    assert.equal(view.isolated.length, 1);
    const record = view.isolated[0]!;
    assert.equal(record.tenant, "bad");
    assert.equal(record.action, "quarantine");
    assert.equal(record.pool, "quarantine");
    assert.equal(record.reason, "complaint rate 3.2% > 3% over 24h (n=125)");
    await world.mailfleet.waitForLog(
      /- isolated tenant=bad reason="complaint rate 3\.2% > 3% over 24h \(n=125\)" action=quarantine pool=quarantine/,
    );
    const text = await runCli(["reputation", "-c", world.configPath]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /isolation:/);
    assert.match(text.stdout, /isolated tenant=bad reason="complaint rate 3\.2% > 3% over 24h \(n=125\)"/);
    const json = await runCli(["reputation", "-c", world.configPath, "--json"]);
    const report = JSON.parse(json.stdout) as FleetReport<ReputationReport>;
    assert.equal(report.instances[0]?.isolation?.isolated[0]?.tenant, "bad");
  });

  it("sends bad's mail only from the quarantine pool, the others' only from the shared pool", {
    timeout: 120_000,
  }, async () => {
    const third = [
      ...batch("bad", 126, 10, "three"),
      ...batch("shop", 31, 10, "three"),
      ...batch("news", 31, 10, "three"),
    ];
    await inject(world.smtpPort, third);
    const found = await arrived(third);
    for (const m of third) {
      const got = found.get(m.subject)!;
      if (m.tenant === "bad") assert.equal(got.clientAddr, QUARANTINE, `${m.subject} from ${got.clientAddr}`);
      else assert.ok(SHARED.has(got.clientAddr), `${m.subject} from ${got.clientAddr}`);
    }
    // Over the whole run, no other tenant's message ever left from 127.0.0.4.
    for (const m of await sink.messages()) {
      if (!subjectOf(m).includes(" bad ")) assert.notEqual(m.clientAddr, QUARANTINE, subjectOf(m));
    }
  });

  it("keeps the isolation across a restart", { timeout: 60_000 }, async () => {
    await world.mailfleet.stop();
    await world.start();
    const view = await isolation();
    assert.deepEqual(
      view.isolated.map((r) => [r.tenant, r.pool]),
      [["bad", "quarantine"]],
    );
    const tenants = await runCli(["tenant", "list", "-c", world.configPath]);
    assert.equal(tenants.code, 0, tenants.stderr);
    assert.match(tenants.stdout, /bad {2}quarantine pool quarantine since/);
  });

  it("puts the tenant back on the shared pool with mailfleet tenant release", {
    timeout: 120_000,
  }, async () => {
    const released = await runCli(["tenant", "release", "bad", "-c", world.configPath]);
    assert.equal(released.code, 0, released.stderr);
    assert.match(released.stdout, /tenant bad released from isolation/);
    await world.mailfleet.waitForLog(/- released tenant=bad action=quarantine/);
    assert.deepEqual((await isolation()).isolated, []);
    const fourth = [...batch("bad", 136, 6, "four"), ...batch("shop", 41, 4, "four")];
    await inject(world.smtpPort, fourth);
    const found = await arrived(fourth);
    for (const got of found.values())
      assert.ok(SHARED.has(got.clientAddr), `${subjectOf(got)} from ${got.clientAddr}`);
    // Still released: the old complaints do not isolate it again.
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual((await isolation()).isolated, []);
    const again = await runCli(["tenant", "release", "bad", "-c", world.configPath]);
    assert.match(again.stdout, /was not isolated/);
  });
});
