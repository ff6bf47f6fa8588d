import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { RelayInfo } from "../message/types.ts";
import { createDeliveryLog, type DeliveryLog } from "./delivery-log.ts";

// Golden files: run with UPDATE_GOLDEN=1 to rewrite them after an intended change, then review the diff.
const goldenDir = new URL("../../test/fixtures/delivery-log/", import.meta.url);

function assertGolden(name: string, actual: string): void {
  const file = new URL(name, goldenDir);
  if (process.env.UPDATE_GOLDEN === "1") {
    mkdirSync(goldenDir, { recursive: true });
    writeFileSync(file, actual);
  }
  assert.ok(existsSync(file), `golden file ${name} is missing: run with UPDATE_GOLDEN=1 and review it`);
  assert.equal(actual, readFileSync(file, "utf8"), `golden ${name}`);
}

const ID = "01JD3FABCDEFGHJKMNPQ";
const relay: RelayInfo = { host: "mx.example.com", ip: "127.0.0.3", port: 25, sourceIp: "127.0.0.2" };

function capture(format: "text" | "json") {
  const lines: string[] = [];
  const log = createDeliveryLog({
    format,
    write: (line) => lines.push(line),
    now: () => new Date(Date.UTC(2026, 10, 23, 12, 0, 0)),
  });
  return { log, lines };
}

/** One message's whole story, every event kind once or more. */
function story(log: DeliveryLog): void {
  log.received({ id: ID, sender: "a@example.org", recipients: 4, size: 1834, client: "127.0.0.1" });
  log.delivered({
    id: ID,
    recipient: "b@example.com",
    relay,
    reply: { code: 250, enhanced: "2.0.0", text: "Ok: queued as X" },
    delayMs: 123,
  });
  log.deferred({
    id: ID,
    recipient: "c@example.net",
    relay: { ...relay, host: "mx.example.net", sourceIp: null },
    reply: { code: 451, enhanced: "4.7.1", text: 'Greylisted, see "policy"\r\nplease retry' },
    scope: "recipient",
    nextAttemptAt: Date.UTC(2026, 10, 23, 12, 5, 0),
  });
  log.deferred({
    id: ID,
    recipient: "d@example.net",
    relay,
    reply: { code: 421, enhanced: "4.4.2", text: "connection lost after end of data" },
    scope: "destination",
    nextAttemptAt: Date.UTC(2026, 10, 23, 12, 10, 0),
    mayBeDuplicated: true,
  });
  log.deferred({
    id: ID,
    recipient: "e@example.org",
    relay: null,
    reply: { code: 451, enhanced: "4.4.3", text: "DNS lookup failed for example.org" },
    scope: "destination",
    nextAttemptAt: Date.UTC(2026, 10, 23, 12, 10, 0),
  });
  log.bounced({
    id: ID,
    recipient: "f@example.com",
    relay,
    reply: { code: 550, enhanced: "5.1.1", text: "User unknown" },
    scope: "recipient",
  });
  log.bounced({
    id: ID,
    recipient: "g@example.com",
    relay: null,
    reply: { code: 556, enhanced: null, text: "domain has a null MX" },
    scope: "recipient",
  });
  log.expired({
    id: ID,
    recipient: "c@example.net",
    reply: { code: 451, enhanced: "4.7.1", text: "Greylisted" },
  });
  log.dsnQueued({ id: ID, dsnId: "01JD3FZZZZZZZZZZZZZZ", recipients: 3 });
  log.removed({ id: ID });
}

describe("delivery log, text format", () => {
  it("matches the golden file", () => {
    const { log, lines } = capture("text");
    story(log);
    assertGolden("text.log", lines.join(""));
  });

  it("writes exactly one line per event, each with the queue id", () => {
    const { log, lines } = capture("text");
    story(log);
    assert.equal(lines.length, 10);
    for (const line of lines) {
      assert.match(line, /^2026-11-23T12:00:00\.000Z 01JD3FABCDEFGHJKMNPQ [a-z_]+( |\n)/);
      assert.equal(line.indexOf("\n"), line.length - 1, "a single line ending in \\n");
    }
  });

  it('says "may be duplicated" for a drop after the final dot, and only then', () => {
    const { log, lines } = capture("text");
    story(log);
    const flagged = lines.filter((line) => line.includes("may be duplicated"));
    assert.deepEqual(
      flagged.map((line) => /to=<([^>]+)>/.exec(line)?.[1]),
      ["d@example.net"],
    );
  });

  it("formats the delivered line Postfix-style", () => {
    const { log, lines } = capture("text");
    story(log);
    assert.equal(
      lines[1],
      '2026-11-23T12:00:00.000Z 01JD3FABCDEFGHJKMNPQ delivered to=<b@example.com> relay=mx.example.com[127.0.0.3]:25 source=127.0.0.2 delay=0.12s dsn=2.0.0 status="250 2.0.0 Ok: queued as X"\n',
    );
  });

  it("cannot be made to forge a line through an address or reply", () => {
    const { log, lines } = capture("text");
    log.bounced({
      id: ID,
      recipient: "x@example.com>\n2026-11-23T12:00:00.000Z FAKE delivered to=<y@example.com",
      relay: null,
      reply: { code: 550, enhanced: null, text: "no\nsuch user" },
      scope: "recipient",
    });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.split("\n").length, 2);
  });
});

describe("delivery log, json format", () => {
  it("matches the golden file", () => {
    const { log, lines } = capture("json");
    story(log);
    assertGolden("json.log", lines.join(""));
  });

  it("writes one parseable object per line with time, event and id", () => {
    const { log, lines } = capture("json");
    story(log);
    const events = lines.map((line) => {
      assert.ok(line.endsWith("\n") && !line.slice(0, -1).includes("\n"));
      return JSON.parse(line) as Record<string, unknown>;
    });
    assert.deepEqual(
      events.map((e) => e.event),
      [
        "received",
        "delivered",
        "deferred",
        "deferred",
        "deferred",
        "bounced",
        "bounced",
        "expired",
        "dsn_queued",
        "removed",
      ],
    );
    for (const e of events) {
      assert.equal(e.time, "2026-11-23T12:00:00.000Z");
      assert.equal(e.id, ID);
    }
    assert.deepEqual(events[1], {
      time: "2026-11-23T12:00:00.000Z",
      event: "delivered",
      id: ID,
      recipient: "b@example.com",
      relay,
      delayMs: 123,
      dsn: "2.0.0",
      reply: { code: 250, enhanced: "2.0.0", text: "Ok: queued as X" },
    });
    assert.equal(events[3]!.mayBeDuplicated, true);
    assert.equal("mayBeDuplicated" in events[2]!, false);
    assert.equal(events[6]!.dsn, "5.0.0", "a reply without an enhanced code gets the class status");
    assert.equal(events[7]!.dsn, "4.4.7");
  });
});

describe("delivery log, DSN kinds", () => {
  it("names what a queued DSN reports when told (text and json)", () => {
    const text = capture("text");
    text.log.dsnQueued({ id: ID, dsnId: "01JD3FZZZZZZZZZZZZZZ", recipients: 1, action: "relayed" });
    assert.equal(
      text.lines[0],
      "2026-11-23T12:00:00.000Z 01JD3FABCDEFGHJKMNPQ dsn_queued dsn_id=01JD3FZZZZZZZZZZZZZZ nrcpt=1 action=relayed\n",
    );
    const json = capture("json");
    json.log.dsnQueued({ id: ID, dsnId: "01JD3FZZZZZZZZZZZZZZ", recipients: 2, action: "delayed" });
    assert.deepEqual(JSON.parse(json.lines[0]!), {
      time: "2026-11-23T12:00:00.000Z",
      event: "dsn_queued",
      id: ID,
      dsnId: "01JD3FZZZZZZZZZZZZZZ",
      recipients: 2,
      action: "delayed",
    });
  });
});

describe("delivery log of a fleet instance", () => {
  it("every line names the instance that wrote it", () => {
    const lines: string[] = [];
    const now = () => new Date(Date.UTC(2026, 10, 23, 12, 0, 0));
    const text = createDeliveryLog({ format: "text", write: (l) => lines.push(l), instance: "output", now });
    text.removed({ id: ID });
    const json = createDeliveryLog({ format: "json", write: (l) => lines.push(l), instance: "output", now });
    json.removed({ id: ID });
    assert.equal(lines[0], `2026-11-23T12:00:00.000Z output ${ID} removed\n`);
    assert.deepEqual(JSON.parse(lines[1]!), {
      time: "2026-11-23T12:00:00.000Z",
      instance: "output",
      event: "removed",
      id: ID,
    });
  });
});

describe("delivery log, bounce classes", () => {
  it("shows class= in text and bounceClass in JSON on deferred, bounced and expired lines", () => {
    const reply = { code: 550, enhanced: "5.1.1", text: "User unknown" };
    for (const format of ["text", "json"] as const) {
      const { log, lines } = capture(format);
      log.deferred({
        id: ID,
        recipient: "c@example.net",
        relay: null,
        reply: { code: 452, enhanced: "4.2.2", text: "full" },
        scope: "recipient",
        nextAttemptAt: 0,
        bounceClass: "mailbox_full",
      });
      log.bounced({
        id: ID,
        recipient: "f@example.com",
        relay,
        reply,
        scope: "recipient",
        bounceClass: "invalid_recipient",
      });
      log.expired({ id: ID, recipient: "c@example.net", reply, bounceClass: "mailbox_full" });
      if (format === "text") {
        assert.match(lines[0]!, / scope=recipient class=mailbox_full dsn=4\.2\.2 /);
        assert.match(
          lines[1]!,
          / bounced to=<f@example\.com> relay=mx\.example\.com\[127\.0\.0\.3\]:25 source=127\.0\.0\.2 scope=recipient class=invalid_recipient dsn=5\.1\.1 /,
        );
        assert.match(lines[2]!, / expired to=<c@example\.net> class=mailbox_full dsn=4\.4\.7 /);
      } else {
        assert.deepEqual(
          lines.map((line) => JSON.parse(line).bounceClass),
          ["mailbox_full", "invalid_recipient", "mailbox_full"],
        );
      }
    }
  });
});
