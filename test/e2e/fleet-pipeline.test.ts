/**
 * Scenario: the documented pipeline as one fleet. A client submits to the submission instance,
 * which relays over SMTP on loopback to the output instance, which alone delivers, from its own
 * source IP. The envelope's DSN parameters survive both hops, each hop adds its Received header,
 * and both instances write to the one shared log. Also: the hop limit stops a misconfigured
 * loop, and a reload of the running fleet re-routes mail already deferred.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/e2e-world.ts";
import { type MailfleetProcess, runCli, startMailfleet, writeConfig } from "../support/mailfleet-process.ts";
import { canConnect, freePort } from "../support/ports.ts";
import { openSmtp } from "../support/smtp-dialog.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";

async function submit(
  port: number,
  envelope: { mail: string; rcpt: string[] },
  subject: string,
): Promise<string> {
  const smtp = await openSmtp({ host: "127.0.0.1", port });
  try {
    await smtp.command("EHLO client.test");
    assert.equal((await smtp.command(`MAIL FROM:${envelope.mail}`)).code, 250);
    for (const rcpt of envelope.rcpt) assert.equal((await smtp.command(`RCPT TO:${rcpt}`)).code, 250);
    assert.equal((await smtp.command("DATA")).code, 354);
    const body = `From: a@client.test\r\nTo: b@dest.test\r\nSubject: ${subject}\r\n\r\nHello.\r\n.\r\n`;
    const done = await smtp.sendRaw(body);
    assert.equal(done.code, 250, done.raw);
    return done.raw;
  } finally {
    smtp.close();
  }
}

async function waitListening(ports: number[]): Promise<void> {
  for (const port of ports) {
    await eventually(`a listener on ${port}`, async () =>
      (await canConnect("127.0.0.1", port)) ? true : undefined,
    );
  }
}

describe("fleet pipeline", () => {
  let dir = "";
  let sink: Sink;
  const running: MailfleetProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mailfleet-pipeline-"));
    sink = await startSink({ dump: true });
  });
  after(async () => {
    for (const p of running) await p.stop().catch(() => {});
    await sink?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function fleet(name: string, yaml: (ports: { sub: number; out: number }) => string) {
    const ports = { sub: await freePort(), out: await freePort() };
    const base = join(dir, name);
    const text = `hostname: fleet.test
run_dir: ${base}/run
log: { file: ${base}/mail.log }
${yaml(ports)}`;
    await mkdir(base, { recursive: true });
    const path = await writeConfig(base, text);
    const process = await startMailfleet(path);
    running.push(process);
    await waitListening([ports.sub, ports.out]);
    return {
      ports,
      path,
      base,
      process,
      log: () => readFile(join(base, "mail.log"), "utf8").catch(() => ""),
    };
  }

  it("submission -> output -> sink, from the output's source IP, DSN parameters intact", {
    timeout: 60_000,
  }, async () => {
    const f = await fleet(
      "pipeline",
      (p) => `instances:
  submission:
    role: submission
    listen: ["127.0.0.1:${p.sub}"]
  output:
    role: output
    listen: ["127.0.0.1:${p.out}"]
    transports:
      mx: { nexthop: "[127.0.0.1]:${sink.port}", bind_address: 127.0.0.2, tls: none }
`,
    );
    const reply = await submit(
      f.ports.sub,
      {
        mail: "<a@client.test> RET=HDRS ENVID=env-pipeline-1",
        rcpt: ["<b@dest.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@dest.test"],
      },
      "through the pipeline",
    );
    const copy = await eventually("the message at the sink", async () =>
      (await sink.messages()).find((m) => m.content.includes("Subject: through the pipeline")),
    );
    assert.equal(copy.clientAddr, "127.0.0.2", "only the output instance delivers, from its source IP");
    assert.match(copy.mailArgs, /ENVID=env-pipeline-1/);
    assert.match(copy.mailArgs, /RET=HDRS/);
    const rcpt = copy.rcptArgs.find((a) => a.startsWith("<b@dest.test>"));
    assert.match(rcpt ?? "", /NOTIFY=SUCCESS,FAILURE/);
    assert.match(rcpt ?? "", /ORCPT=rfc822;b@dest\.test/i);
    const received = copy.content.split("\n").filter((l) => l.startsWith("Received:"));
    assert.equal(received.length, 2, `one Received per hop:\n${copy.content}`);

    const submissionId = /queued as (\S+)/.exec(reply)?.[1] ?? "";
    // Each instance writes its log lines in batches (within 100 ms): wait for both instances.
    const log = await eventually("both instances in the shared log", async () => {
      const text = await f.log();
      const both =
        / output \S+ delivered /.test(text) && text.includes(` submission ${submissionId} delivered `);
      return both ? text : undefined;
    });
    assert.match(log, new RegExp(` submission ${submissionId} received `));
    assert.match(
      log,
      new RegExp(
        ` submission ${submissionId} delivered .*relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${f.ports.out}`,
      ),
    );
    assert.match(log, / output \S+ delivered to=<b@dest\.test> .*source=127\.0\.0\.2/);

    const filtered = await runCli(["log", "-c", f.path, "--instance", "output"]);
    assert.equal(filtered.code, 0, filtered.stderr);
    assert.ok(
      filtered.stdout
        .split("\n")
        .filter(Boolean)
        .every((l) => l.split(" ")[1] === "output"),
    );
    assert.match(filtered.stdout, /delivered to=<b@dest\.test>/);
  });

  it("the hop limit stops a misconfigured loop with 554 5.4.0", { timeout: 60_000 }, async () => {
    // The output instance "delivers" straight back into the submission instance.
    const f = await fleet(
      "loop",
      (p) => `instances:
  submission:
    role: submission
    listen: ["127.0.0.1:${p.sub}"]
    limits: { max_hops: 6 }
  output:
    role: output
    listen: ["127.0.0.1:${p.out}"]
    limits: { max_hops: 6 }
    transports:
      mx: { nexthop: "[127.0.0.1]:${p.sub}", tls: none }
`,
    );
    await submit(f.ports.sub, { mail: "<a@client.test>", rcpt: ["<b@dest.test>"] }, "round and round");
    const line = await eventually("the loop refused", async () =>
      (await f.log()).split("\n").find((l) => / bounced to=<b@dest\.test> .*dsn=5\.4\.0/.test(l)),
    );
    assert.match(line, /too many hops|loop/i);
  });

  it("a reload of the running fleet re-routes mail that is already deferred", {
    timeout: 90_000,
  }, async () => {
    const closed = await freePort();
    const config = (target: number) => (p: { sub: number; out: number }) =>
      `instances:
  submission:
    role: submission
    listen: ["127.0.0.1:${p.sub}"]
  output:
    role: output
    listen: ["127.0.0.1:${p.out}"]
    transports:
      mx: { nexthop: "[127.0.0.1]:${target}", tls: none, retry_schedule: [2s] }
`;
    const f = await fleet("reroute", config(closed));
    await submit(f.ports.sub, { mail: "<a@client.test>", rcpt: ["<c@later.test>"] }, "rerouted later");
    await eventually("a deferral at the dead nexthop", async () =>
      / output \S+ deferred to=<c@later\.test>/.test(await f.log()) ? true : undefined,
    );
    await writeFile(
      f.path,
      `hostname: fleet.test\nrun_dir: ${f.base}/run\nlog: { file: ${f.base}/mail.log }\n${config(sink.port)(f.ports)}`,
    );
    const reload = await runCli(["reload", "-c", f.path]);
    assert.equal(reload.code, 0, reload.stderr + reload.stdout);
    const copy = await eventually("the deferred message at the new nexthop", async () =>
      (await sink.messages()).find((m) => m.content.includes("Subject: rerouted later")),
    );
    assert.ok(copy.rcptArgs.some((a) => a.startsWith("<c@later.test>")));
  });
});
