import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { FleetConfig } from "../config/types.ts";
import { Fleet, FleetError, type FleetLoadResult } from "./fleet.ts";
import { fakeSpawner, fastBackoff, fleetOf, instanceConfig, silentLogger, waitFor } from "./testing.ts";

describe("Fleet", () => {
  const fleets: Fleet[] = [];
  after(async () => {
    await Promise.all(fleets.map((f) => f.stop()));
  });

  function fleet(config: FleetConfig, modes = new Map<string, string>()) {
    let next: FleetLoadResult = { ok: true, fleet: config };
    const spawner = fakeSpawner(modes);
    const f = new Fleet({
      config,
      loadConfig: () => next,
      spawnInstance: (name) => spawner.spawn(name),
      logger: silentLogger,
      backoff: fastBackoff,
      readyTimeoutMs: 5000,
      statsTimeoutMs: 1000,
    });
    fleets.push(f);
    return {
      fleet: f,
      spawner,
      modes,
      setNext(result: FleetLoadResult) {
        next = result;
      },
    };
  }

  const stateOf = async (f: Fleet) =>
    Object.fromEntries((await f.status()).instances.map((i) => [i.name, i.state]));

  test("starts the enabled instances; status lists all of them in file order", async () => {
    const { fleet: f } = fleet(fleetOf([instanceConfig("a"), instanceConfig("off", { enabled: false })]));
    const reports = await f.startAll();
    assert.deepEqual(
      reports.map((r) => [r.name, r.outcome.ok]),
      [["a", true]],
    );
    const status = await f.status();
    assert.equal(status.pid, process.pid);
    assert.equal(status.configSource, "/srv/mf/mailfleet.yaml");
    assert.deepEqual(await stateOf(f), { a: "running", off: "disabled" });
    assert.equal(status.instances[0]?.queued, 7);
    await f.stop();
    assert.deepEqual(await stateOf(f), { a: "stopped", off: "disabled" });
  });

  test("one instance crashing leaves the others alone", async () => {
    const modes = new Map([["crashy", "crash:150"]]);
    const { fleet: f } = fleet(fleetOf([instanceConfig("steady"), instanceConfig("crashy")]), modes);
    await f.startAll();
    const steadyPid = (await f.status()).instances[0]?.pid;
    for (let i = 0; i < 100; i++) {
      const crashy = (await f.status()).instances[1];
      if ((crashy?.restarts ?? 0) >= 1) break;
      await new Promise((r) => setTimeout(r, 30));
    }
    const status = await f.status();
    assert.ok((status.instances[1]?.restarts ?? 0) >= 1, "the crashing instance was restarted");
    assert.equal(status.instances[0]?.pid, steadyPid);
    assert.equal(status.instances[0]?.state, "running");
    assert.equal(status.instances[0]?.restarts, 0);
  });

  test("reload applies the plan: stop, start, restart, reload", async () => {
    const {
      fleet: f,
      spawner,
      setNext,
    } = fleet(fleetOf([instanceConfig("keep"), instanceConfig("moved"), instanceConfig("gone")]));
    await f.startAll();
    const before = Object.fromEntries((await f.status()).instances.map((i) => [i.name, i.pid]));
    const moved = instanceConfig("moved");
    setNext({
      ok: true,
      fleet: fleetOf([
        instanceConfig("keep"),
        { ...moved, listen: [{ host: "127.0.0.1", port: 2999 }] },
        instanceConfig("new"),
      ]),
    });
    const result = await f.reload();
    assert.deepEqual(result, {
      ok: true,
      errors: [],
      started: ["new"],
      stopped: ["gone"],
      restarted: ["moved"],
      reloaded: ["keep"],
    });
    const after = await f.status();
    assert.deepEqual(
      after.instances.map((i) => [i.name, i.state]),
      [
        ["keep", "running"],
        ["moved", "running"],
        ["new", "running"],
      ],
    );
    const pid = (name: string) => after.instances.find((i) => i.name === name)?.pid;
    assert.equal(pid("keep"), before.keep, "reloaded in place");
    assert.notEqual(pid("moved"), before.moved, "restarted as a new process");
    await waitFor("the reload message", () =>
      (spawner.received.get("keep") ?? []).some((m) => (m as { type: string }).type === "reload"),
    );
    assert.equal(
      after.instances.find((i) => i.name === "moved")?.restarts,
      0,
      "a planned restart is no crash",
    );
  });

  test("a refused config changes nothing and returns its errors", async () => {
    const { fleet: f, setNext } = fleet(fleetOf([instanceConfig("a")]));
    await f.startAll();
    const pid = (await f.status()).instances[0]?.pid;
    setNext({ ok: false, errors: ["mailfleet.yaml:2:3: listen: found 1, expected a list"] });
    const result = await f.reload();
    assert.equal(result.ok, false);
    assert.deepEqual(result.errors, ["mailfleet.yaml:2:3: listen: found 1, expected a list"]);
    assert.deepEqual([result.started, result.stopped, result.restarted, result.reloaded], [[], [], [], []]);
    assert.equal((await f.status()).instances[0]?.pid, pid);
  });

  test("instance stop keeps it stopped, across reloads, until instance start", async () => {
    const config = fleetOf([instanceConfig("a"), instanceConfig("b")]);
    const { fleet: f } = fleet(config);
    await f.startAll();
    const stopped = await f.stopInstance("a");
    assert.equal(stopped.instance.state, "stopped");
    const reload = await f.reload();
    assert.deepEqual(reload.reloaded, ["b"], "the stopped instance is left alone");
    assert.deepEqual(await stateOf(f), { a: "stopped", b: "running" });
    const started = await f.startInstance("a");
    assert.equal(started.ok, true);
    assert.equal(started.instance.state, "running");
    await assert.rejects(
      f.startInstance("zzz"),
      (err: unknown) => err instanceof FleetError && err.code === "UNKNOWN_INSTANCE",
    );
  });

  test("a disabled instance cannot be started by hand; nothing starts once the fleet stops", async () => {
    const { fleet: f } = fleet(fleetOf([instanceConfig("a"), instanceConfig("off", { enabled: false })]));
    await f.startAll();
    await assert.rejects(
      f.startInstance("off"),
      (err: unknown) => err instanceof FleetError && err.code === "INSTANCE_DISABLED",
    );
    await f.stop();
    await assert.rejects(
      f.startInstance("a"),
      (err: unknown) => err instanceof FleetError && err.code === "FLEET_STOPPING",
    );
    await assert.rejects(
      f.reload(),
      (err: unknown) => err instanceof FleetError && err.code === "FLEET_STOPPING",
    );
  });
});
