import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { InstanceProcess } from "./child-process.ts";
import { fakeSpawner, fastBackoff, instanceConfig, silentLogger, waitFor } from "./testing.ts";

describe("InstanceProcess", () => {
  const modes = new Map<string, string>();
  const spawner = fakeSpawner(modes);
  const all: InstanceProcess[] = [];
  after(async () => {
    await Promise.all(all.map((p) => p.stop()));
  });

  function instance(name: string, mode: string, stopDeadlineMs = 10_000, enabled = true): InstanceProcess {
    modes.set(name, mode);
    const p = new InstanceProcess({
      name,
      config: instanceConfig(name, { enabled }),
      spawn: () => spawner.spawn(name),
      logger: silentLogger,
      backoff: fastBackoff,
      stopDeadlineMs,
    });
    all.push(p);
    return p;
  }

  test("starts, reports listeners and queue size, stops gracefully and stays stopped", async () => {
    const p = instance("a", "ok");
    assert.equal(p.state, "stopped");
    const outcome = await p.start(5000);
    assert.equal(outcome.ok, true);
    const status = p.status(await p.queued(2000));
    assert.equal(status.state, "running");
    assert.equal(status.pid, p.pid);
    assert.deepEqual(status.listeners, [`127.0.0.1:${p.pid}`]);
    assert.equal(status.queued, 7);
    assert.equal(typeof status.uptimeSeconds, "number");
    assert.equal(p.reload(), true);
    await p.stop();
    assert.equal(p.state, "stopped");
    assert.equal(p.pid, null);
    assert.equal(p.status().lastExit, "exit 0");
    assert.deepEqual(
      spawner.received.get("a")?.map((m) => (m as { type: string }).type),
      ["stats", "reload", "stop"],
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(p.state, "stopped", "a stop asked for is not restarted");
    assert.equal(p.status().restarts, 0);
    assert.equal(await p.queued(100), null, "no process, no queue size");
  });

  test("a crashed process is restarted with backoff and counted", async () => {
    const p = instance("b", "crash:100");
    const first = await p.start(5000);
    assert.ok(first.ok);
    await waitFor("two restarts", () => p.status().restarts >= 2);
    assert.equal(p.status().lastExit, "exit 1");
    assert.notEqual(p.pid, first.pid);
    modes.set("b", "ok");
    const crashes = p.status().restarts;
    await waitFor("a healthy restart", () => p.state === "running" && p.status().restarts > crashes);
    const healthy = p.pid;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(p.pid, healthy, "the healthy process keeps running");
    await p.stop();
    assert.equal(p.state, "stopped");
  });

  test("kill -9 of the process: restarted with a new pid", async () => {
    const p = instance("c", "ok");
    const first = await p.start(5000);
    assert.ok(first.ok);
    process.kill(first.pid, "SIGKILL");
    await waitFor("the restart", () => p.state === "running" && p.pid !== first.pid);
    const status = p.status();
    assert.equal(status.restarts, 1);
    assert.equal(status.lastExit, "signal SIGKILL");
    await p.stop();
  });

  test("a process that exits before it listens: the start says so, then backoff", async () => {
    const p = instance("d", "fail");
    const outcome = await p.start(5000);
    assert.deepEqual(outcome, { ok: false, exit: "exit 75", code: 75 });
    assert.equal(p.state, "backoff");
    await p.stop();
    assert.equal(p.state, "stopped");
  });

  test("a process that ignores the stop is killed after the deadline", async () => {
    const p = instance("e", "stubborn", 300);
    assert.ok((await p.start(5000)).ok);
    const began = Date.now();
    await p.stop();
    assert.ok(Date.now() - began >= 250, "waited for the deadline");
    assert.equal(p.status().lastExit, "signal SIGKILL");
    assert.equal(p.state, "stopped");
  });

  test("an instance disabled in the config shows as disabled", () => {
    const p = instance("f", "ok", 1000, false);
    assert.equal(p.state, "disabled");
    assert.equal(p.status().enabled, false);
  });
});
