/**
 * Scenario: the spool as the operator sees it. One spool has one owner (a second `start` on it
 * fails with EX_TEMPFAIL naming the lock); a file system short of min_free_disk refuses new
 * mail with 452 4.3.1; queued mail survives a restart and is delivered when its MX comes back.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { eventually, runCliBounded, simpleMessage, startWorld, type World } from "../support/e2e-world.ts";
import { freePort } from "../support/ports.ts";
import { openSmtp } from "../support/smtp-dialog.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";

const EX_TEMPFAIL = 75;

const zone = {
  "example.test": { mx: [{ preference: 10, exchange: "mx.example.test" }] },
  "mx.example.test": { a: ["127.0.0.1"] },
};

describe("spool", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  async function world(mxPort: number, config: Record<string, unknown> = {}): Promise<World> {
    const started = await startWorld({ mxPort, zone, config });
    cleanups.push(() => started.close());
    return started;
  }

  it("refuses a second start on the same spool with exit 75 naming the lock", {
    timeout: 60_000,
  }, async () => {
    const w = await world(await freePort());
    // Same spool, other ports: only the spool lock can stop this one.
    const config = parse(await readFile(w.configPath, "utf8")) as Record<string, unknown>;
    config.listen = [`127.0.0.1:${await freePort()}`];
    config.admin = { listen: `127.0.0.1:${await freePort()}` };
    // A supervisor of its own (same run_dir would be refused as "already running").
    config.run_dir = join(w.dir, "run2");
    const secondPath = join(w.dir, "second.yaml");
    await writeFile(secondPath, stringify(config));

    const second = await runCliBounded(["start", "-c", secondPath], 20_000);
    assert.equal(second.timedOut, false, `the second instance kept running: ${second.stderr}`);
    assert.equal(second.code, EX_TEMPFAIL, second.stderr);
    assert.match(second.stderr, /lock/i);
    assert.ok(
      second.stderr.includes(join(w.dir, "spool")),
      `the message should name the spool: ${second.stderr}`,
    );
    // The first instance is unharmed.
    assert.equal(w.mailfleet.child.exitCode, null);
    assert.equal((await w.mailq()).total, 0);
  });

  it("answers MAIL with 452 4.3.1 when free disk is below min_free_disk", { timeout: 60_000 }, async () => {
    const w = await world(await freePort(), { limits: { min_free_disk: "1000000GiB" } });
    const smtp = await openSmtp({ port: w.smtpPort });
    try {
      assert.equal((await smtp.command("EHLO client.test")).code, 250);
      const mail = await smtp.command("MAIL FROM:<alice@client.test>");
      assert.equal(mail.code, 452, mail.raw);
      assert.match(mail.raw, /^452 4\.3\.1 /);
    } finally {
      smtp.close();
    }
  });

  it("keeps queued mail across a restart and delivers it when the MX comes up", {
    timeout: 60_000,
  }, async () => {
    const mxPort = await freePort(); // nothing listens there yet
    const w = await world(mxPort);
    const sent = await w.send(
      "alice@client.test",
      ["bob@example.test"],
      simpleMessage({ from: "alice@client.test", to: "bob@example.test", subject: "survives restart" }),
    );
    assert.equal(sent.code, 0, sent.stderr);
    const id = sent.queueId!;
    await w.mailfleet.waitForLog(/\bdeferred\b.*to=<bob@example\.test>/, 20_000);

    assert.equal(await w.mailfleet.stop(), 0, "a graceful stop exits 0");
    await w.start();
    const listing = await w.mailq();
    const message = listing.messages.find((m) => m.id === id);
    assert.ok(message, `mailq after restart lacks ${id}: ${JSON.stringify(listing)}`);
    assert.equal(message.sender, "alice@client.test");
    assert.deepEqual(
      message.recipients.map((r) => [r.address, r.state]),
      [["bob@example.test", "pending"]],
    );

    const sink: Sink = await startSink({ host: "127.0.0.1", port: mxPort });
    cleanups.push(() => sink.destroy());
    const delivered = await w.mailfleet.waitForLog(/\bdelivered\b.*to=<bob@example\.test>/, 30_000);
    assert.ok(delivered.includes(id), delivered);
    const copies = (await sink.messages()).filter((m) => m.content.includes("Subject: survives restart"));
    assert.equal(copies.length, 1);
    await eventually("an empty queue", async () => ((await w.mailq()).total === 0 ? true : undefined));
  });
});
