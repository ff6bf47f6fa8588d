/**
 * Scenario: the queue commands against a real mailfleet. Mail deferred by a sink that answers 4xx
 * is put on hold (and stays held across a restart), deleted (no DSN), requeued after a route
 * change (delivered at once through the new route), and released (delivered). Then a fleet of
 * two instances whose nexthop refuses connections: `mailq` lists the mail of both, grouped,
 * `queue hold --all` acts on both, and a stopped instance is reported without failing the rest.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import type {
  FleetActionReport,
  FleetReport,
  QueueListing,
  QueueSummary,
} from "../../src/api-types/queue.ts";
import { eventually, simpleMessage, sleep, startWorld, type World } from "../support/e2e-world.ts";
import { type MailfleetProcess, runCli, startMailfleet, writeConfig } from "../support/mailfleet-process.ts";
import { canConnect, freePort } from "../support/ports.ts";
import { injectMessages } from "../support/smtp-inject.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";

describe("queue commands", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  async function sink(flags: string[] = []): Promise<Sink> {
    const started = await startSink({ flags });
    cleanups.push(() => started.destroy());
    return started;
  }

  it("hold survives a restart, delete sends no DSN, requeue takes a new route, release delivers", {
    timeout: 120_000,
  }, async () => {
    const refusing = await sink(["-r", "RCPT"]);
    const accepting = await sink();
    const world: World = await startWorld({
      mxPort: await freePort(),
      zone: {},
      config: {
        delivery: { default_transport: "old" },
        transports: {
          // Retried only after an hour: anything sooner in this test is the commands' doing.
          old: { nexthop: `[127.0.0.1]:${refusing.port}`, retry_schedule: ["1h"], idle_timeout: "1s" },
        },
      },
    });
    cleanups.push(() => world.close());
    const cli = (...args: string[]) => runCli([...args, "-c", world.configPath]);

    const ids: Record<string, string> = {};
    for (const name of ["keep", "drop", "move"]) {
      const sent = await world.send(
        "a@sender.test",
        [`${name}@dest.test`],
        simpleMessage({ from: "a@sender.test", to: `${name}@dest.test`, subject: `msg ${name}` }),
      );
      assert.equal(sent.code, 0, sent.stderr);
      ids[name] = sent.queueId!;
      await world.mailfleet.waitForLog(new RegExp(` deferred to=<${name}@dest\\.test>`));
    }
    const { keep, drop, move } = ids as Record<"keep" | "drop" | "move", string>;

    // hold: by id, in lower case as an operator may type it; unknown ids make exit 66.
    const held = await cli("queue", "hold", keep.toLowerCase());
    assert.equal(held.code, 0, held.stderr);
    assert.match(held.stdout, /^main: 1 message put on hold$/m);
    const unknown = await cli("queue", "hold", "00000000000000000000");
    assert.equal(unknown.code, 66);
    assert.match(unknown.stderr, /not found in any instance: 00000000000000000000/);
    const bad = await cli("queue", "hold", "not-an-id");
    assert.equal(bad.code, 64);
    const listing = await cli("mailq");
    assert.equal(listing.code, 0, listing.stderr);
    assert.match(listing.stdout, /^== main ==$/m);
    assert.match(listing.stdout, new RegExp(`^${keep}! `, "m"), "held mail is marked with !");
    assert.match(listing.stdout, new RegExp(`^${drop}  `, "m"));

    // The hold is durable: after a restart the message is still held.
    await world.mailfleet.stop();
    await world.start();
    const afterRestart = await world.mailq();
    assert.deepEqual(
      afterRestart.messages.map((m) => [m.id, m.held]),
      [
        [keep, true],
        [drop, false],
        [move, false],
      ],
    );

    // delete: gone for good, and no DSN (it would show up in the queue, toward sender.test).
    const deleted = await cli("queue", "delete", drop);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /^main: 1 message deleted$/m);
    await sleep(500);
    assert.deepEqual(
      (await world.mailq()).messages.map((m) => m.id),
      [keep, move],
    );
    assert.equal(
      world.mailfleet.log.some((l) => / dsn_queued /.test(l)),
      false,
    );

    // A summary, qshape style: pending recipients by domain and age.
    const summary = await cli("queue", "summary", "--json");
    assert.equal(summary.code, 0, summary.stderr);
    const shape = (JSON.parse(summary.stdout) as FleetReport<QueueSummary>).instances[0]!;
    assert.deepEqual(shape.rows, [{ domain: "dest.test", total: 2, counts: [2, 0, 0, 0, 0, 0, 0, 0] }]);
    const table = await cli("queue", "summary");
    assert.match(table.stdout, /^\s+T\s+5\s+10\s+20\s+40\s+80\s+160\s+320\s+320\+$/m);
    assert.match(table.stdout, /^\s*dest\.test\s+2\s+2(\s+0){7}$/m);

    // Route change by reload: deferred mail would take it in an hour; requeue makes that now.
    const config = parse(await readFile(world.configPath, "utf8")) as {
      transports: Record<string, unknown>;
      delivery: Record<string, unknown>;
    };
    config.transports.new = { nexthop: `[127.0.0.1]:${accepting.port}`, idle_timeout: "1s" };
    config.delivery.default_transport = "new";
    await writeFile(world.configPath, stringify(config));
    const reloaded = await runCli(["reload", "-c", world.configPath]);
    assert.equal(reloaded.code, 0, reloaded.stderr + reloaded.stdout);
    const requeued = await cli("queue", "requeue", "--all");
    assert.equal(requeued.code, 0, requeued.stderr);
    assert.match(requeued.stdout, /^main: 1 message requeued$/m, "the held message is left alone");
    await world.mailfleet.waitForLog(/ delivered to=<move@dest\.test>/, 20_000);
    await sleep(500);
    assert.deepEqual(
      (await accepting.messages()).map((m) => /Subject: (.*)/.exec(m.content)?.[1]),
      ["msg move"],
    );

    // release: due now, through the current route.
    const released = await cli("queue", "release", keep, "--json");
    assert.equal(released.code, 0, released.stderr);
    const report = JSON.parse(released.stdout) as FleetActionReport;
    assert.deepEqual(report.instances, [{ instance: "main", action: "release", affected: 1, missing: [] }]);
    await world.mailfleet.waitForLog(/ delivered to=<keep@dest\.test>/, 20_000);
    await eventually("an empty queue", async () => ((await world.mailq()).total === 0 ? true : undefined));
    const subjects = (await accepting.messages()).map((m) => /Subject: (.*)/.exec(m.content)?.[1]).sort();
    assert.deepEqual(subjects, ["msg keep", "msg move"], "the deleted message was never delivered");
  });

  it("mailq and queue actions cover every instance of a fleet", { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "mailfleet-queue-fleet-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const refused = await freePort(); // nothing listens there: every attempt is deferred
    const ports = { alpha: await freePort(), beta: await freePort() };
    const instance = (name: "alpha" | "beta") => ({
      role: "all",
      listen: [`127.0.0.1:${ports[name]}`],
      spool_dir: `${dir}/spool-${name}`,
      relay: { trusted_networks: ["127.0.0.0/8"] },
      delivery: { allow_private_destinations: true, default_transport: "dead" },
      transports: { dead: { nexthop: `[127.0.0.1]:${refused}`, retry_schedule: ["1h"] } },
      bounce: { from: "MAILER-DAEMON@fleet.test" },
    });
    await mkdir(dir, { recursive: true });
    const path = await writeConfig(
      dir,
      stringify({
        hostname: "fleet.test",
        run_dir: `${dir}/run`,
        log: { file: `${dir}/mail.log` },
        instances: { alpha: instance("alpha"), beta: instance("beta") },
      }),
    );
    const fleet: MailfleetProcess = await startMailfleet(path);
    cleanups.push(() => fleet.stop());
    for (const port of Object.values(ports)) {
      await eventually(`a listener on ${port}`, async () =>
        (await canConnect("127.0.0.1", port)) ? true : undefined,
      );
    }
    await injectMessages(ports.alpha, [{ from: "a@sender.test", to: ["x@one.test"], subject: "to alpha" }]);
    await injectMessages(ports.beta, [
      { from: "a@sender.test", to: ["y@two.test"], subject: "to beta 1" },
      { from: "a@sender.test", to: ["z@two.test"], subject: "to beta 2" },
    ]);
    const cli = (...args: string[]) => runCli([...args, "-c", path]);
    const mailq = async () => {
      const result = await cli("mailq", "--json");
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(result.stdout) as FleetReport<QueueListing>;
    };
    // Each message is deferred once (connection refused) and then waits an hour.
    await eventually("every message deferred", async () => {
      const all = (await mailq()).instances.flatMap((l) => l.messages);
      return all.length === 3 && all.every((m) => m.attempts === 1 && !m.active) ? true : undefined;
    });

    const report = await mailq();
    assert.deepEqual(
      report.instances.map((l) => [l.instance, l.total]),
      [
        ["alpha", 1],
        ["beta", 2],
      ],
    );
    assert.deepEqual(report.unreachable, []);
    const text = await cli("mailq");
    assert.match(text.stdout, /== alpha ==\n-Queue ID-[^\n]*\n[^\n]*\n[^\n]*\n\s+x@one\.test/);
    const betaPart = text.stdout.slice(text.stdout.indexOf("== beta =="));
    assert.match(betaPart, /y@two\.test/);
    assert.match(betaPart, /z@two\.test/);
    assert.match(text.stdout, /Connection refused|connect/i, "the deferral reason is shown");

    // Ids are looked for in every instance.
    const betaId = report.instances[1]!.messages[0]!.id;
    assert.match(text.stdout, /== alpha ==[^=]*x@one\.test[^=]*== beta ==/);
    const alphaId = report.instances[0]!.messages[0]!.id;
    const hold = await cli("queue", "hold", alphaId, betaId);
    assert.equal(hold.code, 0, hold.stderr);
    assert.match(hold.stdout, /^alpha: 1 message put on hold$/m);
    assert.match(hold.stdout, /^beta: 1 message put on hold$/m);
    const all = await cli("queue", "hold", "--all");
    assert.match(all.stdout, /^alpha: 0 messages put on hold$/m);
    assert.match(all.stdout, /^beta: 1 message put on hold$/m);
    const onlyBeta = await cli("mailq", "--instance", "beta");
    assert.doesNotMatch(onlyBeta.stdout, /== alpha ==/);
    assert.equal(onlyBeta.stdout.match(/^[0-9A-Z]{20}! /gm)?.length, 2);

    // A stopped instance is one line in the report; the others still answer.
    const stopped = await cli("instance", "stop", "alpha");
    assert.equal(stopped.code, 0, stopped.stderr + stopped.stdout);
    const partial = await cli("mailq");
    assert.equal(partial.code, 0, partial.stderr);
    assert.match(partial.stdout, /^== alpha == not running/m);
    assert.match(partial.stdout, /== beta ==\n-Queue ID-/);
    const json = JSON.parse((await cli("mailq", "--json")).stdout) as FleetReport<QueueListing>;
    assert.deepEqual(
      json.unreachable.map((u) => u.instance),
      ["alpha"],
    );
    const onlyAlpha = await cli("mailq", "--instance", "alpha");
    assert.equal(onlyAlpha.code, 69, "nothing could be reached");
    // An id held only by the stopped instance is not found among the running ones.
    const missing = await cli("queue", "release", alphaId);
    assert.equal(missing.code, 66);
    assert.match(missing.stderr, /not found in any running instance/);
  });
});
