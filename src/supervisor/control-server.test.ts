import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { FleetStatus, InstanceActionResult, InstanceStatus, ReloadResult } from "../api-types/fleet.ts";
import { controlCall } from "./control-call.ts";
import { ControlError, type ControlServer, startControlServer } from "./control-server.ts";
import { silentLogger } from "./testing.ts";

const instance: InstanceStatus = {
  name: "out",
  role: "output",
  enabled: true,
  state: "running",
  pid: 123,
  startedAt: null,
  uptimeSeconds: 5,
  restarts: 0,
  lastExit: null,
  listeners: ["127.0.0.1:2525"],
  queued: 0,
  spoolDir: "/spool",
};

describe("control server", () => {
  let dir = "";
  let server: ControlServer;
  let socketPath = "";
  const calls: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mf-ctl-"));
    socketPath = join(dir, "control.sock");
    server = await startControlServer({
      socketPath,
      logger: silentLogger,
      handlers: {
        status: async (): Promise<FleetStatus> => ({
          pid: 1,
          startedAt: "2024-01-01T00:00:00.000Z",
          configSource: "/etc/mailfleet.yaml",
          instances: [instance],
        }),
        reload: async (): Promise<ReloadResult> => ({
          ok: false,
          errors: ["mailfleet.yaml:3:1: nope"],
          started: [],
          stopped: [],
          restarted: [],
          reloaded: [],
        }),
        stop: () => {
          calls.push("stop");
        },
        startInstance: async (name): Promise<InstanceActionResult> => {
          if (name !== "out") throw new ControlError(404, `no instance named "${name}"`);
          calls.push(`start ${name}`);
          return { ok: true, instance };
        },
        stopInstance: async (name): Promise<InstanceActionResult> => {
          if (name === "boom") throw new Error("kaput");
          calls.push(`stop ${name}`);
          return { ok: true, instance: { ...instance, state: "stopped", pid: null } };
        },
      },
    });
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("the socket is readable and writable by its owner only", () => {
    assert.equal(statSync(socketPath).mode & 0o777, 0o600);
  });

  test("GET /v1/status answers the fleet status", async () => {
    const answer = await controlCall(socketPath, "GET", "/v1/status", 2000);
    assert.equal(answer.kind, "answer");
    if (answer.kind !== "answer") return;
    assert.equal(answer.status, 200);
    assert.deepEqual((answer.body as FleetStatus).instances, [instance]);
  });

  test("instance actions route by name; a ControlError keeps its status", async () => {
    const started = await controlCall(socketPath, "POST", "/v1/instances/out/start", 2000);
    assert.deepEqual(started.kind === "answer" && started.status, 200);
    const stopped = await controlCall(socketPath, "POST", "/v1/instances/out/stop", 2000);
    assert.equal(
      stopped.kind === "answer" && (stopped.body as InstanceActionResult).instance.state,
      "stopped",
    );
    const unknown = await controlCall(socketPath, "POST", "/v1/instances/nope/start", 2000);
    assert.deepEqual(unknown.kind === "answer" && [unknown.status, unknown.body], [
      404,
      { error: 'no instance named "nope"' },
    ]);
    const failing = await controlCall(socketPath, "POST", "/v1/instances/boom/stop", 2000);
    assert.equal(failing.kind === "answer" && failing.status, 500);
    assert.deepEqual(calls.slice(0, 2), ["start out", "stop out"]);
  });

  test("reload answers its result; unknown routes and methods are 404", async () => {
    const reload = await controlCall(socketPath, "POST", "/v1/reload", 2000);
    assert.equal(
      reload.kind === "answer" && (reload.body as ReloadResult).errors[0],
      "mailfleet.yaml:3:1: nope",
    );
    const wrongMethod = await controlCall(socketPath, "GET", "/v1/reload", 2000);
    assert.equal(wrongMethod.kind === "answer" && wrongMethod.status, 404);
    const other = await controlCall(socketPath, "GET", "/v2/whatever", 2000);
    assert.equal(other.kind === "answer" && other.status, 404);
  });

  test("stop answers first, then stops", async () => {
    const answer = await controlCall(socketPath, "POST", "/v1/stop", 2000);
    assert.deepEqual(answer.kind === "answer" && answer.body, { ok: true });
    for (let i = 0; i < 50 && !calls.includes("stop"); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(calls.includes("stop"));
  });

  test("closing removes the socket; a client then finds nobody", async () => {
    const path = join(dir, "other.sock");
    const other = await startControlServer({
      socketPath: path,
      logger: silentLogger,
      handlers: {
        status: () => Promise.reject(new Error("unused")),
        reload: () => Promise.reject(new Error("unused")),
        stop: () => {},
        startInstance: () => Promise.reject(new Error("unused")),
        stopInstance: () => Promise.reject(new Error("unused")),
      },
    });
    await other.close();
    assert.equal(existsSync(path), false);
    assert.deepEqual(await controlCall(path, "GET", "/v1/status", 2000), { kind: "absent", code: "ENOENT" });
  });
});
