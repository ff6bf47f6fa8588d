import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import { openWarmupCounters } from "./warmup-store.ts";

describe("warm-up counters", async () => {
  const dir = await mkdtemp(join(tmpdir(), "mf-warmup-"));
  after(() => rm(dir, { recursive: true, force: true }));

  test("reservations stop exactly at the cap, even when many are asked for at once", async () => {
    const counters = openWarmupCounters(join(dir, "exact.jsonl"));
    const results = await Promise.all(
      Array.from({ length: 40 }, () =>
        Promise.resolve().then(() => counters.tryReserve("2026-11-25", "127.0.0.2", "google", 17)),
      ),
    );
    assert.equal(results.filter(Boolean).length, 17);
    assert.equal(counters.used("2026-11-25", "127.0.0.2", "google"), 17);
    // Other providers, IPs and days count apart.
    assert.equal(counters.tryReserve("2026-11-25", "127.0.0.2", "yahoo", 1), true);
    assert.equal(counters.tryReserve("2026-11-26", "127.0.0.2", "google", 17), true);
    assert.equal(counters.used("2026-11-25", "127.0.0.3", "google"), 0);
    counters.release("2026-11-25", "127.0.0.2", "google");
    assert.equal(counters.used("2026-11-25", "127.0.0.2", "google"), 16);
    assert.equal(counters.tryReserve("2026-11-25", "127.0.0.2", "google", 17), true);
    assert.equal(counters.tryReserve("2026-11-25", "127.0.0.2", "google", 17), false);
    counters.close();
  });

  test("counts survive a reopen (restart), and a torn last line is ignored", async () => {
    const path = join(dir, "reopen.jsonl");
    const first = openWarmupCounters(path);
    for (let i = 0; i < 5; i++) first.tryReserve("2026-11-25", "127.0.0.2", "google", 100);
    first.release("2026-11-25", "127.0.0.2", "google");
    first.close();
    await writeFile(path, `${await readFile(path, "utf8")}{"day":"2026-11-25","sou`);
    const second = openWarmupCounters(path);
    assert.equal(second.used("2026-11-25", "127.0.0.2", "google"), 4);
    assert.equal(second.tryReserve("2026-11-25", "127.0.0.2", "google", 5), true);
    assert.equal(second.tryReserve("2026-11-25", "127.0.0.2", "google", 5), false);
    second.close();
    // Compacted to one line per counter when opened.
    const third = openWarmupCounters(path);
    assert.equal(third.used("2026-11-25", "127.0.0.2", "google"), 5);
    third.close();
    assert.deepEqual(
      (await readFile(path, "utf8"))
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
      [{ day: "2026-11-25", source: "127.0.0.2", provider: "google", delta: 5 }],
    );
  });

  test("compaction keeps only the last days", async () => {
    const path = join(dir, "old.jsonl");
    const counters = openWarmupCounters(path);
    for (const day of ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"])
      counters.tryReserve(day, "127.0.0.2", "google", 10);
    counters.close();
    const reopened = openWarmupCounters(path);
    assert.equal(reopened.used("2026-11-20", "127.0.0.2", "google"), 0);
    assert.equal(reopened.used("2026-11-23", "127.0.0.2", "google"), 1);
    reopened.close();
  });
});
