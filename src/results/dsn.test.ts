import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { DsnNotify, StoredMessage } from "../message/types.ts";
import { buildDsn, type DsnFailure, type DsnInput, headerBlock } from "./dsn.ts";

// Golden files: run with UPDATE_GOLDEN=1 to rewrite them after an intended change, then review the diff.
const goldenDir = new URL("../../test/fixtures/dsn/", import.meta.url);

function assertGolden(name: string, actual: Buffer): void {
  const file = new URL(name, goldenDir);
  if (process.env.UPDATE_GOLDEN === "1") {
    mkdirSync(goldenDir, { recursive: true });
    writeFileSync(file, actual);
  }
  assert.ok(existsSync(file), `golden file ${name} is missing: run with UPDATE_GOLDEN=1 and review it`);
  assert.equal(actual.toString("latin1"), readFileSync(file).toString("latin1"), `golden ${name}`);
}

const originalBody = Buffer.from(
  "Received: from client.example (client.example [192.0.2.1]) by mx.mailfleet.example with ESMTP id 01ABC for <b@example.com>\r\n" +
    "From: Alice <a@example.org>\r\n" +
    "To: b@example.com, c@example.net\r\n" +
    "Subject: quarterly report\r\n" +
    "Message-ID: <orig-1@example.org>\r\n" +
    "\r\n" +
    "Hello Bob,\r\n" +
    "the numbers are attached.\r\n",
);

function original(overrides: Partial<StoredMessage> = {}, notify: (DsnNotify[] | null)[] = [null, null]) {
  const message: StoredMessage = {
    id: "01JD3FABCDEFGHJKMNPQ",
    sender: "a@example.org",
    recipients: notify.map((n, i) => ({
      address: i === 0 ? "b@example.com" : i === 1 ? "c@example.net" : `r${i}@example.net`,
      dsn: { notify: n, orcpt: null },
      state: "pending" as const,
    })),
    dsn: { ret: null, envid: null },
    bodyType: "7BIT",
    smtpUtf8: false,
    clientAddress: "127.0.0.1",
    clientHelo: "client.example",
    arrivedAt: Date.UTC(2026, 10, 23, 11, 0, 0),
    isBounce: false,
    tenant: null,
    size: originalBody.length,
    ...overrides,
  };
  return message;
}

const userUnknown: DsnFailure = {
  index: 0,
  action: "failed",
  status: "5.1.1",
  reply: {
    code: 550,
    enhanced: "5.1.1",
    text: "<b@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
  },
  remoteMta: "mx.example.com",
};
const nullMx: DsnFailure = {
  index: 1,
  action: "failed",
  status: "5.1.10",
  reply: { code: 556, enhanced: "5.1.10", text: "domain example.net does not accept mail (null MX)" },
  remoteMta: null,
};
const greylisted: DsnFailure = {
  index: 1,
  action: "delayed",
  status: "4.7.1",
  reply: { code: 451, enhanced: "4.7.1", text: "Greylisted, please try again later" },
  remoteMta: "mx.example.net",
};

const relayed: DsnFailure = {
  index: 0,
  action: "relayed",
  status: "2.0.0",
  reply: { code: 250, enhanced: "2.0.0", text: "Ok: queued as 4XYZ" },
  remoteMta: "mx.example.com",
};

function input(overrides: Partial<DsnInput>): DsnInput {
  return {
    original: original(),
    originalBody,
    failures: [userUnknown],
    reportingMta: "mx.mailfleet.example",
    from: "MAILER-DAEMON@mx.mailfleet.example",
    now: new Date(Date.UTC(2026, 10, 23, 12, 0, 0)),
    willRetryUntil: new Date(Date.UTC(2026, 10, 28, 11, 0, 0)),
    randomToken: () => "0123456789abcdef",
    ...overrides,
  };
}

interface Part {
  headers: Map<string, string>;
  body: Buffer;
}

/** Minimal MIME reader for the tests: unfolded headers (lowercase names) and the raw body. */
function parsePart(data: Buffer): Part {
  const end = data.indexOf("\r\n\r\n");
  const head = data
    .subarray(0, end)
    .toString()
    .replace(/\r\n[ \t]+/g, " ");
  const headers = new Map<string, string>();
  for (const line of head.split("\r\n")) {
    const colon = line.indexOf(":");
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body: data.subarray(end + 4) };
}

function splitMultipart(part: Part): Part[] {
  const boundary = /boundary="?([^";]+)"?/.exec(part.headers.get("content-type") ?? "")?.[1];
  assert.ok(boundary, "multipart has a boundary");
  const text = part.body.toString("latin1");
  const closing = text.indexOf(`\r\n--${boundary}--\r\n`);
  assert.ok(closing > 0, "closing delimiter present");
  const opening = `--${boundary}\r\n`;
  assert.ok(text.startsWith(opening), "body starts with the first delimiter");
  // The CRLF before each delimiter belongs to the delimiter (RFC 2046 5.1.1), not to the part.
  const chunks = text.slice(opening.length, closing).split(`\r\n--${boundary}\r\n`);
  return chunks.map((chunk) => parsePart(Buffer.from(chunk, "latin1")));
}

/** message/delivery-status: blocks of "Name: value" fields separated by blank lines. */
function parseStatusFields(body: Buffer): Map<string, string>[] {
  return body
    .toString()
    .replace(/\r\n[ \t]+/g, " ")
    .trim()
    .split("\r\n\r\n")
    .map(
      (block) =>
        new Map(
          block.split("\r\n").map((line) => {
            const colon = line.indexOf(":");
            return [line.slice(0, colon), line.slice(colon + 1).trim()] as [string, string];
          }),
        ),
    );
}

async function build(overrides: Partial<DsnInput>) {
  const dsn = await buildDsn(input(overrides));
  assert.ok(dsn, "a DSN is built");
  return dsn;
}

describe("buildDsn: who gets a notification", () => {
  it("never notifies the null sender", async () => {
    assert.equal(await buildDsn(input({ original: original({ sender: "" }) })), null);
  });

  it("never notifies about a notification", async () => {
    assert.equal(await buildDsn(input({ original: original({ isBounce: true }) })), null);
  });

  it("skips NOTIFY=NEVER and returns null when nothing is left", async () => {
    assert.equal(await buildDsn(input({ original: original({}, [[], null]) })), null);
  });

  it("needs FAILURE for a failed recipient and DELAY for a delayed one", async () => {
    const onlyDelay = original({}, [["DELAY"], ["FAILURE"]]);
    assert.equal(await buildDsn(input({ original: onlyDelay, failures: [userUnknown, greylisted] })), null);
    const both = original({}, [["FAILURE"], ["DELAY", "SUCCESS"]]);
    const dsn = await build({ original: both, failures: [userUnknown, greylisted] });
    const blocks = parseStatusFields(splitMultipart(parsePart(dsn.body))[1]!.body);
    assert.deepEqual(
      blocks.slice(1).map((b) => b.get("Final-Recipient")),
      ["rfc822; b@example.com", "rfc822; c@example.net"],
    );
  });

  it("reports only the recipients that asked, in one DSN", async () => {
    const dsn = await build({ original: original({}, [[], null]), failures: [userUnknown, nullMx] });
    const blocks = parseStatusFields(splitMultipart(parsePart(dsn.body))[1]!.body);
    assert.equal(blocks.length, 2);
    assert.equal(blocks[1]!.get("Final-Recipient"), "rfc822; c@example.net");
    assert.doesNotMatch(dsn.body.toString(), /b@example\.com>:/);
  });

  it("sends a success report only to a recipient that explicitly asked for SUCCESS", async () => {
    assert.equal(await buildDsn(input({ original: original({}, [null, null]), failures: [relayed] })), null);
    assert.equal(
      await buildDsn(input({ original: original({}, [["FAILURE", "DELAY"], null]), failures: [relayed] })),
      null,
    );
    assert.equal(await buildDsn(input({ original: original({}, [[], null]), failures: [relayed] })), null);
    const dsn = await build({ original: original({}, [["SUCCESS"], null]), failures: [relayed] });
    const blocks = parseStatusFields(splitMultipart(parsePart(dsn.body))[1]!.body);
    assert.equal(blocks[1]!.get("Action"), "relayed");
    assert.equal(blocks[1]!.get("Status"), "2.0.0");
  });

  it("never sends a success report to the null sender", async () => {
    const nullSender = original({ sender: "" }, [["SUCCESS"], null]);
    assert.equal(await buildDsn(input({ original: nullSender, failures: [relayed] })), null);
  });

  it("throws on a failure index with no recipient (a caller bug)", async () => {
    await assert.rejects(buildDsn(input({ failures: [{ ...userUnknown, index: 7 }] })), /index 7/);
  });
});

describe("buildDsn: the notification message", () => {
  it("is a bounce from the null sender to the original sender, never notified itself", async () => {
    const dsn = await build({});
    assert.deepEqual(dsn.message, {
      sender: "",
      recipients: [{ address: "a@example.org", dsn: { notify: [], orcpt: null } }],
      dsn: { ret: null, envid: null },
      bodyType: "7BIT",
      smtpUtf8: false,
      clientAddress: "local",
      clientHelo: "mx.mailfleet.example",
      arrivedAt: Date.UTC(2026, 10, 23, 12, 0, 0),
      isBounce: true,
      tenant: null,
    });
  });

  it("has the RFC 3464 / RFC 3834 headers and a multipart/report structure", async () => {
    const dsn = await build({ failures: [userUnknown, nullMx] });
    const top = parsePart(dsn.body);
    assert.equal(top.headers.get("from"), "Mail Delivery System <MAILER-DAEMON@mx.mailfleet.example>");
    assert.equal(top.headers.get("to"), "a@example.org");
    assert.equal(top.headers.get("subject"), "Undelivered Mail Returned to Sender");
    assert.equal(top.headers.get("auto-submitted"), "auto-replied");
    assert.equal(top.headers.get("date"), "Mon, 23 Nov 2026 12:00:00 +0000");
    assert.match(top.headers.get("message-id") ?? "", /^<[^@>]+@mx\.mailfleet\.example>$/);
    assert.match(top.headers.get("content-type") ?? "", /^multipart\/report; report-type=delivery-status;/);
    const parts = splitMultipart(top);
    assert.deepEqual(
      parts.map((p) => p.headers.get("content-type")),
      ["text/plain; charset=us-ascii", "message/delivery-status", "text/rfc822-headers"],
    );
    const [perMessage, first, second] = parseStatusFields(parts[1]!.body);
    assert.equal(perMessage!.get("Reporting-MTA"), "dns; mx.mailfleet.example");
    assert.equal(perMessage!.get("Arrival-Date"), "Mon, 23 Nov 2026 11:00:00 +0000");
    assert.equal(perMessage!.has("Original-Envelope-Id"), false);
    assert.equal(first!.get("Action"), "failed");
    assert.equal(first!.get("Status"), "5.1.1");
    assert.equal(first!.get("Remote-MTA"), "dns; mx.example.com");
    assert.equal(
      first!.get("Diagnostic-Code"),
      "smtp; 550 5.1.1 <b@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
    );
    assert.equal(first!.has("Original-Recipient"), false);
    assert.equal(first!.has("Will-Retry-Until"), false);
    assert.equal(second!.has("Remote-MTA"), false);
    assert.equal(
      second!.get("Diagnostic-Code"),
      "X-mailfleet; 556 5.1.10 domain example.net does not accept mail (null MX)",
    );
    const text = parts[0]!.body.toString();
    assert.match(text, /<b@example\.com>: host mx\.example\.com said: 550 5\.1\.1/);
    assert.match(text, /<c@example\.net>: 556 5\.1\.10 domain example\.net/);
  });

  it("returns only the header block by default and with RET=HDRS", async () => {
    for (const ret of [null, "HDRS"] as const) {
      const dsn = await build({ original: original({ dsn: { ret, envid: null } }) });
      const returned = splitMultipart(parsePart(dsn.body))[2]!;
      assert.equal(returned.headers.get("content-type"), "text/rfc822-headers");
      assert.deepEqual(returned.body, headerBlock(originalBody));
      assert.doesNotMatch(dsn.body.toString(), /the numbers are attached/);
    }
  });

  it("returns the full message byte for byte with RET=FULL, carrying ENVID and ORCPT", async () => {
    const withParams = original({ dsn: { ret: "FULL", envid: "QQ314159" } });
    withParams.recipients[0]!.dsn.orcpt = "rfc822;Bob@Example.com";
    const dsn = await build({ original: withParams });
    const parts = splitMultipart(parsePart(dsn.body));
    assert.equal(parts[2]!.headers.get("content-type"), "message/rfc822");
    assert.deepEqual(parts[2]!.body, originalBody);
    const [perMessage, recipient] = parseStatusFields(parts[1]!.body);
    assert.equal(perMessage!.get("Original-Envelope-Id"), "QQ314159");
    assert.equal(recipient!.get("Original-Recipient"), "rfc822;Bob@Example.com");
  });

  it("keeps 8-bit content as 8bit and marks the DSN 8BITMIME", async () => {
    const body = Buffer.from("Subject: caf\u00e9\r\n\r\nd\u00e9j\u00e0 vu\r\n");
    const dsn = await build({
      original: original({ dsn: { ret: "FULL", envid: null }, bodyType: "8BITMIME", size: body.length }),
      originalBody: body,
    });
    assert.equal(dsn.message.bodyType, "8BITMIME");
    const returned = splitMultipart(parsePart(dsn.body))[2]!;
    assert.equal(returned.headers.get("content-transfer-encoding"), "8bit");
    assert.deepEqual(returned.body, body);
  });

  it("types UTF-8 addresses as utf-8 in a message/global-delivery-status (RFC 6533)", async () => {
    const utf8 = original({ sender: "j\u00f6rg@example.org", smtpUtf8: true });
    utf8.recipients[0]!.address = "b\u00fccher@example.com";
    const dsn = await build({ original: utf8 });
    assert.equal(dsn.message.smtpUtf8, true);
    assert.equal(dsn.message.recipients[0]!.address, "j\u00f6rg@example.org");
    const top = parsePart(dsn.body);
    assert.equal(top.headers.get("to"), "j\u00f6rg@example.org");
    const report = splitMultipart(top)[1]!;
    assert.equal(report.headers.get("content-type"), "message/global-delivery-status");
    const fields = parseStatusFields(report.body);
    assert.equal(fields[0]!.get("X-Mailfleet-Sender"), "utf-8; j\u00f6rg@example.org");
    assert.equal(fields[1]!.get("Final-Recipient"), "utf-8; b\u00fccher@example.com");
  });

  it("reports an expired message as failed 4.4.7 with the last error", async () => {
    const expired: DsnFailure = {
      index: 1,
      action: "failed",
      status: "4.4.7",
      reply: { code: 421, enhanced: "4.4.2", text: "mx.example.net: connection timed out" },
      remoteMta: "mx.example.net",
    };
    const dsn = await build({ failures: [expired] });
    const parts = splitMultipart(parsePart(dsn.body));
    const recipient = parseStatusFields(parts[1]!.body)[1]!;
    assert.equal(recipient.get("Action"), "failed");
    assert.equal(recipient.get("Status"), "4.4.7");
    assert.equal(recipient.get("Diagnostic-Code"), "smtp; 421 4.4.2 mx.example.net: connection timed out");
    assert.match(
      parts[0]!.body.toString().replace(/\r\n {4}/g, " "),
      /message delivery time expired; last error: host mx\.example\.net said: 421/,
    );
    assertGolden("expired.eml", dsn.body);
  });
});

describe("buildDsn: bounce classes", () => {
  it("reports each recipient's class in the status part and the text part", async () => {
    const dsn = await build({ failures: [{ ...userUnknown, bounceClass: "invalid_recipient" }] });
    const parts = splitMultipart(parsePart(dsn.body));
    const [, first] = parseStatusFields(parts[1]!.body);
    assert.equal(first!.get("X-Mailfleet-Bounce-Class"), "invalid_recipient");
    assert.match(parts[0]!.body.toString().replace(/\r\n\s+/g, " "), /\(class: invalid_recipient\)/);
    const unclassified = await build({ failures: [userUnknown] });
    assert.doesNotMatch(unclassified.body.toString(), /Bounce-Class|class:/);
  });
});

describe("buildDsn: golden files", () => {
  it("failed, headers returned", async () => {
    assertGolden("failed-headers.eml", (await build({ failures: [userUnknown, nullMx] })).body);
  });

  it("failed, full message returned with ENVID and ORCPT", async () => {
    const withParams = original({ dsn: { ret: "FULL", envid: "QQ314159" } });
    withParams.recipients[0]!.dsn.orcpt = "rfc822;Bob@Example.com";
    assertGolden("failed-full.eml", (await build({ original: withParams })).body);
  });

  it("delayed: a warning with Will-Retry-Until and headers only even with RET=FULL", async () => {
    const dsn = await build({
      original: original({ dsn: { ret: "FULL", envid: null } }),
      failures: [greylisted],
    });
    const top = parsePart(dsn.body);
    assert.equal(top.headers.get("subject"), "Delayed Mail (still being retried)");
    const parts = splitMultipart(top);
    assert.equal(
      parseStatusFields(parts[1]!.body)[1]!.get("Will-Retry-Until"),
      "Sat, 28 Nov 2026 11:00:00 +0000",
    );
    assert.equal(parts[2]!.headers.get("content-type"), "text/rfc822-headers");
    assertGolden("delayed.eml", dsn.body);
  });

  it("failed and delayed recipients in one report", async () => {
    assertGolden("mixed.eml", (await build({ failures: [userUnknown, greylisted] })).body);
  });

  it("relayed: a success report, headers only even with RET=FULL, no Will-Retry-Until", async () => {
    const dsn = await build({
      original: original({ dsn: { ret: "FULL", envid: "QQ314159" } }, [["SUCCESS", "FAILURE"], null]),
      failures: [relayed],
    });
    const top = parsePart(dsn.body);
    assert.equal(top.headers.get("subject"), "Successful Mail Delivery Report");
    const parts = splitMultipart(top);
    const recipient = parseStatusFields(parts[1]!.body)[1]!;
    assert.equal(recipient.get("Action"), "relayed");
    assert.equal(recipient.get("Status"), "2.0.0");
    assert.equal(recipient.get("Remote-MTA"), "dns; mx.example.com");
    assert.equal(recipient.has("Will-Retry-Until"), false);
    assert.equal(parts[2]!.headers.get("content-type"), "text/rfc822-headers");
    assert.doesNotMatch(dsn.body.toString(), /the numbers are attached/);
    assertGolden("relayed.eml", dsn.body);
  });

  it("delivered and relayed recipients in one success report", async () => {
    const delivered: DsnFailure = { ...relayed, index: 1, action: "delivered", remoteMta: "mx.example.net" };
    const dsn = await build({
      original: original({}, [["SUCCESS"], ["SUCCESS"]]),
      failures: [relayed, delivered],
    });
    const blocks = parseStatusFields(splitMultipart(parsePart(dsn.body))[1]!.body);
    assert.deepEqual(
      blocks.slice(1).map((b) => b.get("Action")),
      ["relayed", "delivered"],
    );
    assertGolden("success-mixed.eml", dsn.body);
  });
});
