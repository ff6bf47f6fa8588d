import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  formatUsersFile,
  normalizePattern,
  parseUsersFile,
  readUsersFile,
  senderAllowed,
  UsersFileError,
  writeUsersFile,
} from "./users-file.ts";

const HASH = "$scrypt$N=1024,r=8,p=1$c2FsdHNhbHQ=$a2V5a2V5a2V5a2V5a2V5a2V5";

describe("users file", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("round-trips entries, skipping comments and blank lines", () => {
    const text = formatUsersFile([
      { name: "alice@example.com", hash: HASH, allowedSenders: ["alice@example.com", "@example.org"] },
      { name: "app", hash: HASH, allowedSenders: ["*"] },
    ]);
    assert.match(text, /^# mailfleet users file/);
    const users = parseUsersFile(`${text}\n\n# trailing comment\n`, "users");
    assert.deepEqual(
      users.map((u) => [u.name, u.allowedSenders]),
      [
        ["alice@example.com", ["alice@example.com", "@example.org"]],
        ["app", ["*"]],
      ],
    );
  });

  it("names the line of a malformed entry", () => {
    assert.throws(
      () => parseUsersFile(`ok:${HASH}:*\nbroken\n`, "f"),
      /^UsersFileError: f:2: expected NAME:HASH:SENDERS/,
    );
    assert.throws(() => parseUsersFile("a:nothash:*\n", "f"), /f:1: expected a \$scrypt\$ password hash/);
    assert.throws(() => parseUsersFile(`a:${HASH}:not an address\n`, "f"), /f:1: bad sender pattern/);
    assert.throws(() => parseUsersFile(`a:${HASH}:*\nA:${HASH}:*\n`, "f"), /f:2: login a appears twice/);
    assert.throws(() => parseUsersFile(`a:${HASH}:*\nA:${HASH}:*\n`, "f"), UsersFileError);
  });

  it("matches senders by exact address, @domain or *", () => {
    assert.equal(senderAllowed(["alice@example.com"], "Alice@Example.com"), true);
    assert.equal(senderAllowed(["alice@example.com"], "bob@example.com"), false);
    assert.equal(senderAllowed(["@example.org"], "any@example.org"), true);
    assert.equal(senderAllowed(["@example.org"], "any@sub.example.org"), false);
    assert.equal(senderAllowed(["@example.org"], ""), false, "the null sender needs *");
    assert.equal(senderAllowed(["*"], ""), true);
    assert.equal(senderAllowed([], "a@b.example"), false);
    assert.equal(normalizePattern("@Example.ORG"), "@example.org");
    assert.equal(normalizePattern("a,b@x"), null);
  });

  it("writes atomically with mode 0600; a missing file reads as empty", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mf-users-"));
    dirs.push(dir);
    const path = join(dir, "users");
    assert.deepEqual(await readUsersFile(path), []);
    await writeFile(path, "old content that is replaced\n", { mode: 0o644 });
    await writeUsersFile(path, [{ name: "bob", hash: HASH, allowedSenders: ["bob@example.com"] }]);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.match(await readFile(path, "utf8"), /^bob:\$scrypt\$.*:bob@example\.com$/m);
    assert.equal((await readUsersFile(path))[0]?.name, "bob");
  });
});
