import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createLogger } from "./logger.ts";

/** The destination writes asynchronously: wait (bounded) until the file holds `count` lines. */
async function linesWhenWritten(file: string, count: number): Promise<string[]> {
  let lines: string[] = [];
  for (let attempt = 0; attempt < 200 && lines.length < count; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    lines = existsSync(file)
      ? readFileSync(file, "utf8")
          .split("\n")
          .filter((line) => line !== "")
      : [];
  }
  return lines;
}

describe("createLogger", () => {
  const dir = mkdtempSync(join(tmpdir(), "mailfleet-logger-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("writes JSON lines to a file, creating its directory, and honours the level", async () => {
    const file = join(dir, "nested", "deeper", "mailfleet.log");
    const logger = createLogger({ level: "info", file });
    logger.debug("hidden");
    logger.info({ instance: "output" }, "started");
    logger.warn("low disk");
    const lines = await linesWhenWritten(file, 2);
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      records.map((r) => [r.level, r.msg]),
      [
        [30, "started"],
        [40, "low disk"],
      ],
    );
    assert.equal(records[0]!.instance, "output");
    assert.match(String(records[0]!.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('writes to stdout for "-"', () => {
    const script = `
      import { createLogger } from ${JSON.stringify(new URL("./logger.ts", import.meta.url).href)};
      const logger = createLogger({ level: "debug", file: "-" });
      logger.debug("to stdout");
    `;
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 20_000,
    });
    assert.equal(child.status, 0, child.stderr);
    const record = JSON.parse(child.stdout.trim()) as Record<string, unknown>;
    assert.equal(record.msg, "to stdout");
    assert.equal(record.level, 20);
  });
});
