import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { FleetStatus } from "../api-types/fleet.ts";
import { controlCall } from "./control-call.ts";
import { AlreadyRunningError, controlSocketPath, pidFilePath } from "./run-dir.ts";
import { type RunningSupervisor, StartFailedError, startSupervisor } from "./supervisor.ts";
import { fakeSpawner, fastBackoff, fleetOf, instanceConfig, silentLogger } from "./testing.ts";

const dirs: string[] = [];
const running: RunningSupervisor[] = [];
after(async () => {
  for (const s of running) await s.stop();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function start(modes: Map<string, string>, names: string[]) {
  const dir = await mkdtemp(join(tmpdir(), "mf-sup-"));
  dirs.push(dir);
  const config = fleetOf(
    names.map((n) => instanceConfig(n, {}, dir)),
    dir,
  );
  const spawner = fakeSpawner(modes);
  const deps = {
    config,
    loadConfig: () => ({ ok: true as const, fleet: config }),
    spawnInstance: (name: string) => spawner.spawn(name),
    logger: silentLogger,
    backoff: fastBackoff,
    readyTimeoutMs: 5000,
  };
  return { config, deps, start: () => startSupervisor(deps) };
}

test("serves status on the control socket, refuses a second supervisor, stops on POST /v1/stop", async () => {
  const { config, start: go } = await start(new Map(), ["a", "b"]);
  const supervisor = await go();
  running.push(supervisor);
  const socketPath = controlSocketPath(config.runDir);
  assert.equal(supervisor.socketPath, socketPath);
  assert.equal(readFileSync(pidFilePath(config.runDir), "utf8"), `${process.pid}\n`);
  assert.deepEqual(
    supervisor.started.map((r) => [r.name, r.outcome.ok]),
    [
      ["a", true],
      ["b", true],
    ],
  );

  const status = await controlCall(socketPath, "GET", "/v1/status", 5000);
  assert.equal(status.kind, "answer");
  const body = status.kind === "answer" ? (status.body as FleetStatus) : null;
  assert.deepEqual(
    body?.instances.map((i) => [i.name, i.state, i.queued]),
    [
      ["a", "running", 7],
      ["b", "running", 7],
    ],
  );

  await assert.rejects(go(), (err: unknown) => {
    assert.ok(err instanceof AlreadyRunningError);
    assert.equal(err.message, `mailfleet is already running (pid ${process.pid})`);
    return true;
  });

  const unknown = await controlCall(socketPath, "POST", "/v1/instances/zz/stop", 5000);
  assert.equal(unknown.kind === "answer" && unknown.status, 404);

  const stop = await controlCall(socketPath, "POST", "/v1/stop", 5000);
  assert.deepEqual(stop.kind === "answer" && stop.body, { ok: true });
  await supervisor.stopped;
  assert.equal(existsSync(socketPath), false, "the socket is removed");
  assert.equal(existsSync(pidFilePath(config.runDir)), false, "the pid file is removed");
  assert.deepEqual(
    (await supervisor.fleet.status()).instances.map((i) => i.state),
    ["stopped", "stopped"],
  );
});

test("an instance that cannot start fails the whole start, with its exit code", async () => {
  const { config, start: go } = await start(new Map([["bad", "fail"]]), ["good", "bad"]);
  await assert.rejects(go(), (err: unknown) => {
    assert.ok(err instanceof StartFailedError);
    assert.equal(err.exitCode, 75);
    assert.match(err.message, /bad \(exit 75\)/);
    return true;
  });
  assert.equal(existsSync(controlSocketPath(config.runDir)), false);
  assert.equal(existsSync(pidFilePath(config.runDir)), false);
});
