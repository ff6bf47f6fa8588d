import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatHash, hashPassword, parseHash, verifyPassword } from "./password.ts";

const FAST = { N: 1024, r: 8, p: 1 };

describe("scrypt password hashes", () => {
  it("verifies the right password and refuses a wrong one", async () => {
    const hash = parseHash(await hashPassword("correct horse", FAST));
    assert.ok(hash);
    assert.equal(await verifyPassword("correct horse", hash), true);
    assert.equal(await verifyPassword("correct horsf", hash), false);
    assert.equal(await verifyPassword("", hash), false);
  });

  it("uses a fresh salt each time and keeps its parameters in the text", async () => {
    const a = await hashPassword("same", FAST);
    const b = await hashPassword("same", FAST);
    assert.notEqual(a, b);
    assert.match(a, /^\$scrypt\$N=1024,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    const parsed = parseHash(a);
    assert.ok(parsed);
    assert.equal(formatHash(parsed), a);
  });

  it("defaults to N=16384, r=8, p=1", async () => {
    assert.match(await hashPassword("x"), /^\$scrypt\$N=16384,r=8,p=1\$/);
  });

  it("refuses malformed or absurd hashes", () => {
    assert.equal(parseHash("plain"), null);
    assert.equal(
      parseHash("$scrypt$N=1000,r=8,p=1$c2FsdHNhbHQ=$a2V5a2V5a2V5a2V5a2V5a2V5"),
      null,
      "N not a power of 2",
    );
    assert.equal(
      parseHash("$scrypt$N=4194304,r=8,p=1$c2FsdHNhbHQ=$a2V5a2V5a2V5a2V5a2V5a2V5"),
      null,
      "N too big",
    );
    assert.ok(parseHash("$scrypt$N=1024,r=8,p=1$c2FsdHNhbHQ=$a2V5a2V5a2V5a2V5a2V5a2V5"));
  });

  it("treats the NFC and NFD forms of a password alike", async () => {
    const hash = parseHash(await hashPassword("caf\u00e9", FAST))!;
    assert.equal(await verifyPassword("cafe\u0301", hash), true);
  });
});
