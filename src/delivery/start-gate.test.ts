import assert from "node:assert/strict";
import { test } from "node:test";
import { StartGate } from "./start-gate.ts";

test("starts keep the gap from the previous real start, first come first served", async () => {
  const gate = new StartGate(() => performance.now());
  const starts: [number, number][] = [];
  await Promise.all(
    [0, 1, 2, 3].map(async (n) => {
      await gate.waitTurn(() => 40);
      starts.push([n, performance.now()]);
    }),
  );
  assert.deepEqual(
    starts.map(([n]) => n),
    [0, 1, 2, 3],
  );
  for (let i = 1; i < starts.length; i++) {
    const gap = (starts[i]?.[1] ?? 0) - (starts[i - 1]?.[1] ?? 0);
    // The recorded start precedes the caller's own timestamp; only a short gap is a failure.
    assert.ok(gap >= 39, `start ${i} came ${gap.toFixed(1)} ms after the one before`);
  }
});

test("no gap configured: no wait and no start recorded", async () => {
  const gate = new StartGate(() => performance.now());
  await gate.waitTurn(() => 0);
  assert.equal(gate.lastStartAt, Number.NEGATIVE_INFINITY);
  assert.equal(gate.gapKept(1000), true);
});

test("gapKept is false until the gap has passed on the gate's clock", async () => {
  let now = 1000;
  const gate = new StartGate(() => now);
  await gate.waitTurn(() => 50);
  assert.equal(gate.lastStartAt, 1000);
  assert.equal(gate.gapKept(50), false);
  now = 1049;
  assert.equal(gate.gapKept(50), false);
  now = 1050;
  assert.equal(gate.gapKept(50), true);
});

test("a timer that fires early by the clock's reckoning is waited out", async () => {
  // A clock at half the speed of the timers: each timer fires when the clock has moved only half
  // the wait, as a busy loop's cached time can make it seem. The gate must look again.
  const origin = performance.now();
  const gate = new StartGate(() => (performance.now() - origin) / 2);
  await gate.waitTurn(() => 30);
  const first = gate.lastStartAt;
  await gate.waitTurn(() => 30);
  assert.ok(gate.lastStartAt - first >= 30, `second start ${gate.lastStartAt - first} after the first`);
});

test("a gap that grows while waiting applies at once", async () => {
  const gate = new StartGate(() => performance.now());
  let gap = 20;
  await gate.waitTurn(() => gap);
  const first = gate.lastStartAt;
  setTimeout(() => {
    gap = 80;
  }, 5);
  await gate.waitTurn(() => gap);
  assert.ok(
    gate.lastStartAt - first >= 80,
    `second start ${(gate.lastStartAt - first).toFixed(1)} ms after the first`,
  );
});
