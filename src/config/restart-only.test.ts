import assert from "node:assert/strict";
import { test } from "node:test";
import { builtinConfig } from "./load.ts";
import { keepRestartOnly, restartOnlyChanges } from "./restart-only.ts";
import type { Config } from "./types.ts";

const base: Config = builtinConfig("/srv/mf");

test("routes, transports and bounce settings apply in place", () => {
  const next: Config = {
    ...base,
    routes: [],
    transports: {},
    bounce: { ...base.bounce, from: "x@example.test" },
  };
  assert.deepEqual(restartOnlyChanges(base, next), []);
});

test("each restart-only setting is named when it changes", () => {
  const cases: [Config, string][] = [
    [{ ...base, spoolDir: "/elsewhere" }, "spoolDir"],
    [{ ...base, limits: { ...base.limits, maxRecipients: 3 } }, "limits"],
    [{ ...base, hostname: "other.test" }, "hostname"],
    [{ ...base, tenants: { ...base.tenants, header: "X-Other" } }, "tenants"],
    [{ ...base, instance: { ...base.instance, role: "input" } }, "role"],
    [{ ...base, instance: { ...base.instance, relayTo: "out" } }, "relayTo"],
    [
      { ...base, delivery: { ...base.delivery, allowPrivateDestinations: true } },
      "delivery.allowPrivateDestinations",
    ],
    [{ ...base, delivery: { ...base.delivery, threads: base.delivery.threads + 1 } }, "delivery.threads"],
    [{ ...base, tls: { certFile: "c.pem", keyFile: "k.pem" } }, "tls"],
    [{ ...base, auth: { usersFile: "users", maxFailures: 5, failureWindowMs: 60_000 } }, "auth"],
  ];
  for (const [next, name] of cases) assert.deepEqual(restartOnlyChanges(base, next), [name], name);
});

test("a new certificate path is not a restart: the listener re-reads it", () => {
  const current: Config = { ...base, tls: { certFile: "a.pem", keyFile: "a.key" } };
  assert.deepEqual(
    restartOnlyChanges(current, { ...current, tls: { certFile: "b.pem", keyFile: "b.key" } }),
    [],
  );
});

test("the kept config takes the live settings from the new file and the rest from the old", () => {
  const next: Config = {
    ...base,
    hostname: "other.test",
    listen: [],
    instance: { ...base.instance, role: "input" },
    routes: [],
    transports: {},
  };
  const kept = keepRestartOnly(base, next);
  assert.equal(kept.hostname, base.hostname);
  assert.deepEqual(kept.listen, base.listen);
  assert.equal(kept.instance.role, base.instance.role);
  assert.deepEqual(kept.routes, []);
  assert.deepEqual(kept.transports, {});
  assert.deepEqual(restartOnlyChanges(base, kept), []);
});
