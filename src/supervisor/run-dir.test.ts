import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { AlreadyRunningError, claimRunDir, controlSocketPath } from "./run-dir.ts";
import { silentLogger } from "./testing.ts";

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "mf-run-"));
  dirs.push(dir);
  return dir;
}

test("creates the run directory with mode 0700", async () => {
  const runDir = join(await tempDir(), "var", "run");
  await claimRunDir(runDir, silentLogger);
  assert.equal(statSync(runDir).mode & 0o777, 0o700);
});

test("removes a stale socket nobody listens on (a supervisor killed with -9)", async () => {
  const runDir = await tempDir();
  const socketPath = controlSocketPath(runDir);
  // A process that listens on the socket and dies by SIGKILL leaves the file behind.
  const child = spawn(
    process.execPath,
    ["-e", "require('node:net').createServer().listen(process.argv[1], () => console.log('up'))", socketPath],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await once(child.stdout, "data");
  child.kill("SIGKILL");
  await once(child, "exit");
  assert.ok(existsSync(socketPath));
  await claimRunDir(runDir, silentLogger);
  assert.equal(existsSync(socketPath), false);
});

test("refuses when a supervisor answers on the socket, naming its pid", async () => {
  const runDir = await tempDir();
  const server = createHttpServer((_req, res) => res.end(JSON.stringify({ pid: 4711 })));
  await new Promise<void>((resolve) => server.listen(controlSocketPath(runDir), resolve));
  try {
    await assert.rejects(claimRunDir(runDir, silentLogger), (err: unknown) => {
      assert.ok(err instanceof AlreadyRunningError);
      assert.equal(err.message, "mailfleet is already running (pid 4711)");
      return true;
    });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test("refuses a run_dir whose socket path is too long for a Unix socket", async () => {
  const runDir = join(await tempDir(), "x".repeat(120));
  await assert.rejects(claimRunDir(runDir, silentLogger), /over the 107-byte Unix socket limit/);
});
