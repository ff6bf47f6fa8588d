/**
 * Scenario: VERP, DSN and ARF ingestion, reputation counters. A delivering instance with VERP
 * sends a tenant's message to two recipients; the sink shows the VERP envelope sender. Then a
 * feedback-loop (ARF) report and an out-of-band DSN that carry that token are submitted by SMTP
 * to the instance's feedback addresses: `mailfleet reputation --json` shows the complaint and the
 * bounce for the right tenant and source IP, both recipients are suppressed, and the counters
 * survive a restart.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type { IngestSummary, ReputationReport } from "../../src/api-types/feedback.ts";
import type { FleetReport } from "../../src/api-types/queue.ts";
import { eventually, startWorld, type World } from "../support/e2e-world.ts";
import {
  type MailfleetProcess,
  repoRoot,
  runCli,
  startMailfleet,
  writeConfig,
} from "../support/mailfleet-process.ts";
import { freePort } from "../support/ports.ts";
import { openSmtp } from "../support/smtp-dialog.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";
import { DEST_ZONE, FEEDBACK_CONFIG } from "../support/tenant-mail.ts";

const fixtures = resolve(repoRoot, "test/fixtures/feedback");

describe("feedback: VERP, DSN and ARF ingestion, reputation", () => {
  let sink: Sink;
  let world: World;
  let verp = "";

  before(async () => {
    sink = await startSink();
    const mxPort = sink.port;
    world = await startWorld({
      mxPort,
      zone: DEST_ZONE,
      config: {
        feedback: FEEDBACK_CONFIG,
      },
    });
  });

  after(async () => {
    await world?.close();
    await sink?.destroy();
  });

  async function submit(from: string, to: string, content: string): Promise<string> {
    const smtp = await openSmtp({ port: world.smtpPort });
    try {
      assert.equal((await smtp.command("EHLO reporter.test")).code, 250);
      assert.equal((await smtp.command(`MAIL FROM:<${from}>`)).code, 250);
      const rcpt = await smtp.command(`RCPT TO:<${to}>`);
      assert.equal(rcpt.code, 250, rcpt.raw);
      assert.equal((await smtp.command("DATA")).code, 354);
      const body = content.replace(/\r?\n/g, "\r\n").replace(/^\./gm, "..");
      const done = await smtp.sendRaw(`${body}${body.endsWith("\r\n") ? "" : "\r\n"}.\r\n`);
      assert.equal(done.code, 250, done.raw);
      return done.raw;
    } finally {
      smtp.close();
    }
  }

  async function reputation(...args: string[]): Promise<ReputationReport> {
    const result = await runCli(["reputation", "-c", world.configPath, "--json", ...args]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as FleetReport<ReputationReport>;
    assert.ok(report.instances[0], result.stdout);
    return report.instances[0];
  }

  it("sends with a VERP return path", { timeout: 60_000 }, async () => {
    const message = [
      "From: news@shop.test",
      "To: reader@dest.test, gone@dest.test",
      "Subject: weekly offers",
      "X-Mailfleet-Tenant: shop",
      "Message-ID: <offers-e2e@shop.test>",
      "",
      "Buy now.",
      "",
    ].join("\n");
    const sent = await world.send("news@shop.test", ["reader@dest.test", "gone@dest.test"], message);
    assert.equal(sent.code, 0, sent.stderr);
    const [arrived] = await eventually("the message at the sink", async () => {
      const found = (await sink.messages()).filter((m) => m.content.includes("Subject: weekly offers"));
      return found.length > 0 ? found : undefined;
    });
    const from = /^<([^>]*)>/.exec(arrived!.mailArgs)?.[1] ?? "";
    assert.match(from, /^b\+[0-9a-z]{40}@bounces\.mailfleet\.test$/, arrived!.mailArgs);
    verp = from;
  });

  it("attributes an ARF complaint and an out-of-band DSN to tenant and source IP", {
    timeout: 60_000,
  }, async () => {
    assert.ok(verp, "needs the VERP sender of the first test");
    const arf = (await readFile(join(fixtures, "arf-abuse.eml"), "utf8"))
      .replaceAll("{{VERP}}", verp)
      .replaceAll("{{RCPT}}", "reader@dest.test");
    await submit("feedbackloop@fbl.test", "fbl@mailfleet.test", arf);
    const dsn = (await readFile(join(fixtures, "dsn-postfix-user-unknown.eml"), "utf8"))
      .replaceAll("{{VERP}}", verp)
      .replaceAll("nobody@receiver.example", "gone@dest.test");
    // Out of band: the bounce comes back later, to the VERP address itself, from the null sender.
    await submit("", verp, dsn);

    const byTenant = await reputation("--tenant", "shop");
    const row = byTenant.rows.find((r) => r.dimension === "tenant" && r.key === "shop");
    assert.ok(row, JSON.stringify(byTenant));
    assert.equal(row.windows["1h"].delivered, 2);
    assert.equal(row.windows["1h"].complaints, 1);
    assert.equal(row.windows["1h"].bounced, 1);
    assert.deepEqual(row.windows["1h"].bouncedByClass, { invalid_recipient: 1 });

    const byIp = await reputation("--ip", "127.0.0.1");
    const ip = byIp.rows.find((r) => r.dimension === "ip" && r.key === "127.0.0.1");
    assert.equal(ip?.windows["24h"].complaints, 1);
    assert.equal(ip?.windows["24h"].bounced, 1);

    // Both recipients are on the tenant's suppression list, durably.
    const journal = await readFile(join(world.dir, "spool", "suppression.jsonl"), "utf8");
    const entries = journal
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { tenant: string | null; address: string; reason: string });
    assert.ok(
      entries.some(
        (e) => e.tenant === "shop" && e.address === "reader@dest.test" && e.reason === "complaint",
      ),
      journal,
    );
    assert.ok(
      entries.some(
        (e) => e.tenant === "shop" && e.address === "gone@dest.test" && e.reason === "hard_bounce",
      ),
      journal,
    );
    // Reports are not mail: nothing was queued for the feedback addresses.
    assert.equal((await world.mailq()).messages.length, 0);
  });

  it("keeps the counters across a restart", { timeout: 60_000 }, async () => {
    await world.mailfleet.stop();
    await world.start();
    const report = await reputation("--tenant", "shop");
    const row = report.rows.find((r) => r.key === "shop");
    assert.equal(row?.windows["7d"].complaints, 1);
    assert.equal(row?.windows["7d"].bounced, 1);
    assert.equal(row?.windows["7d"].delivered, 2);
  });
  it("imports a report file with mailfleet feedback import", { timeout: 60_000 }, async () => {
    const file = join(world.dir, "mailbox-full.eml");
    const text = (await readFile(join(fixtures, "dsn-exchange-mailbox-full.eml"), "utf8")).replaceAll(
      "{{VERP}}",
      verp,
    );
    await writeFile(file, text);
    const result = await runCli(["feedback", "import", "-c", world.configPath, "--json", file]);
    assert.equal(result.code, 0, result.stderr);
    const [imported] = JSON.parse(result.stdout) as { summary: IngestSummary }[];
    assert.equal(imported?.summary.kind, "dsn");
    assert.equal(imported?.summary.events[0]?.tenant, "shop");
    assert.equal(imported?.summary.events[0]?.bounceClass, "mailbox_full");
    assert.equal(imported?.summary.events[0]?.suppressed, false, "a full mailbox is not a hard bounce");
    const row = (await reputation("--tenant", "shop")).rows.find((r) => r.key === "shop");
    assert.deepEqual(row?.windows["1h"].bouncedByClass, { invalid_recipient: 1, mailbox_full: 1 });
  });
});

describe("feedback in a fleet: the input relays reports, the delivering instance ingests them", () => {
  let dir = "";
  let process: MailfleetProcess | null = null;

  after(async () => {
    await process?.stop().catch(() => {});
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("counts a complaint sent to the input instance at the output instance", {
    timeout: 60_000,
  }, async () => {
    dir = await mkdtemp(join(tmpdir(), "mailfleet-feedback-fleet-"));
    const ports = { in: await freePort(), out: await freePort() };
    const path = await writeConfig(
      dir,
      `hostname: fleet.test
run_dir: ${dir}/run
log: { file: ${dir}/mail.log }
instances:
  input:
    role: input
    listen: ["127.0.0.1:${ports.in}"]
    relay: { local_domains: [fleet.test] }
  output:
    role: output
    listen: ["127.0.0.1:${ports.out}"]
    feedback: { addresses: [fbl@fleet.test] }
`,
    );
    process = await startMailfleet(path);
    const arf = (await readFile(join(fixtures, "arf-abuse.eml"), "utf8"))
      .replaceAll("{{VERP}}", "b+unknown@bounces.fleet.test")
      .replaceAll("{{RCPT}}", "reader@dest.test");
    const smtp = await openSmtp({ port: ports.in });
    try {
      assert.equal((await smtp.command("EHLO fbl.test")).code, 250);
      assert.equal((await smtp.command("MAIL FROM:<feedbackloop@fbl.test>")).code, 250);
      assert.equal((await smtp.command("RCPT TO:<fbl@fleet.test>")).code, 250);
      assert.equal((await smtp.command("DATA")).code, 354);
      const done = await smtp.sendRaw(`${arf.replace(/\r?\n/g, "\r\n")}.\r\n`);
      assert.equal(done.code, 250, done.raw);
    } finally {
      smtp.close();
    }
    const row = await eventually("the complaint at the output instance", async () => {
      const result = await runCli([
        "reputation",
        "-c",
        path,
        "--instance",
        "output",
        "--json",
        "--tenant",
        "shop",
      ]);
      if (result.code !== 0) return undefined;
      const report = JSON.parse(result.stdout) as FleetReport<ReputationReport>;
      return report.instances[0]?.rows.find((r) => r.key === "shop" && r.windows["1h"].complaints === 1);
    });
    assert.equal(row.dimension, "tenant");
  });
});
