/**
 * Scenario: per-tenant reputation counters after a mixed run against fault sinks (issue 7, "Done
 * when"). One real mailfleet (role all, tenants from the X-Mailfleet-Tenant header) routes by
 * recipient domain to three Postfix smtp-sinks on fixed `[127.0.0.1]:PORT` nexthops: ok.test
 * accepts, gone.test hard-rejects every RCPT (550 5.1.1 user unknown), slow.test defers every RCPT
 * (451 4.7.28 rate limit). Tenants alpha and beta send a known mix, some of it in messages whose
 * recipients span all three destinations; DSNs are switched off (NOTIFY=NEVER) and every transport
 * retries only after an hour (a message's retry time follows the transport of its first
 * recipient), so every recipient is tried exactly once. Then
 * `mailfleet reputation --json` shows exactly that mix per tenant and for the source IP in the
 * 1 h window, bounces by class (invalid_recipient), and still does after a restart of the
 * instance. The counters keep no class for deferrals: theirs (rate_limited) is checked in the log.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ReputationCounts, ReputationReport } from "../../src/api-types/feedback.ts";
import type { FleetReport, QueueListing } from "../../src/api-types/queue.ts";
import { eventually } from "../support/e2e-world.ts";
import { type MailfleetProcess, runCli, startMailfleet, writeConfig } from "../support/mailfleet-process.ts";
import { canConnect, freePort } from "../support/ports.ts";
import { openSmtp } from "../support/smtp-dialog.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";

/** Messages per tenant: each is a list of recipients (domains ok.test, gone.test, slow.test). */
const RUN: Record<string, string[][]> = {
  alpha: [
    ["a1@ok.test", "a2@ok.test", "a3@ok.test", "x1@gone.test", "s1@slow.test"],
    ["a4@ok.test"],
    ["a5@ok.test", "x2@gone.test"],
  ],
  beta: [["b1@ok.test", "b2@ok.test", "s2@slow.test"], ["b3@ok.test"], ["s3@slow.test"]],
};

const counts = (c: { delivered: number; deferred: number; bounced: Record<string, number> }) => ({
  delivered: c.delivered,
  deferred: c.deferred,
  bounced: Object.values(c.bounced).reduce((a, b) => a + b, 0),
  bouncedByClass: c.bounced,
  complaints: 0,
});

/** Alpha: 5 delivered, 2 hard bounces, 1 deferral. Beta: 3 delivered, no bounce, 2 deferrals. */
const EXPECTED: Record<string, ReputationCounts> = {
  alpha: counts({ delivered: 5, deferred: 1, bounced: { invalid_recipient: 2 } }),
  beta: counts({ delivered: 3, deferred: 2, bounced: {} }),
  "127.0.0.1": counts({ delivered: 8, deferred: 3, bounced: { invalid_recipient: 2 } }),
};

/** The 1 h window of one row of a report. */
function window1h(report: ReputationReport, dimension: string, key: string): ReputationCounts | undefined {
  return report.rows.find((r) => r.dimension === dimension && r.key === key)?.windows["1h"];
}

describe("reputation counters after a mixed run against fault sinks", () => {
  let dir = "";
  let ok: Sink;
  let gone: Sink;
  let slow: Sink;
  let mailfleet: MailfleetProcess | null = null;
  let configPath = "";
  let port = 0;
  const log = async () => (await readFile(join(dir, "mail.log"), "utf8").catch(() => "")).split("\n");

  async function send(tenant: string, rcpts: string[], subject: string): Promise<void> {
    const smtp = await openSmtp({ host: "127.0.0.1", port });
    try {
      assert.equal((await smtp.command("EHLO client.test")).code, 250);
      const mail = await smtp.command(`MAIL FROM:<app@${tenant}.example>`);
      assert.equal(mail.code, 250, mail.raw);
      for (const rcpt of rcpts) {
        // NOTIFY=NEVER: no DSN goes back to the sender, so no mail but the run's is counted.
        const reply = await smtp.command(`RCPT TO:<${rcpt}> NOTIFY=NEVER`);
        assert.equal(reply.code, 250, reply.raw);
      }
      assert.equal((await smtp.command("DATA")).code, 354);
      const body =
        `From: app@${tenant}.example\r\nTo: ${rcpts.join(", ")}\r\nX-Mailfleet-Tenant: ${tenant}\r\n` +
        `Subject: ${subject}\r\n\r\nHello.\r\n.\r\n`;
      const done = await smtp.sendRaw(body);
      assert.equal(done.code, 250, done.raw);
      await smtp.command("QUIT");
    } finally {
      smtp.close();
    }
  }

  async function reputation(...args: string[]): Promise<ReputationReport> {
    const result = await runCli(["reputation", "-c", configPath, "--json", ...args]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as FleetReport<ReputationReport>;
    assert.equal(report.instances.length, 1, result.stdout);
    return report.instances[0]!;
  }

  /** The exact counts of the run, for each tenant alone and for the source IP. */
  async function assertCounts(): Promise<void> {
    for (const tenant of ["alpha", "beta"]) {
      const report = await reputation("--tenant", tenant);
      assert.deepEqual(
        report.rows.map((r) => [r.dimension, r.key]),
        [["tenant", tenant]],
        "--tenant shows that tenant only",
      );
      assert.deepEqual(window1h(report, "tenant", tenant), EXPECTED[tenant], `tenant ${tenant}`);
    }
    const byIp = await reputation("--ip", "127.0.0.1");
    assert.deepEqual(
      byIp.rows.map((r) => [r.dimension, r.key]),
      [["ip", "127.0.0.1"]],
    );
    assert.deepEqual(window1h(byIp, "ip", "127.0.0.1"), EXPECTED["127.0.0.1"], "source IP 127.0.0.1");
    // Nothing else was sent: no mail without a tenant, no other source IP.
    const all = await reputation();
    assert.deepEqual(
      all.rows.filter((r) => r.dimension !== "provider").map((r) => [r.dimension, r.key]),
      [
        ["ip", "127.0.0.1"],
        ["tenant", "alpha"],
        ["tenant", "beta"],
      ],
    );
    // The longer windows hold the same mail.
    for (const row of all.rows) assert.deepEqual(row.windows["24h"], row.windows["1h"]);
    for (const row of all.rows) assert.deepEqual(row.windows["7d"], row.windows["1h"]);
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mailfleet-reputation-"));
    ok = await startSink({ dump: true });
    gone = await startSink({
      dump: false,
      flags: ["-f", "RCPT", "-B", "550 5.1.1 Recipient address rejected: User unknown"],
    });
    slow = await startSink({
      dump: false,
      flags: ["-r", "RCPT", "-b", "451 4.7.28 Rate limit exceeded, try again later"],
    });
    port = await freePort();
    configPath = await writeConfig(
      dir,
      `hostname: mf.test
run_dir: ${dir}/run
spool_dir: ${dir}/spool
log: { file: ${dir}/mail.log }
listen: ["127.0.0.1:${port}"]
tenants: { from: [header], header: X-Mailfleet-Tenant }
delivery: { allow_private_destinations: true }
transports:
  accept: { nexthop: "[127.0.0.1]:${ok.port}", tls: none, retry_schedule: [1h] }
  reject: { nexthop: "[127.0.0.1]:${gone.port}", tls: none, retry_schedule: [1h] }
  defer: { nexthop: "[127.0.0.1]:${slow.port}", tls: none, retry_schedule: [1h] }
routes:
  - { match: { recipient_domain: ok.test }, transport: accept }
  - { match: { recipient_domain: gone.test }, transport: reject }
  - { match: { recipient_domain: slow.test }, transport: defer }
`,
    );
    mailfleet = await startMailfleet(configPath);
    await eventually("the listener", async () => ((await canConnect("127.0.0.1", port)) ? true : undefined));
  });

  after(async () => {
    await mailfleet?.stop().catch(() => {});
    await Promise.all([ok?.destroy(), gone?.destroy(), slow?.destroy()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("counts each tenant's delivered, bounced (by class) and deferred mail exactly", {
    timeout: 90_000,
  }, async () => {
    for (const [tenant, messages] of Object.entries(RUN)) {
      for (const [i, rcpts] of messages.entries()) await send(tenant, rcpts, `${tenant} ${i}`);
    }
    // Every recipient tried once: 8 delivered, 2 bounced, 3 deferred, as the log says.
    const outcomes = await eventually("every recipient's outcome in the log", async () => {
      const lines = (await log()).filter((l) => / (delivered|bounced|deferred) to=</.test(l));
      return lines.length >= 13 ? lines : undefined;
    });
    const of = (event: string) => outcomes.filter((l) => l.includes(` ${event} to=<`));
    assert.equal(of("delivered").length, 8, outcomes.join("\n"));
    assert.ok(of("delivered").every((l) => /@ok\.test>/.test(l)));
    assert.equal(of("bounced").length, 2, outcomes.join("\n"));
    assert.ok(of("bounced").every((l) => /@gone\.test> .*class=invalid_recipient .*dsn=5\.1\.1/.test(l)));
    assert.equal(of("deferred").length, 3, outcomes.join("\n"));
    assert.ok(of("deferred").every((l) => /@slow\.test> .*class=rate_limited /.test(l)));
    assert.equal(
      (await ok.messages()).length,
      5,
      "the accepting sink got 5 transactions (one per message and tenant with ok.test mail)",
    );
    assert.ok(
      (await ok.messages()).every((m) => !/X-Mailfleet-Tenant/i.test(m.content)),
      "the tenant header never leaves mailfleet",
    );

    await assertCounts();
    const alpha = await reputation("--tenant", "alpha");
    assert.equal(window1h(alpha, "tenant", "alpha")?.bouncedByClass.invalid_recipient, 2);
  });

  it("leaves the deferred recipients queued for their retry an hour away", { timeout: 30_000 }, async () => {
    const result = await runCli(["mailq", "-c", configPath, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const listing = JSON.parse(result.stdout) as FleetReport<QueueListing>;
    const messages = listing.instances[0]?.messages ?? [];
    const pending = messages.flatMap((m) =>
      m.recipients.filter((r) => r.state === "pending").map((r) => ({ ...r, next: m.nextAttemptAt })),
    );
    assert.deepEqual(
      pending.map((r) => r.address).sort(),
      ["s1@slow.test", "s2@slow.test", "s3@slow.test"],
      result.stdout,
    );
    for (const r of pending) {
      assert.match(r.lastReason ?? "", /451 4\.7\.28/);
      assert.ok(Date.parse(r.next ?? "") > Date.now() + 50 * 60_000, `${r.address} retries at ${r.next}`);
    }
  });

  it("keeps exactly those counts after a restart of the instance", { timeout: 60_000 }, async () => {
    assert.equal(await mailfleet!.stop(), 0);
    mailfleet = await startMailfleet(configPath);
    await eventually("the listener", async () => ((await canConnect("127.0.0.1", port)) ? true : undefined));
    await assertCounts();
    // The deferred mail waits for its retry an hour away: the restart tried nothing again.
    const outcomes = (await log()).filter((l) => / (delivered|bounced|deferred) to=</.test(l));
    assert.equal(outcomes.length, 13, outcomes.join("\n"));
  });
});
