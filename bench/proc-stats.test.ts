import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { processTree, statusBytes, treeCpuSeconds } from "./proc-stats.ts";

// A shell that runs a CPU-burning child to completion, then waits: the child's time can only be
// found in the shell's cutime/cstime, which is what makes Postfix's short-lived daemons count.
const BURN = "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done";

test("treeCpuSeconds counts a child that already exited (reaped into its parent)", async () => {
  const shell = spawn("sh", ["-c", `sh -c '${BURN}'; echo done; sleep 30`], {
    stdio: ["ignore", "pipe", "ignore"],
    detached: true,
  });
  try {
    const before = treeCpuSeconds([shell.pid!]);
    await new Promise<void>((resolve) => shell.stdout!.once("data", () => resolve()));
    const after = treeCpuSeconds([shell.pid!]);
    assert.ok(after - before >= 0.05, `expected the burnt CPU to be counted, got ${after - before} s`);
  } finally {
    process.kill(-shell.pid!, "SIGKILL"); // the whole group: no orphaned sleep keeps a pipe open
  }
});

test("processTree finds descendants, and statusBytes reads VmHWM of a live process", async () => {
  const shell = spawn("sh", ["-c", "sleep 30 & wait"], { stdio: "ignore", detached: true });
  try {
    let tree: number[] = [];
    for (let i = 0; i < 50 && tree.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      tree = processTree([shell.pid!]);
    }
    assert.ok(tree.includes(shell.pid!));
    assert.equal(tree.length, 2);
    assert.ok(statusBytes(process.pid, "VmHWM") > 0);
    assert.equal(statusBytes(2 ** 22 + 7, "VmHWM"), 0);
  } finally {
    process.kill(-shell.pid!, "SIGKILL"); // the whole group: no orphaned sleep keeps a pipe open
  }
});
