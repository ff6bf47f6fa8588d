import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import pino from "pino";
import { parseArf } from "./arf.ts";
import { openAttributionStore } from "./attribution.ts";
import { loadBounceRulesFile } from "./classify-bounce.ts";
import { openCounters } from "./counters.ts";
import { parseDsn } from "./dsn-parse.ts";
import { createIngestor } from "./ingest.ts";
import { splitReport } from "./ingest-mime.ts";
import { openSuppressionList } from "./suppression.ts";
import { encodeToken, verpAddress } from "./verp.ts";

const fixtures = resolve(import.meta.dirname, "../../test/fixtures/feedback");
const secret = Buffer.from("a test secret that is long enough");
const verp = { domain: "bounces.example.com", localPart: "b", secret };
const QUEUE_ID = "0F2K3M4N5P6Q7R8S9T0V";

async function fixture(name: string, vars: Record<string, string>): Promise<Buffer> {
  let text = await readFile(join(fixtures, name), "utf8");
  for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`{{${k}}}`, v);
  return Buffer.from(text.replace(/\r?\n/g, "\r\n"));
}

const rules = loadBounceRulesFile();
if (!rules.ok) throw new Error(rules.errors.join("\n"));
const classify = rules.classifier.classify.bind(rules.classifier);

describe("report parsing", () => {
  const address = verpAddress(verp, { queueId: QUEUE_ID, recipientIndex: 0 });

  it("parses a Postfix DSN: recipient, action, status, diagnostic, returned headers", async () => {
    const dsn = parseDsn(await splitReport(await fixture("dsn-postfix-user-unknown.eml", { VERP: address })));
    assert.ok(dsn);
    assert.equal(dsn.reportingMta, "mx.receiver.example");
    assert.equal(dsn.recipients.length, 1);
    const [r] = dsn.recipients;
    assert.equal(r!.finalRecipient, "nobody@receiver.example");
    assert.equal(r!.action, "failed");
    assert.equal(r!.status, "5.1.1");
    assert.match(
      r!.diagnostic,
      /^550 5\.1\.1 <nobody@receiver\.example>: Recipient address rejected: User unknown/,
    );
    assert.equal(dsn.returnedMessageId, "<offers-2026-47@shop.example>");
    assert.ok(dsn.returnedHeaders.includes(address));
  });

  it("parses an Exchange-style DSN with a full returned message", async () => {
    const dsn = parseDsn(
      await splitReport(await fixture("dsn-exchange-mailbox-full.eml", { VERP: address })),
    );
    assert.equal(dsn?.recipients[0]?.status, "5.2.2");
    assert.equal(dsn?.recipients[0]?.finalRecipient, "full@outlook.example");
    assert.equal(dsn?.returnedMessageId, "<invoice-881@shop.example>");
  });

  it("parses an ARF report", async () => {
    const raw = await fixture("arf-abuse.eml", { VERP: address, RCPT: "reader@mailbox.example" });
    const report = await splitReport(raw);
    assert.equal(report.reportType, "feedback-report");
    assert.equal(parseDsn(report), null);
    const arf = parseArf(report);
    assert.ok(arf);
    assert.equal(arf.feedbackType, "abuse");
    assert.equal(arf.sourceIp, "198.51.100.7");
    assert.equal(arf.originalRcptTo, "reader@mailbox.example");
    assert.equal(arf.returnedTenant, "shop");
    assert.equal(arf.returnedMessageId, "<offers-2026-47b@shop.example>");
    assert.equal(arf.arrivalDate, "Mon, 23 Nov 2026 09:58:02 +0000");
  });
});

describe("ingestion", () => {
  it("attributes DSNs and complaints through the VERP token, counts and suppresses", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ingest-"));
    const now = () => Date.UTC(2026, 10, 23, 12, 0, 0);
    const counters = await openCounters({ dir, now });
    const attribution = await openAttributionStore({ dir, now });
    const suppression = await openSuppressionList(join(dir, "suppression.jsonl"));
    try {
      attribution.recordTenant(QUEUE_ID, "shop", now());
      attribution.recordSend(QUEUE_ID, "news@shop.example", {
        recipients: [
          { index: 0, address: "nobody@receiver.example" },
          { index: 1, address: "reader@mailbox.example" },
        ],
        sourceIp: "198.51.100.7",
        transport: "mx",
        provider: "receiver.example",
        at: now(),
      });
      const ingestor = await createIngestor({
        dir,
        config: () => ({
          verp: null,
          addresses: ["fbl@example.com"],
          bounceDomains: ["bounces.example.com"],
          bounceRules: null,
        }),
        verp,
        attribution,
        counters,
        suppression,
        classify,
        logger: pino({ level: "silent" }),
        now,
      });
      const many = verpAddress(verp, { queueId: QUEUE_ID, recipientIndex: 0xffff });
      assert.equal(ingestor.claims([many]), true);
      assert.equal(ingestor.claims(["FBL@example.com"]), true);
      assert.equal(ingestor.claims(["fbl@example.com", "someone@else.example"]), false);

      const dsn = await ingestor.ingest(await fixture("dsn-postfix-user-unknown.eml", { VERP: many }), {
        sender: "",
        recipients: [many],
      });
      assert.equal(dsn.kind, "dsn");
      assert.deepEqual(dsn.events, [
        {
          kind: "bounced",
          recipient: "nobody@receiver.example",
          queueId: QUEUE_ID,
          tenant: "shop",
          sourceIp: "198.51.100.7",
          bounceClass: "invalid_recipient",
          suppressed: true,
        },
      ]);
      assert.equal(suppression.has("shop", "nobody@receiver.example"), true);

      const arf = await ingestor.ingest(
        await fixture("arf-abuse.eml", { VERP: many, RCPT: "reader@mailbox.example" }),
        { sender: "feedbackloop@fbl.mailbox.example", recipients: ["fbl@example.com"] },
      );
      assert.equal(arf.kind, "arf");
      assert.equal(arf.events[0]?.tenant, "shop");
      assert.equal(arf.events[0]?.suppressed, true);
      assert.equal(suppression.get("shop", "reader@mailbox.example")?.reason, "complaint");

      // A forged token is not attributed: the tenant comes from the returned header only.
      const forged = `b+${encodeToken(Buffer.from("not our secret at all"), { queueId: QUEUE_ID, recipientIndex: 1 })}@bounces.example.com`;
      const other = await ingestor.ingest(
        await fixture("arf-abuse.eml", { VERP: forged, RCPT: "x@mailbox.example" }),
        null,
      );
      assert.equal(other.events[0]?.queueId, null);
      assert.equal(other.note, "no VERP token of ours in the report");

      const row = counters.report({ ip: "198.51.100.7" }).rows[0]!;
      assert.equal(row.windows["1h"].complaints, 2);
      assert.deepEqual(row.windows["1h"].bouncedByClass, { invalid_recipient: 1 });
      const log = (await readFile(join(dir, "events.jsonl"), "utf8")).trim().split("\n");
      assert.equal(log.length, 3);
    } finally {
      await counters.close();
      await attribution.close();
      await suppression.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("keeps attribution across a reopen and drops it after the retention", async () => {
    const dir = await mkdtemp(join(tmpdir(), "attribution-"));
    let t = Date.UTC(2026, 10, 23);
    try {
      const first = await openAttributionStore({ dir, now: () => t });
      first.recordTenant(QUEUE_ID, "shop", t);
      first.recordSend(QUEUE_ID, "a@shop.example", {
        recipients: [{ index: 0, address: "x@y.example" }],
        sourceIp: "192.0.2.9",
        transport: "mx",
        provider: "y.example",
        at: t,
      });
      await first.close();
      const second = await openAttributionStore({ dir, now: () => t });
      assert.equal(second.get(QUEUE_ID)?.tenant, "shop");
      assert.equal(second.get(QUEUE_ID)?.sends[0]?.sourceIp, "192.0.2.9");
      await second.close();
      t += 8 * 86_400_000;
      const third = await openAttributionStore({ dir, now: () => t });
      assert.equal(third.get(QUEUE_ID), null);
      await third.close();
      // A running store compacts on its own: old entries leave the file and memory.
      const fourth = await openAttributionStore({ dir, now: () => t, compactEveryMs: 20 });
      fourth.recordTenant("1F2K3M4N5P6Q7R8S9T0V", "new", t);
      t += 8 * 86_400_000;
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(fourth.get("1F2K3M4N5P6Q7R8S9T0V"), null);
      fourth.recordTenant("2F2K3M4N5P6Q7R8S9T0V", "newer", t);
      await fourth.close();
      const lines = (await readFile(join(dir, "attribution.jsonl"), "utf8")).trim().split("\n");
      assert.deepEqual(
        lines.map((l) => (JSON.parse(l) as { tenant: string }).tenant),
        ["newer"],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
