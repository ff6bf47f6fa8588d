/**
 * Scenario: `mailfleet check` as an operator meets it. Mistakes come back as one line each with
 * file:line:col, the key, what was found and what was expected, and exit code 78 (EX_CONFIG);
 * with no file at all, the built-in default is used and said so.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli } from "../support/mailfleet-process.ts";

const EX_CONFIG = 78;

describe("config check", () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mailfleet-e2e-config-"));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function fileWith(name: string, yaml: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, yaml);
    return path;
  }

  it("accepts a valid file", { timeout: 30_000 }, async () => {
    const path = await fileWith(
      "good.yaml",
      ["hostname: mailfleet.test", "listen: ['127.0.0.1:2626']", "limits:", "  max_recipients: 10", ""].join(
        "\n",
      ),
    );
    const result = await runCli(["check", "-c", path]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /good\.yaml/);
    assert.match(result.stdout, /127\.0\.0\.1:2626/);
  });

  it("rejects an unknown key with file:line:col and a suggestion", { timeout: 30_000 }, async () => {
    const path = await fileWith(
      "typo.yaml",
      ["hostname: mailfleet.test", "limits:", "  max_recipients: 10", "  max_mesage_size: 1MiB", ""].join(
        "\n",
      ),
    );
    const result = await runCli(["check", "-c", path]);
    assert.equal(result.code, EX_CONFIG, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
    assert.match(result.stderr, /typo\.yaml:4:3: limits\.max_mesage_size\b/);
    assert.match(result.stderr, /did you mean "max_message_size"/);
  });

  it("rejects a bad value naming the key and what was expected", { timeout: 30_000 }, async () => {
    const path = await fileWith(
      "badvalue.yaml",
      ["hostname: mailfleet.test", "transports:", "  mx:", "    tls: maybe", ""].join("\n"),
    );
    const result = await runCli(["check", "-c", path]);
    assert.equal(result.code, EX_CONFIG, result.stderr);
    assert.match(result.stderr, /badvalue\.yaml:4:10: transports\.mx\.tls: /);
    assert.match(result.stderr, /found "maybe"/);
    assert.match(result.stderr, /expected [^\n]*none, opportunistic, required/);
  });

  it("rejects a bad size with the expected form", { timeout: 30_000 }, async () => {
    const path = await fileWith("badsize.yaml", ["limits:", "  max_message_size: lots", ""].join("\n"));
    const result = await runCli(["check", "-c", path]);
    assert.equal(result.code, EX_CONFIG, result.stderr);
    assert.match(result.stderr, /badsize\.yaml:2:21: limits\.max_message_size: found "lots", expected /);
  });

  it("fails with 78 when the -c file does not exist", { timeout: 30_000 }, async () => {
    const missing = join(dir, "nope.yaml");
    const result = await runCli(["check", "-c", missing]);
    assert.equal(result.code, EX_CONFIG, result.stderr);
    assert.ok(result.stderr.includes(missing), result.stderr);
  });

  it("uses the built-in default when there is no file in the working directory", {
    timeout: 30_000,
  }, async () => {
    const empty = await mkdtemp(join(dir, "empty-"));
    const result = await runCli(["check"], { cwd: empty });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /built-in default/);
    assert.match(result.stdout, /listen 127\.0\.0\.1:2525/);
  });

  it("prefers mailfleet.yaml in the working directory", { timeout: 30_000 }, async () => {
    const cwd = await mkdtemp(join(dir, "cwd-"));
    await writeFile(join(cwd, "mailfleet.yaml"), "listen: ['127.0.0.1:2727']\n");
    const result = await runCli(["check"], { cwd });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /mailfleet\.yaml/);
    assert.match(result.stdout, /listen 127\.0\.0\.1:2727/);
  });

  it("checks a fleet file: one line per instance, and relay_to errors at file:line:col", {
    timeout: 30_000,
  }, async () => {
    const good = await fileWith(
      "fleet.yaml",
      [
        "instances:",
        "  sub: { role: submission, listen: ['127.0.0.1:2811'] }",
        "  out: { role: output, listen: ['127.0.0.1:2812'] }",
        "",
      ].join("\n"),
    );
    const ok = await runCli(["check", "-c", good]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /sub \(submission\): listen 127\.0\.0\.1:2811; relays to out/);
    assert.match(ok.stdout, /out \(output\): listen 127\.0\.0\.1:2812; delivers/);
    const bad = await fileWith(
      "fleet-bad.yaml",
      ["instances:", "  sub: { role: submission, relay_to: outt }", "  out: { role: output }", ""].join("\n"),
    );
    const refused = await runCli(["check", "-c", bad]);
    assert.equal(refused.code, EX_CONFIG, refused.stderr);
    assert.match(refused.stderr, /fleet-bad\.yaml:2:38: instances\.sub\.relay_to: .*did you mean "out"/);
  });
});
