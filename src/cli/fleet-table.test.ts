import assert from "node:assert/strict";
import { test } from "node:test";
import type { InstanceStatus } from "../api-types/fleet.ts";
import { formatFleetTable, formatUptime } from "./fleet-table.ts";

function instance(over: Partial<InstanceStatus>): InstanceStatus {
  return {
    name: "output",
    role: "output",
    enabled: true,
    state: "running",
    pid: 4242,
    startedAt: "2024-01-01T00:00:00.000Z",
    uptimeSeconds: 125,
    restarts: 0,
    lastExit: null,
    listeners: ["127.0.0.1:10025"],
    queued: 3,
    spoolDir: "/var/spool/output",
    ...over,
  };
}

test("one aligned row per instance; absent values are dashes", () => {
  const table = formatFleetTable([
    instance({}),
    instance({
      name: "input",
      role: "input",
      state: "backoff",
      pid: null,
      uptimeSeconds: null,
      listeners: [],
      queued: null,
      restarts: 2,
      lastExit: "signal SIGKILL",
    }),
  ]);
  assert.equal(
    table,
    [
      "NAME    ROLE    STATE    PID   UPTIME  LISTENERS        QUEUED  RESTARTS",
      "output  output  running  4242  2m05s   127.0.0.1:10025  3       0",
      "input   input   backoff  -     -       -                -       2 (last: signal SIGKILL)",
    ].join("\n"),
  );
});

test("uptime is short and readable at every scale", () => {
  assert.equal(formatUptime(0), "0s");
  assert.equal(formatUptime(59), "59s");
  assert.equal(formatUptime(60), "1m00s");
  assert.equal(formatUptime(3599), "59m59s");
  assert.equal(formatUptime(3600 * 2 + 7 * 60), "2h07m");
  assert.equal(formatUptime(86_400 * 3 + 3600 * 4), "3d04h");
});
