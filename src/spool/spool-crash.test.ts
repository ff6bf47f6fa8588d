/**
 * The durability promise under a real crash: a child process stores and finishes messages in a
 * loop and is SIGKILLed at a random moment; everything it saw acknowledged must be recovered intact,
 * and nothing it saw finished may come back.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { it } from "node:test";
import { fileURLToPath } from "node:url";
import { createSpool } from "./spool.ts";
import { bodyIsIntact, silentLogger, tempDir } from "./testing.ts";

const childScript = fileURLToPath(new URL("./crash-child.ts", import.meta.url));
const ROUNDS = 5;

type Seen = "stored" | "finishing" | "partial" | "done";

/** Runs the child until `killAfterMs` after it is ready (bounded), SIGKILLs it, returns its lines. */
async function runAndKill(dir: string, killAfterMs: number): Promise<string[]> {
  const child = spawn(process.execPath, [childScript, dir], { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    output += chunk;
  });
  const exited = once(child, "close"); // after stdout is fully read
  try {
    const started = Date.now();
    while (!output.includes("ready\n") && Date.now() - started < 10_000 && child.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(output.includes("ready\n"), "crash child did not start");
    await new Promise((resolve) => setTimeout(resolve, killAfterMs));
  } finally {
    child.kill("SIGKILL");
    await exited;
  }
  // Only complete lines were acknowledged.
  return output.split("\n").slice(0, -1);
}

it("loses no acknowledged message and resurrects no finished one across SIGKILLs", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const seen = new Map<string, Seen>();
    let totalStored = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const lines = await runAndKill(dir, 100 + Math.floor(Math.random() * 1400));
      for (const line of lines) {
        const [kind, id] = line.split(" ");
        if (id === undefined) continue;
        if (kind === "S") {
          seen.set(id, "stored");
          totalStored++;
        } else if (kind === "F") seen.set(id, "finishing");
        else if (kind === "P") seen.set(id, "partial");
        else if (kind === "D") seen.set(id, "done");
      }

      const spool = createSpool({ dir, logger: silentLogger, compactIntervalMs: 0 });
      const report = await spool.open();
      try {
        assert.deepEqual(report.quarantined, [], "a crash leaves only torn tails, never mid-log damage");
        const recovered = new Map(report.messages.map((m) => [m.id, m]));
        for (const [id, state] of seen) {
          const message = recovered.get(id);
          if (state === "done") {
            assert.equal(message, undefined, `finished message ${id} came back`);
            continue;
          }
          if (state === "finishing" && message === undefined) continue;
          assert.ok(message !== undefined, `acknowledged message ${id} was lost (round ${round})`);
          if (state === "partial") assert.equal(message.recipients[0]?.state, "delivered");
          assert.ok(bodyIsIntact(await spool.readBody(id)), `body of ${id} is damaged`);
        }
      } finally {
        await spool.close();
      }
    }
    assert.ok(totalStored > 0, "the child acknowledged at least one message");
  } finally {
    await cleanup();
  }
});
