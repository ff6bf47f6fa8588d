/**
 * Scenario: `kill -HUP` reloads the config, and mail that is already deferred follows the new
 * routing at its next attempt. A broken config file is refused and the running one stays.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { after, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { eventually, simpleMessage, startWorld } from "../support/e2e-world.ts";
import { freePort } from "../support/ports.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";

describe("reload", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  async function sink(flags: string[] = []): Promise<Sink> {
    const started = await startSink({ flags });
    cleanups.push(() => started.destroy());
    return started;
  }

  it("re-routes deferred mail after SIGHUP, and keeps running on a bad file", {
    timeout: 60_000,
  }, async () => {
    const refusing = await sink(["-r", "RCPT"]);
    const accepting = await sink();
    const world = await startWorld({
      mxPort: await freePort(),
      zone: {},
      config: {
        delivery: { default_transport: "old" },
        transports: {
          old: { nexthop: `[127.0.0.1]:${refusing.port}`, retry_schedule: ["1s"], idle_timeout: "1s" },
        },
      },
    });
    cleanups.push(() => world.close());

    const sent = await world.send(
      "a@sender.test",
      ["b@dest.test"],
      simpleMessage({ from: "a@sender.test", to: "b@dest.test", subject: "reroute me" }),
    );
    assert.equal(sent.code, 0, sent.stderr);
    await world.mailfleet.waitForLog(/ deferred to=<b@dest\.test>/);

    // A broken file: the instance logs the error and keeps its config (the mail stays deferred).
    const good = await readFile(world.configPath, "utf8");
    await writeFile(world.configPath, `${good}\nnot_a_key: 1\n`);
    world.mailfleet.child.kill("SIGHUP");
    await eventually("the refusal to be logged", () =>
      /reload refused/.test(world.mailfleet.stderr()) ? true : undefined,
    );

    const config = parse(good) as { transports: Record<string, unknown>; delivery: Record<string, unknown> };
    config.transports.new = { nexthop: `[127.0.0.1]:${accepting.port}`, idle_timeout: "1s" };
    config.delivery.default_transport = "new";
    await writeFile(world.configPath, stringify(config));
    world.mailfleet.child.kill("SIGHUP");

    await world.mailfleet.waitForLog(/ delivered to=<b@dest\.test>/, 20_000);
    const received = await accepting.messages();
    assert.equal(received.length, 1);
    assert.match(received[0]!.content, /Subject: reroute me/);
    // The refusing sink may log the aborted transactions, but never got the content.
    assert.equal(
      (await refusing.messages()).some((m) => /reroute me/.test(m.content)),
      false,
    );
    assert.equal(world.mailfleet.child.exitCode, null, "the instance is still running");
  });
});
