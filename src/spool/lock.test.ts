import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { acquireSpoolLock } from "./lock.ts";
import { silentLogger, tempDir } from "./testing.ts";
import { SpoolError } from "./types.ts";

const lockModule = new URL("./lock.ts", import.meta.url).href;

describe("spool lock", () => {
  it("refuses a second holder in the same process, naming the holder's PID", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const lock = await acquireSpoolLock({ dir, logger: silentLogger });
      assert.equal(await readFile(join(dir, "pid"), "utf8"), `${process.pid}\n`);
      await assert.rejects(acquireSpoolLock({ dir, logger: silentLogger }), (err: unknown) => {
        assert.ok(err instanceof SpoolError);
        assert.equal(err.code, "SPOOL_LOCKED");
        assert.match(err.message, new RegExp(`locked by process ${process.pid}`));
        return true;
      });
      await lock.release();
      const again = await acquireSpoolLock({ dir, logger: silentLogger });
      await again.release();
    } finally {
      await cleanup();
    }
  });

  it("takes over the lock of a process killed with SIGKILL", async () => {
    const { dir, cleanup } = await tempDir();
    const script = `
      const { acquireSpoolLock } = await import(${JSON.stringify(lockModule)});
      await acquireSpoolLock({ dir: ${JSON.stringify(dir)}, logger: { warn() {} } });
      process.stdout.write("locked\\n");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const [line] = (await Promise.race([
        once(child.stdout, "data"),
        new Promise((_, reject) => setTimeout(() => reject(new Error("child did not lock in 10 s")), 10_000)),
      ])) as [Buffer];
      assert.equal(line.toString(), "locked\n");
      await assert.rejects(acquireSpoolLock({ dir, logger: silentLogger }), { code: "SPOOL_LOCKED" });
      child.kill("SIGKILL");
      await once(child, "exit");
      assert.ok((await stat(join(dir, "lock.sock"))).isSocket(), "the dead child left its socket behind");
      const lock = await acquireSpoolLock({ dir, logger: silentLogger });
      await lock.release();
    } finally {
      child.kill("SIGKILL");
      await cleanup();
    }
  });

  it("explains when the spool path is too long for a Unix socket", async () => {
    const dir = `/tmp/${"x".repeat(120)}`;
    await assert.rejects(acquireSpoolLock({ dir, logger: silentLogger }), /Unix socket limit/);
  });
});
