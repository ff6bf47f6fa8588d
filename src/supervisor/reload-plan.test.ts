import assert from "node:assert/strict";
import { test } from "node:test";
import { planReload } from "./reload-plan.ts";
import { fleetOf, instanceConfig } from "./testing.ts";

test("removed and disabled instances stop; new and enabled ones start; the rest reload", () => {
  const current = fleetOf([
    instanceConfig("keep"),
    instanceConfig("gone"),
    instanceConfig("off"),
    instanceConfig("back", { enabled: false }),
  ]);
  const next = fleetOf([
    instanceConfig("keep"),
    instanceConfig("off", { enabled: false }),
    instanceConfig("back"),
    instanceConfig("new"),
    instanceConfig("spare", { enabled: false }),
  ]);
  assert.deepEqual(planReload(current, next), {
    stop: ["gone", "off"],
    start: ["back", "new"],
    restart: [],
    reload: ["keep"],
  });
});

test("a changed listener, spool, role or relay target needs a new process; routes do not", () => {
  const [a, b, c] = [instanceConfig("a"), instanceConfig("b"), instanceConfig("c")];
  const plan = planReload(
    fleetOf([a, b, c]),
    fleetOf([
      { ...a, listen: [{ host: "127.0.0.1", port: 2600 }] },
      { ...b, routes: [], transports: {}, bounce: { ...b.bounce, from: "x@example.test" } },
      { ...c, instance: { ...c.instance, role: "input", relayTo: "a" } },
    ]),
  );
  assert.deepEqual(plan.restart, [
    { name: "a", changed: ["listen"] },
    { name: "c", changed: ["role", "relayTo"] },
  ]);
  assert.deepEqual(plan.reload, ["b"]);
});

test("a changed tenant map or policy restarts the instance, whose listener holds them", () => {
  const a = instanceConfig("a");
  const plan = planReload(fleetOf([a]), fleetOf([{ ...a, tenants: { ...a.tenants, header: "X-Other" } }]));
  assert.deepEqual(plan.restart, [{ name: "a", changed: ["tenants"] }]);
});

test("a changed shared log restarts every running instance", () => {
  const current = fleetOf([instanceConfig("a"), instanceConfig("b")]);
  const next = { ...current, log: { ...current.log, file: "/var/log/other.log" } };
  assert.deepEqual(
    planReload(current, next).restart.map((r) => r.name),
    ["a", "b"],
  );
});
