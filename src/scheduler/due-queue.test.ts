import assert from "node:assert/strict";
import { test } from "node:test";
import { DueQueue } from "./due-queue.ts";

test("takeDue returns only due ids, earliest first", () => {
  const q = new DueQueue();
  q.schedule("c", 30);
  q.schedule("a", 10);
  q.schedule("b", 20);
  assert.deepEqual(q.takeDue(20, 10), ["a", "b"]);
  assert.equal(q.nextDueAt(), 30);
  assert.equal(q.size, 1);
});

test("rescheduling and removal make old heap entries stale", () => {
  const q = new DueQueue();
  q.schedule("a", 10);
  q.schedule("b", 15);
  q.schedule("a", 50);
  q.remove("b");
  assert.deepEqual(q.takeDue(20, 10), []);
  assert.equal(q.nextDueAt(), 50);
  assert.deepEqual(q.takeDue(60, 10), ["a"]);
  assert.equal(q.size, 0);
  assert.equal(q.nextDueAt(), null);
});

test("limit bounds one take, and a large random load comes out sorted", () => {
  const q = new DueQueue();
  const times: number[] = [];
  for (let i = 0; i < 5000; i++) {
    const t = Math.floor(Math.random() * 100000);
    times.push(t);
    q.schedule(`m${i}`, t);
  }
  assert.equal(q.takeDue(Number.MAX_SAFE_INTEGER, 3).length, 3);
  const rest = q.takeDue(Number.MAX_SAFE_INTEGER, 10000);
  assert.equal(rest.length, 4997);
  const due = rest.map((id) => times[Number(id.slice(1))]!);
  for (let i = 1; i < due.length; i++) assert.ok(due[i - 1]! <= due[i]!);
});

test("an id scheduled again, even at the same time, or removed and scheduled again, comes out once", () => {
  const q = new DueQueue();
  q.schedule("a", 10);
  q.schedule("a", 10);
  q.schedule("b", 5);
  q.remove("b");
  q.schedule("b", 7);
  assert.equal(q.size, 2);
  assert.deepEqual(q.takeDue(100, 10), ["b", "a"]);
  assert.equal(q.size, 0);
  assert.equal(q.nextDueAt(), null);
});
