/**
 * Scenario: the supervisor with real instance processes. kill -9 of one instance leaves the
 * others delivering and the supervisor restarts it; `mailfleet stop` with a message in the
 * middle of DATA loses nothing (it is answered 250, and everything accepted is delivered after
 * the next start); a spool has one owner; `status --json`, `instance stop|start` and the control
 * socket's permissions.
 */
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FleetStatus, InstanceStatus } from "../../src/api-types/fleet.ts";
import { eventually, runCliBounded } from "../support/e2e-world.ts";
import {
  isAlive,
  type MailfleetProcess,
  runCli,
  startMailfleet,
  writeConfig,
} from "../support/mailfleet-process.ts";
import { canConnect, freePort } from "../support/ports.ts";
import { openSmtp } from "../support/smtp-dialog.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";

const EX_UNAVAILABLE = 69;
const EX_TEMPFAIL = 75;
const EX_CONFIG = 78;

async function submit(port: number, subject: string): Promise<void> {
  const smtp = await openSmtp({ port });
  try {
    await smtp.command("EHLO client.test");
    assert.equal((await smtp.command("MAIL FROM:<a@client.test>")).code, 250);
    assert.equal((await smtp.command("RCPT TO:<b@dest.test>")).code, 250);
    assert.equal((await smtp.command("DATA")).code, 354);
    const done = await smtp.sendRaw(`Subject: ${subject}\r\n\r\nHello.\r\n.\r\n`);
    assert.equal(done.code, 250, done.raw);
  } finally {
    smtp.close();
  }
}

function instanceOf(status: FleetStatus, name: string): InstanceStatus {
  const found = status.instances.find((i) => i.name === name);
  assert.ok(found, `instance ${name} in ${JSON.stringify(status)}`);
  return found;
}

describe("fleet supervisor", () => {
  let dir = "";
  let sink: Sink;
  const running: MailfleetProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mailfleet-supervisor-"));
    sink = await startSink({ dump: true });
  });
  after(async () => {
    for (const p of running) await p.stop().catch(() => {});
    await sink?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function writeFleet(name: string, instances: string): Promise<{ base: string; path: string }> {
    const base = join(dir, name);
    await mkdir(base, { recursive: true });
    const path = await writeConfig(
      base,
      `hostname: fleet.test\nrun_dir: ${base}/run\nlog: { file: "-" }\ninstances:\n${instances}`,
    );
    return { base, path };
  }

  async function start(path: string): Promise<MailfleetProcess> {
    const process = await startMailfleet(path, 30_000);
    running.push(process);
    return process;
  }

  async function delivered(subject: string, timeoutMs = 30_000) {
    return eventually(
      `"${subject}" at the sink`,
      async () => (await sink.messages()).find((m) => m.content.includes(`Subject: ${subject}`)),
      timeoutMs,
    );
  }

  describe("a three-instance pipeline", () => {
    const ports = { submission: 0, input: 0, output: 0 };
    let fleet: MailfleetProcess;
    let path = "";
    let base = "";
    const pipeline = () => `  submission: { role: submission, listen: ["127.0.0.1:${ports.submission}"] }
  input: { role: input, listen: ["127.0.0.1:${ports.input}"] }
  output:
    role: output
    listen: ["127.0.0.1:${ports.output}"]
    transports:
      mx: { nexthop: "[127.0.0.1]:${sink.port}", tls: none }
`;

    before(async () => {
      for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
      ({ base, path } = await writeFleet("pipeline", pipeline()));
      fleet = await start(path);
    });

    it("status --json lists every instance with its pid and listeners", { timeout: 30_000 }, async () => {
      const result = await runCli(["status", "--json", "-c", path]);
      assert.equal(result.code, 0, result.stderr);
      const status = JSON.parse(result.stdout) as FleetStatus;
      assert.equal(status.pid, fleet.child.pid);
      assert.equal(status.configSource, path);
      assert.deepEqual(
        status.instances.map((i) => [i.name, i.role, i.state, i.listeners]),
        [
          ["submission", "submission", "running", [`127.0.0.1:${ports.submission}`]],
          ["input", "input", "running", [`127.0.0.1:${ports.input}`]],
          ["output", "output", "running", [`127.0.0.1:${ports.output}`]],
        ],
      );
      for (const i of status.instances) {
        assert.equal(typeof i.pid, "number");
        assert.notEqual(i.pid, fleet.child.pid, "each instance is a process of its own");
        process.kill(i.pid!, 0); // alive
        assert.equal(i.queued, 0);
        assert.equal(i.restarts, 0);
      }
      assert.equal(new Set(status.instances.map((i) => i.pid)).size, 3);

      const table = await runCli(["status", "-c", path]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^NAME +ROLE +STATE +PID +UPTIME +LISTENERS +QUEUED/m);
      assert.match(
        table.stdout,
        new RegExp(`^input +input +running +\\d+ +\\d+s +127\\.0\\.0\\.1:${ports.input} +0`, "m"),
      );

      // The control channel is protected by file permissions.
      assert.equal(statSync(join(base, "run")).mode & 0o777, 0o700);
      assert.equal(statSync(join(base, "run", "control.sock")).mode & 0o777, 0o600);
    });

    it("kill -9 of the input instance: submission -> output keeps delivering, input is restarted", {
      timeout: 60_000,
    }, async () => {
      const before = await fleet.status();
      const input = instanceOf(before, "input");
      process.kill(input.pid!, "SIGKILL");
      await submit(ports.submission, "while input is down");
      await delivered("while input is down");

      const after = await eventually("input restarted", async () => {
        const status = await fleet.status();
        const restarted = instanceOf(status, "input");
        return restarted.state === "running" && restarted.restarts === 1 ? status : undefined;
      });
      const restarted = instanceOf(after, "input");
      assert.notEqual(restarted.pid, input.pid);
      assert.equal(restarted.lastExit, "signal SIGKILL");
      for (const name of ["submission", "output"]) {
        assert.equal(instanceOf(after, name).pid, instanceOf(before, name).pid, `${name} was not touched`);
        assert.equal(instanceOf(after, name).restarts, 0);
      }
      await submit(ports.input, "through the restarted input");
      await delivered("through the restarted input");
    });

    it("instance stop keeps an instance stopped until instance start", { timeout: 60_000 }, async () => {
      const stop = await runCli(["instance", "stop", "input", "-c", path]);
      assert.equal(stop.code, 0, stop.stderr);
      assert.equal(await canConnect("127.0.0.1", ports.input), false);
      const list = await runCli(["instance", "list", "--json", "-c", path]);
      const stopped = (JSON.parse(list.stdout) as InstanceStatus[]).find((i) => i.name === "input");
      assert.deepEqual([stopped?.state, stopped?.pid], ["stopped", null]);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(instanceOf(await fleet.status(), "input").state, "stopped", "not restarted as a crash");

      const start = await runCli(["instance", "start", "input", "-c", path]);
      assert.equal(start.code, 0, start.stderr);
      assert.equal(instanceOf(await fleet.status(), "input").state, "running");
      assert.equal(await canConnect("127.0.0.1", ports.input), true);

      const unknown = await runCli(["instance", "stop", "nosuch", "-c", path]);
      assert.notEqual(unknown.code, 0);
      assert.match(unknown.stderr, /no instance named "nosuch"/);
    });

    it("kill -9 of the supervisor: every instance stops on its own, and the fleet starts again", {
      timeout: 60_000,
    }, async () => {
      const pids = (await fleet.status()).instances.map((i) => i.pid!);
      fleet.child.kill("SIGKILL");
      await eventually("every instance to exit", () => (pids.some(isAlive) ? undefined : true), 30_000);
      // The stale control socket is cleared; the spools were closed, so their locks are free.
      fleet = await start(path);
      const status = await fleet.status();
      assert.deepEqual(
        status.instances.map((i) => i.state),
        ["running", "running", "running"],
      );
      await submit(ports.submission, "after the supervisor came back");
      await delivered("after the supervisor came back");
    });

    it("reload restarts an instance whose listener moved and reloads the rest in place", {
      timeout: 60_000,
    }, async () => {
      const before = await fleet.status();
      const oldOutput = ports.output;
      ports.output = await freePort();
      await writeFleet("pipeline", pipeline());
      const reload = await runCli(["reload", "-c", path]);
      assert.equal(reload.code, 0, reload.stderr);
      assert.match(reload.stderr, /reload: restarted output; reloaded submission, input/);
      const after = await fleet.status();
      assert.deepEqual(instanceOf(after, "output").listeners, [`127.0.0.1:${ports.output}`]);
      assert.notEqual(instanceOf(after, "output").pid, instanceOf(before, "output").pid);
      assert.equal(instanceOf(after, "output").restarts, 0, "a planned restart is no crash");
      assert.equal(instanceOf(after, "submission").pid, instanceOf(before, "submission").pid);
      assert.equal(await canConnect("127.0.0.1", oldOutput), false);
      // The submission instance relays to the output's new address.
      await submit(ports.submission, "to the moved output");
      await delivered("to the moved output");

      // A broken file is refused and changes nothing.
      await writeConfig(join(base), "instances: 3\n");
      const refused = await runCli(["reload", "-c", path]);
      assert.equal(refused.code, EX_CONFIG);
      assert.match(refused.stderr, /mailfleet\.yaml:1:\d+: instances/);
      assert.deepEqual(
        (await fleet.status()).instances.map((i) => [i.name, i.pid]),
        after.instances.map((i) => [i.name, i.pid]),
      );
      await writeFleet("pipeline", pipeline());
    });
  });

  describe("one output instance whose next hop is down", () => {
    let later = 0;
    let port = 0;
    let path = "";

    before(async () => {
      later = await freePort(); // nothing listens here until the end
      port = await freePort();
      ({ path } = await writeFleet(
        "graceful",
        `  out:
    role: output
    listen: ["127.0.0.1:${port}"]
    transports:
      mx: { nexthop: "[127.0.0.1]:${later}", tls: none, retry_schedule: [1s] }
`,
      ));
    });

    it("a spool has one owner: a second run of the same instance is refused", {
      timeout: 60_000,
    }, async () => {
      const fleet = await start(path);
      const pid = instanceOf(await fleet.status(), "out").pid;
      const second = await runCliBounded(["instance", "run", "out", "-c", path], 20_000);
      assert.equal(second.timedOut, false, `the second process kept running: ${second.stderr}`);
      assert.equal(second.code, EX_TEMPFAIL, second.stderr);
      assert.match(second.stderr, new RegExp(`spool .* is locked by process ${pid}`));
      assert.equal(instanceOf(await fleet.status(), "out").pid, pid, "the running instance is unharmed");

      const again = await runCliBounded(["start", "-c", path], 20_000);
      assert.equal(again.code, EX_TEMPFAIL, again.stderr);
      assert.match(again.stderr, new RegExp(`mailfleet is already running \\(pid ${fleet.child.pid}\\)`));

      // Two instances configured with one spool never get that far.
      const shared = await writeFleet(
        "shared-spool",
        `  a: { role: output, spool_dir: ${dir}/one-spool, listen: ["127.0.0.1:${await freePort()}"] }
  b: { role: output, spool_dir: ${dir}/one-spool, listen: ["127.0.0.1:${await freePort()}"] }
`,
      );
      const refused = await runCliBounded(["start", "-c", shared.path], 20_000);
      assert.equal(refused.code, EX_CONFIG, refused.stderr);
      assert.match(refused.stderr, /spool_dir/);

      assert.equal(await fleet.stop(), 0);
    });

    it("mailfleet stop with a message in DATA answers it, and loses nothing", {
      timeout: 90_000,
    }, async () => {
      const fleet = await start(path);
      const subjects = ["queued 1", "queued 2", "queued 3"];
      for (const s of subjects) await submit(port, s);

      const smtp = await openSmtp({ port });
      await smtp.command("EHLO client.test");
      assert.equal((await smtp.command("MAIL FROM:<a@client.test>")).code, 250);
      assert.equal((await smtp.command("RCPT TO:<b@dest.test>")).code, 250);
      assert.equal((await smtp.command("DATA")).code, 354);
      smtp.write("Subject: in flight\r\n\r\nFirst half, ");

      const stopping = runCli(["stop", "-c", path]);
      await eventually("the listener to close", async () =>
        (await canConnect("127.0.0.1", port)) ? undefined : true,
      );
      const reply = await smtp.sendRaw("second half.\r\n.\r\n");
      assert.equal(reply.code, 250, `the message in flight is accepted: ${reply.raw}`);
      smtp.close();

      const stopped = await stopping;
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.match(stopped.stderr, /mailfleet: stopped/);
      assert.equal(fleet.child.exitCode ?? (await new Promise((r) => fleet.child.once("exit", r))), 0);
      const status = await runCli(["status", "-c", path]);
      assert.equal(status.code, EX_UNAVAILABLE);
      assert.match(status.stderr, /mailfleet is not running \(no control socket at .*control\.sock\)/);

      // The next hop comes up; the next start delivers everything accepted before the stop.
      const nextHop = await startSink({ port: later, dump: true });
      try {
        await start(path);
        const all = [...subjects, "in flight"];
        const arrived = await eventually(
          "every accepted message at the next hop",
          async () => {
            const messages = await nextHop.messages();
            return all.every((s) => messages.some((m) => m.content.includes(`Subject: ${s}`)))
              ? messages
              : undefined;
          },
          30_000,
        );
        const body = arrived.find((m) => m.content.includes("Subject: in flight"))?.content ?? "";
        assert.match(body, /First half, second half\./);
      } finally {
        await nextHop.destroy();
      }
    });
  });
});
