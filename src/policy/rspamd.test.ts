import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import pino from "pino";

import { freePort } from "../../test/support/ports.ts";
import { RSPAMD_MISSING, type Rspamd, useRspamd } from "../../test/support/rspamd.ts";
import type { PolicyConfig } from "../config/types.ts";
import type { SessionFacts } from "../smtp-server/types.ts";
import { askRspamd, createRspamdCheck, parseRspamdReply } from "./rspamd.ts";

/** The GTUBE test string every rspamd rejects. */
const GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

function message(subject: string, body: string): Buffer {
  return Buffer.from(
    [
      "From: Alice <alice@example.com>",
      "To: bob@example.org",
      `Subject: ${subject}`,
      "Date: Mon, 23 Nov 2026 10:00:00 +0000",
      `Message-ID: <${subject.replace(/\W/g, "")}@example.com>`,
      "",
      body,
      "",
    ].join("\r\n"),
  );
}

const SESSION: SessionFacts = {
  id: "s1",
  clientAddress: "127.0.0.1",
  helo: "localhost",
  tls: false,
  user: null,
  listener: "127.0.0.1:25",
  trusted: false,
};
const ENVELOPE = { sender: "alice@example.com", recipients: ["bob@example.org"] };

type RspamdConfig = NonNullable<PolicyConfig["rspamd"]>;
const ACTIONS: RspamdConfig["actions"] = {
  reject: "reject",
  soft_reject: "soft_reject",
  rewrite_subject: "add_header",
  add_header: "add_header",
  greylist: "soft_reject",
  no_action: "accept",
};

function rspamdCheck(url: string, overrides: Partial<RspamdConfig> = {}) {
  const config: RspamdConfig = { url, timeoutMs: 10_000, fail: "open", actions: ACTIONS, ...overrides };
  return createRspamdCheck({ config, logger: pino({ level: "silent" }) });
}

describe("rspamd reply parsing", () => {
  test("action, score, required score and smtp_message", () => {
    assert.deepEqual(
      parseRspamdReply(
        '{"action":"soft reject","score":9.5,"required_score":15,"messages":{"smtp_message":"Try\\r\\nlater"}}',
      ),
      { action: "soft_reject", score: 9.5, requiredScore: 15, smtpMessage: "Trylater" },
    );
  });

  test("anything else is not understood", () => {
    assert.equal(parseRspamdReply("not json"), null);
    assert.equal(parseRspamdReply('{"action":"explode","score":1}'), null);
    assert.equal(parseRspamdReply('{"action":"reject"}'), null);
  });
});

describe("rspamd check against a stand-in HTTP server (request shape, mapping, failures)", () => {
  let server: Server;
  let url: string;
  let reply = '{"action":"no action","score":0}';
  let delayMs = 0;
  const requests: {
    headers: Record<string, string | string[] | undefined>;
    rawHeaders: string[];
    body: string;
  }[] = [];

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        requests.push({
          headers: req.headers,
          rawHeaders: req.rawHeaders,
          body: Buffer.concat(chunks).toString(),
        });
        setTimeout(() => res.end(reply), delayMs);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("POST /checkv2 with IP, Helo, From, one Rcpt header per recipient, User", async () => {
    requests.length = 0;
    await askRspamd(
      url,
      1000,
      {
        ip: "192.0.2.1",
        helo: "client.test",
        from: "a@example.com",
        rcpt: ["b@x.test", "c@y.test"],
        user: "alice",
      },
      message("shape", "hello"),
    );
    const [req] = requests;
    assert.ok(req);
    assert.equal(req.headers.ip, "192.0.2.1");
    assert.equal(req.headers.helo, "client.test");
    assert.equal(req.headers.from, "a@example.com");
    assert.equal(req.headers.user, "alice");
    const rcpts = req.rawHeaders.filter((_, i) => i % 2 === 1 && req.rawHeaders[i - 1] === "Rcpt");
    assert.deepEqual(rcpts, ["b@x.test", "c@y.test"]);
    assert.match(req.body, /Subject: shape/);
  });

  test("actions map to replies and headers as configured", async () => {
    const cases: [string, unknown][] = [
      [
        '{"action":"reject","score":20,"messages":{"smtp_message":"Gtube pattern"}}',
        { reply: { code: 554, enhanced: "5.7.1", text: "Spam message rejected: Gtube pattern" } },
      ],
      [
        '{"action":"soft reject","score":1}',
        { reply: { code: 451, enhanced: "4.7.1", text: "Try again later: message deferred" } },
      ],
      [
        '{"action":"greylist","score":4.5}',
        { reply: { code: 451, enhanced: "4.7.1", text: "Try again later: message deferred" } },
      ],
      [
        '{"action":"add header","score":7.3,"required_score":15}',
        { headers: ["X-Spam: Yes", "X-Spam-Score: 7.30 / 15.00"] },
      ],
      ['{"action":"rewrite subject","score":8}', { headers: ["X-Spam: Yes", "X-Spam-Score: 8.00"] }],
      ['{"action":"no action","score":-0.1}', { headers: [] }],
    ];
    for (const [json, expected] of cases) {
      reply = json;
      assert.deepEqual(await rspamdCheck(url).check(SESSION, ENVELOPE, message("map", "x")), expected, json);
    }
    reply = '{"action":"greylist","score":4.5}';
    const lenient = rspamdCheck(url, { actions: { ...ACTIONS, greylist: "accept", reject: "add_header" } });
    assert.deepEqual(await lenient.check(SESSION, ENVELOPE, message("map", "x")), { headers: [] });
    reply = '{"action":"reject","score":20}';
    assert.deepEqual(await lenient.check(SESSION, ENVELOPE, message("map", "x")), {
      headers: ["X-Spam: Yes", "X-Spam-Score: 20.00"],
    });
  });

  test("a timeout or an unreadable reply is 'unavailable': fail open accepts, fail closed says 451 4.7.1", async () => {
    reply = "<html>oops</html>";
    assert.deepEqual(await rspamdCheck(url).check(SESSION, ENVELOPE, message("bad", "x")), { headers: [] });
    reply = '{"action":"no action","score":0}';
    delayMs = 500;
    const started = Date.now();
    const closed = await rspamdCheck(url, { timeoutMs: 100, fail: "closed" }).check(
      SESSION,
      ENVELOPE,
      message("slow", "x"),
    );
    delayMs = 0;
    assert.ok(Date.now() - started < 450, "the timeout cut the request short");
    assert.deepEqual(closed, {
      reply: { code: 451, enhanced: "4.7.1", text: "Spam check temporarily unavailable, try again later" },
    });
  });
});

describe("rspamd check against the real rspamd daemon", () => {
  let rspamd: Rspamd | null = null;

  before(async () => {
    rspamd = await useRspamd();
  });
  after(() => rspamd?.stop());

  test("the GTUBE string is rejected with 554 5.7.1", async (t) => {
    if (!rspamd) return t.skip(RSPAMD_MISSING);
    const verdict = await rspamdCheck(rspamd.url).check(SESSION, ENVELOPE, message("gtube", GTUBE));
    assert.deepEqual(verdict, {
      reply: { code: 554, enhanced: "5.7.1", text: "Spam message rejected: Gtube pattern" },
    });
  });

  test("a normal message passes without headers", async (t) => {
    if (!rspamd) return t.skip(RSPAMD_MISSING);
    const verdict = await rspamdCheck(rspamd.url).check(
      SESSION,
      ENVELOPE,
      message("lunch", "Shall we have lunch on Thursday at noon?"),
    );
    assert.deepEqual(verdict, { headers: [] });
  });

  test("rspamd down: fail open accepts, fail closed answers 451 4.7.1", async (t) => {
    if (!rspamd) return t.skip(RSPAMD_MISSING);
    const down = `http://127.0.0.1:${await freePort()}`;
    assert.deepEqual(await rspamdCheck(down).check(SESSION, ENVELOPE, message("down", "x")), { headers: [] });
    const closed = await rspamdCheck(down, { fail: "closed" }).check(SESSION, ENVELOPE, message("down", "x"));
    assert.ok("reply" in closed);
    assert.deepEqual([closed.reply.code, closed.reply.enhanced], [451, "4.7.1"]);
  });
});
