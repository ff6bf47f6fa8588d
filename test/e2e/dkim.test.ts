/**
 * Scenario: DKIM signing of what leaves. Keys come from `mailfleet dkim keygen` (an RSA-2048 and
 * an Ed25519 key for example.com), their TXT records are served by the test DNS server, and one
 * 8-bit message goes to two sites in one round: smtp-sink (8BITMIME: the stored bytes) and a
 * peer without 8BITMIME (the body downgraded to quoted-printable). Both copies carry both
 * signatures, and mailauth verifies them on the received bytes against the records in DNS.
 * A reload rotates to a new key, and a missing key file stops `check` and `start` with the file
 * named.
 */
import assert from "node:assert/strict";
import { Resolver } from "node:dns/promises";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { dkimVerify } from "mailauth/lib/dkim/verify.js";
import { parse, stringify } from "yaml";
import type { ZoneSpec } from "../support/dns-server.ts";
import { eventually, runCliBounded, startWorld, type World } from "../support/e2e-world.ts";
import { runCli, writeConfig } from "../support/mailfleet-process.ts";
import { freePort } from "../support/ports.ts";
import { type RawPeer, startRawPeer, unstuff } from "../support/raw-smtp-peer.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";

/** Runs `mailfleet dkim keygen`; returns the key file and the TXT record's strings. */
async function keygen(dir: string, selector: string, algorithm: string) {
  const out = await runCli([
    "dkim",
    "keygen",
    "--domain",
    "example.com",
    "--selector",
    selector,
    "--algorithm",
    algorithm,
    "--out",
    dir,
  ]);
  assert.equal(out.code, 0, out.stderr);
  const keyFile = /wrote (\S+)/.exec(out.stdout)?.[1];
  const record = new RegExp(`^${selector}\\._domainkey\\.example\\.com\\. IN TXT (.*)$`, "m").exec(
    out.stdout,
  )?.[1];
  assert.ok(keyFile && record, out.stdout);
  const strings = [...record.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  assert.ok(strings.every((s) => s.length <= 255));
  return { keyFile, strings };
}

describe("DKIM signing", () => {
  let keysDir = "";
  let world: World;
  let sink: Sink;
  let legacy: RawPeer;
  let zone: ZoneSpec;

  before(async () => {
    keysDir = await mkdtemp(join(tmpdir(), "mailfleet-dkim-keys-"));
    const rsa = await keygen(keysDir, "s2048", "rsa");
    const ed = await keygen(keysDir, "ed1", "ed25519");
    assert.ok(rsa.strings.length >= 2, "an RSA-2048 record needs more than one string");
    const mxPort = await freePort();
    sink = await startSink({ host: "127.0.0.1", port: mxPort, dump: true });
    legacy = await startRawPeer({ host: "127.0.0.2", port: mxPort, extensions: ["ENHANCEDSTATUSCODES"] });
    zone = {
      "sink.test": { mx: [{ preference: 10, exchange: "mx.sink.test" }] },
      "mx.sink.test": { a: ["127.0.0.1"] },
      "legacy.test": { mx: [{ preference: 10, exchange: "mx.legacy.test" }] },
      "mx.legacy.test": { a: ["127.0.0.2"] },
      "s2048._domainkey.example.com": { txt: [rsa.strings] },
      "ed1._domainkey.example.com": { txt: [ed.strings] },
    };
    world = await startWorld({
      mxPort,
      zone,
      config: {
        dkim: {
          signers: [
            { domain: "example.com", selector: "s2048", key_file: rsa.keyFile },
            { domain: "example.com", selector: "ed1", key_file: ed.keyFile },
          ],
        },
      },
    });
  });

  after(async () => {
    await world?.close();
    await sink?.destroy();
    await legacy?.close();
    if (keysDir) await rm(keysDir, { recursive: true, force: true });
  });

  /** mailauth's verdicts on `message`, with the keys looked up in the test DNS server. */
  async function verify(message: Buffer) {
    const dns = new Resolver({ timeout: 1000, tries: 1 });
    dns.setServers([`127.0.0.1:${world.dns.port}`]);
    const resolver = async (name: string, type: string) => {
      if (type !== "TXT") throw Object.assign(new Error(`no ${type}`), { code: "ENOTFOUND" });
      return dns.resolveTxt(name);
    };
    const result = await dkimVerify(message, { resolver: resolver as never });
    return result.results
      .map((r) => `${r.signingDomain} ${(r as { selector?: string }).selector} ${r.status.result}`)
      .sort();
  }

  it("signs with RSA-2048 and Ed25519 the exact bytes each peer gets, downgraded or not", {
    timeout: 60_000,
  }, async () => {
    const text = [
      "From: Alice <alice@example.com>",
      "To: bob@sink.test, carol@legacy.test",
      "Subject: dkim-eight-bit",
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: 8bit",
      "",
      "Gr\u00fc\u00dfe aus K\u00f6ln, signed.",
      "",
    ].join("\n");
    const sent = await world.send("alice@example.com", ["bob@sink.test", "carol@legacy.test"], text);
    assert.equal(sent.code, 0, sent.stderr);
    await world.mailfleet.waitForLog(/delivered to=<bob@sink\.test>/, 20_000);
    await world.mailfleet.waitForLog(/delivered to=<carol@legacy\.test>/, 20_000);

    const atSink = await eventually("the copy at smtp-sink", async () =>
      (await sink.messages()).find((m) => m.content.includes("dkim-eight-bit")),
    );
    // smtp-sink writes LF line ends; the wire had CRLF only.
    const sinkBytes = Buffer.from(atSink.content.replace(/\n/g, "\r\n"), "utf8");
    assert.match(atSink.mailArgs, /BODY=8BITMIME/);
    assert.ok(sinkBytes.toString("utf8").includes("Gr\u00fc\u00dfe aus K\u00f6ln"), "8-bit body unchanged");

    const [toLegacy] = legacy.transactions.filter((t) => t.data.includes("dkim-eight-bit"));
    assert.ok(toLegacy);
    const legacyBytes = unstuff(toLegacy.data);
    assert.ok(!legacyBytes.some((b) => b > 0x7f), "downgraded to 7 bits");
    assert.match(legacyBytes.toString(), /Content-Transfer-Encoding: quoted-printable/i);

    for (const [peer, bytes] of [
      ["smtp-sink", sinkBytes],
      ["peer without 8BITMIME", legacyBytes],
    ] as const) {
      assert.match(bytes.toString("latin1"), /^DKIM-Signature: /, `${peer}: signatures first`);
      assert.deepEqual(
        await verify(bytes),
        ["example.com ed1 pass", "example.com s2048 pass"],
        `${peer}: both signatures verify`,
      );
    }
  });

  it("a reload switches to a new key (selector rotation)", { timeout: 60_000 }, async () => {
    const next = await keygen(keysDir, "s2027", "rsa");
    world.dns.setZone({ ...zone, "s2027._domainkey.example.com": { txt: [next.strings] } });
    const config = parse(await readFile(world.configPath, "utf8")) as Record<string, unknown>;
    config.dkim = { signers: [{ domain: "example.com", selector: "s2027", key_file: next.keyFile }] };
    await writeFile(world.configPath, stringify(config));
    world.mailfleet.child.kill("SIGHUP");
    await eventually("the reload", () =>
      /configuration reloaded/.test(world.mailfleet.stderr()) ? true : undefined,
    );
    const text = "From: alice@news.example.com\nTo: bob@sink.test\nSubject: dkim-rotated\n\nNew key.\n";
    const sent = await world.send("alice@news.example.com", ["bob@sink.test"], text);
    assert.equal(sent.code, 0, sent.stderr);
    const copy = await eventually("the rotated copy at smtp-sink", async () =>
      (await sink.messages()).find((m) => m.content.includes("dkim-rotated")),
    );
    const bytes = Buffer.from(copy.content.replace(/\n/g, "\r\n"), "utf8");
    assert.deepEqual(await verify(bytes), ["example.com s2027 pass"], "a subdomain author, the new key only");
  });

  it("a missing key file stops check and start, naming the file", { timeout: 30_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "mailfleet-dkim-bad-"));
    try {
      const path = await writeConfig(
        dir,
        stringify({
          hostname: "mailfleet.test",
          spool_dir: join(dir, "spool"),
          run_dir: join(dir, "run"),
          listen: [`127.0.0.1:${await freePort()}`],
          admin: { listen: null },
          dkim: { signers: [{ domain: "example.com", selector: "s1", key_file: "keys/gone.pem" }] },
        }),
      );
      const check = await runCli(["check", "-c", path]);
      assert.notEqual(check.code, 0);
      assert.match(
        check.stderr + check.stdout,
        /dkim\.signers\.0\.key_file: found "keys\/gone\.pem".*no such file/,
      );
      const start = await runCliBounded(["start", "-c", path]);
      assert.equal(start.timedOut, false);
      assert.notEqual(start.code, 0);
      assert.match(start.stderr, /keys\/gone\.pem/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
