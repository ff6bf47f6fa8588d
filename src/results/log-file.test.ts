import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { openDeliveryLogFile } from "./log-file.ts";

const read = (path: string) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
};

test("lines reach the file within the flush interval, in order, without a stop", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "mf-logfile-")), "sub", "delivery.log");
  const log = openDeliveryLogFile(path, 20);
  log.write("one\n");
  log.write("two\n");
  const deadline = Date.now() + 5000;
  while (read(path) !== "one\ntwo\n" && Date.now() < deadline) await sleep(10);
  assert.equal(read(path), "one\ntwo\n");
  log.close();
});

test("flushSync writes out what is buffered", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "mf-logfile-")), "delivery.log");
  const log = openDeliveryLogFile(path, 60_000);
  // The file is opened asynchronously; an instance runs long before its stop.
  for (let i = 0; i < 500 && !existsSync(path); i++) await sleep(10);
  await sleep(20);
  for (let i = 0; i < 100; i++) log.write(`line ${i}\n`);
  log.close();
  log.flushSync();
  const lines = read(path).trim().split("\n");
  assert.equal(lines.length, 100);
  assert.equal(lines[99], "line 99");
});
