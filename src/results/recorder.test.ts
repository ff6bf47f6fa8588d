import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadBounceRulesFile } from "../feedback/classify-bounce.ts";
import { openSuppressionList } from "../feedback/suppression.ts";
import type { RelayInfo } from "../message/types.ts";
import { createSpool } from "../spool/spool.ts";
import { checksummedBody, sampleMessage, silentLogger, tempDir } from "../spool/testing.ts";
import { createDeliveryLog } from "./delivery-log.ts";
import { createResultRecorder } from "./recorder.ts";

describe("result recorder: classes, relay and automatic suppression", async () => {
  const { dir, cleanup } = await tempDir("mf-recorder-");
  const spool = createSpool({ dir: join(dir, "spool"), logger: silentLogger });
  await spool.open();
  const suppression = await openSuppressionList(join(dir, "suppression.jsonl"));
  after(async () => {
    await suppression.close();
    await spool.close();
    await cleanup();
  });
  const rules = loadBounceRulesFile();
  if (!rules.ok) throw new Error(rules.errors.join("\n"));
  const lines: string[] = [];
  const recorder = createResultRecorder({
    spool,
    log: createDeliveryLog({ format: "text", write: (l) => lines.push(l) }),
    logger: silentLogger,
    identity: () => ({ hostname: "mf.test", bounceFrom: "MAILER-DAEMON@mf.test" }),
    classify: rules.classifier.classify,
    suppression,
  });
  const relay: RelayInfo = { host: "mx.dest.test", ip: "127.0.0.9", port: 25, sourceIp: "127.0.0.2" };

  it("logs a bounce with its real relay, scope and class, and suppresses hard bounces only", async () => {
    const message = await spool.store(sampleMessage(3, { tenant: "acme" }), checksummedBody());
    const dsn = await recorder.roundFinished(message, [
      {
        index: 0,
        kind: "bounced",
        reply: { code: 550, enhanced: "5.1.1", text: "User unknown" },
        remoteMta: relay.host,
        scope: "recipient",
        relay,
      },
      {
        index: 1,
        kind: "bounced",
        reply: { code: 554, enhanced: "5.7.1", text: "Message rejected as spam" },
        remoteMta: relay.host,
        scope: "message",
        relay,
      },
      {
        index: 2,
        kind: "expired",
        reply: { code: 451, enhanced: "4.4.7", text: "delivery time expired; last error: 452 Mailbox full" },
        remoteMta: null,
      },
    ]);
    assert.ok(dsn !== null);
    const bounced = lines.filter((l) => l.includes(" bounced "));
    assert.match(
      bounced[0]!,
      /relay=mx\.dest\.test\[127\.0\.0\.9\]:25 source=127\.0\.0\.2 scope=recipient class=invalid_recipient/,
    );
    assert.match(bounced[1]!, /scope=message class=policy/);
    assert.match(lines.find((l) => l.includes(" expired "))!, /class=mailbox_full/);
    assert.deepEqual(
      suppression.list().map((e) => [e.tenant, e.address, e.reason]),
      [["acme", "rcpt0@example.com", "hard_bounce"]],
    );
    const body = (await spool.readBody(dsn.id)).toString();
    assert.match(body, /X-Mailfleet-Bounce-Class: invalid_recipient/);
    assert.equal(dsn.tenant, "acme");
  });
});
