/**
 * Scenario: an operator moves the seed's multi-IP Postfix (Method 1: transport_maps per ISP,
 * Method 2: sender-dependent transactional/marketing transports) to mailfleet with `mailfleet
 * import postfix`, then runs the imported config unchanged except for where this test lives
 * (spool, listener, DNS, admin port, and the port the sinks listen on). Mail must leave from the
 * source address Postfix would have used: gmail.com from 127.0.0.2, yahoo.com from 127.0.0.3,
 * outlook.com from 127.0.0.4; transactional senders from 127.0.0.2 and marketing from 127.0.0.3
 * for other domains; and transport_maps still winning over the sender for gmail.com.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { eventually, simpleMessage, startWorld, type World } from "../support/e2e-world.ts";
import { repoRoot, runCli } from "../support/mailfleet-process.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";

const fixtures = resolve(repoRoot, "test/fixtures/postfix");

describe("postfix import", () => {
  let sink: Sink;
  let world: World;
  let importStderr = "";
  let importDir = "";

  before(async () => {
    sink = await startSink();
    const mxPort = sink.port;
    importDir = await mkdtemp(join(tmpdir(), "mailfleet-import-"));
    const outFile = join(importDir, "imported.yaml");
    const result = await runCli(["import", "postfix", fixtures, "-o", outFile]);
    assert.equal(result.code, 0, `import failed: ${result.stderr}`);
    importStderr = result.stderr;

    // Run the imported file as it is, moved into this test's world: the world's base config
    // provides spool, listener, DNS and admin; the sinks' port replaces port 25.
    const imported = parse(await readFile(outFile, "utf8")) as Record<string, unknown>;
    const { listen: _listen, transports, ...rest } = imported;
    const moved = Object.fromEntries(
      Object.entries(transports as Record<string, Record<string, unknown>>).map(([name, t]) => [
        name,
        { ...t, port: mxPort, retry_schedule: ["1s"] },
      ]),
    );
    world = await startWorld({
      mxPort,
      config: { ...rest, transports: moved },
      zone: {
        "gmail.com": { mx: [{ preference: 5, exchange: "gmail-smtp-in.l.google.test" }] },
        "yahoo.com": { mx: [{ preference: 1, exchange: "mta5.am0.yahoodns.test" }] },
        "outlook.com": { mx: [{ preference: 10, exchange: "outlook-com.olc.protection.outlook.test" }] },
        "example.net": { mx: [{ preference: 10, exchange: "mx.example.net" }] },
        "gmail-smtp-in.l.google.test": { a: ["127.0.0.1"] },
        "mta5.am0.yahoodns.test": { a: ["127.0.0.1"] },
        "outlook-com.olc.protection.outlook.test": { a: ["127.0.0.1"] },
        "mx.example.net": { a: ["127.0.0.1"] },
      },
    });
  });

  after(async () => {
    await world?.close();
    await sink?.destroy();
    if (importDir) await rm(importDir, { recursive: true, force: true });
  });

  it("prints one warning line each for the settings Postfix ignored and the shadowed sender routes", () => {
    const lines = importStderr.split("\n").filter((l) => l.startsWith("warning: "));
    assert.ok(
      lines.some((l) => /BEHAVIOUR_CHANGE: .*"marketing-smtp".*maximal_queue_lifetime=6h.*CHANGE/.test(l)),
      importStderr,
    );
    assert.ok(
      lines.some((l) => /ROUTE_SHADOWED: .*newsletter@yourapp\.com.*gmail\.com/.test(l)),
      importStderr,
    );
  });

  const cases = [
    {
      from: "alice@client.test",
      to: "bob@gmail.com",
      source: "127.0.0.2",
      why: "gmail.com via gmail-transport",
    },
    {
      from: "alice@client.test",
      to: "bob@yahoo.com",
      source: "127.0.0.3",
      why: "yahoo.com via yahoo-transport",
    },
    {
      from: "alice@client.test",
      to: "bob@outlook.com",
      source: "127.0.0.4",
      why: "outlook.com via ms-transport",
    },
    {
      from: "noreply@yourapp.com",
      to: "carol@example.net",
      source: "127.0.0.2",
      why: "transactional sender",
    },
    { from: "newsletter@yourapp.com", to: "dave@example.net", source: "127.0.0.3", why: "marketing sender" },
    // Postfix's transport_maps beat the sender map; the import keeps that (and warned about it).
    { from: "newsletter@yourapp.com", to: "erin@gmail.com", source: "127.0.0.2", why: "transport_maps wins" },
  ];

  for (const c of cases) {
    it(`delivers ${c.from} -> ${c.to} from ${c.source} (${c.why})`, { timeout: 60_000 }, async () => {
      const subject = `import ${c.from} to ${c.to}`;
      const sent = await world.send(c.from, [c.to], simpleMessage({ from: c.from, to: c.to, subject }));
      assert.equal(sent.code, 0, `send failed: ${sent.stdout}${sent.stderr}`);
      const copy = await eventually(
        `the sink's copy of "${subject}"`,
        async () => (await sink.messages()).find((m) => m.content.includes(`Subject: ${subject}\n`)),
        30_000,
      );
      assert.equal(copy.clientAddr, c.source, `${c.why}: left from ${copy.clientAddr}`);
      assert.ok(
        copy.rcptArgs.some((a) => a.includes(c.to)),
        `rcpt: ${copy.rcptArgs}`,
      );
    });
  }
});

describe("postfix import exit codes", () => {
  it("exits 66 when DIR has no main.cf and 78 when the result does not validate", {
    timeout: 30_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "mailfleet-import-bad-"));
    try {
      const missing = await runCli(["import", "postfix", dir]);
      assert.equal(missing.code, 66, missing.stderr);
      assert.match(missing.stderr, /main\.cf/);

      await writeFile(join(dir, "main.cf"), "myhostname = not_a_host!\n");
      const invalid = await runCli(["import", "postfix", dir, "-o", join(dir, "out.yaml")]);
      assert.equal(invalid.code, 78, invalid.stderr);
      assert.match(invalid.stderr, /does not validate[\s\S]*hostname/);
      await assert.rejects(readFile(join(dir, "out.yaml")), { code: "ENOENT" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
