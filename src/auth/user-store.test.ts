import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import pino from "pino";
import { DEFAULT_SCRYPT, hashPassword } from "./password.ts";
import { createUserStore } from "./user-store.ts";
import { writeUsersFile } from "./users-file.ts";

const FAST = { N: 1024, r: 8, p: 1 };
const logger = pino({ level: "silent" });

describe("user store", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  async function usersAt(entries: [string, string, string[]][], params = FAST): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "mf-store-"));
    dirs.push(dir);
    const path = join(dir, "users");
    await writeUsersFile(
      path,
      await Promise.all(
        entries.map(async ([name, password, allowedSenders]) => ({
          name,
          hash: await hashPassword(password, params),
          allowedSenders,
        })),
      ),
    );
    return path;
  }

  it("authenticates a known login (case-insensitive name) and refuses wrong or unknown ones alike", async () => {
    const path = await usersAt([["alice@example.com", "s3cret", ["alice@example.com"]]]);
    const store = await createUserStore({ path, logger });
    assert.deepEqual(await store.authenticate("Alice@Example.com", "s3cret"), {
      name: "alice@example.com",
      allowedSenders: ["alice@example.com"],
    });
    assert.equal(await store.authenticate("alice@example.com", "wrong"), null);
    assert.equal(await store.authenticate("nobody", "s3cret"), null);
  });

  it("re-reads the file when it is replaced, and keeps the old logins when the new file is broken", async () => {
    const path = await usersAt([["a", "pw-a", ["*"]]]);
    const store = await createUserStore({ path, logger });
    assert.ok(await store.authenticate("a", "pw-a"));
    await writeUsersFile(path, [
      { name: "b", hash: await hashPassword("pw-b", FAST), allowedSenders: ["*"] },
    ]);
    assert.equal(await store.authenticate("a", "pw-a"), null, "a was removed");
    assert.ok(await store.authenticate("b", "pw-b"));
    await writeFile(path, "garbage line\n");
    assert.ok(await store.authenticate("b", "pw-b"), "a broken file keeps the logins read before");
    await assert.rejects(store.reload(), /expected NAME:HASH:SENDERS/);
  });

  it("takes an unknown login about as long as a wrong password (same scrypt work)", async () => {
    const path = await usersAt([["alice", "pw", ["*"]]], DEFAULT_SCRYPT);
    const store = await createUserStore({ path, logger });
    const time = async (name: string) => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < 4; i++) await store.authenticate(name, "wrong");
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    await time("alice"); // warm up
    const known = await time("alice");
    const unknown = await time("nobody");
    assert.ok(unknown > known / 2 && unknown < known * 2, `unknown ${unknown} ms vs known ${known} ms`);
  });
});
