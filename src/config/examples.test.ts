import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { parseConfig } from "./load.ts";

const examples = resolve(import.meta.dirname, "../../docs/examples");

for (const file of readdirSync(examples).filter((f) => f.endsWith(".yaml"))) {
  test(`docs/examples/${file} is a valid config`, () => {
    const result = parseConfig(readFileSync(join(examples, file), "utf8"), file, examples);
    assert.equal(result.ok, true, result.ok ? "" : JSON.stringify(result.errors, null, 2));
  });
}

test("the README's worked example is docs/examples/multi-ip.yaml", () => {
  const readme = readFileSync(resolve(examples, "../../README.md"), "utf8");
  const example = readFileSync(join(examples, "multi-ip.yaml"), "utf8").split("\n").slice(1).join("\n");
  assert.ok(readme.includes(example), "README block and docs/examples/multi-ip.yaml differ");
});
