/**
 * Scenario: a source address that is not assigned on this host refuses the start (and
 * `mailfleet check`), naming the address and how to add it, where Postfix would fail silently.
 * 192.0.2.77 (TEST-NET-1) is never assigned here and never contacted: the check reads interfaces.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { runCli, writeConfig } from "../support/mailfleet-process.ts";
import { freePort } from "../support/ports.ts";

describe("source addresses", () => {
  let dir = "";
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("refuses to start with an unassigned source address, and says how to add it", async () => {
    dir = await mkdtemp(join(tmpdir(), "mailfleet-sources-"));
    const config = await writeConfig(
      dir,
      `spool_dir: ${join(dir, "spool")}
listen: ["127.0.0.1:${await freePort()}"]
admin: { listen: null }
sources:
  good: { address: 127.0.0.2 }
  missing: { address: 192.0.2.77 }
pools:
  shared: { strategy: round_robin, sources: [good, missing] }
transports:
  mx: { pool: shared }
`,
    );
    for (const command of ["start", "check"]) {
      const result = await runCli([command, "-c", config]);
      assert.equal(result.code, 78, `${command}: ${result.stderr}`);
      assert.match(result.stderr, /192\.0\.2\.77/);
      assert.match(result.stderr, /ip addr add 192\.0\.2\.77\/32/);
      assert.doesNotMatch(result.stderr, /127\.0\.0\.2\b.*not/);
    }
  });
});
