import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { overrideOf, parseMasterCf } from "./master-cf.ts";

describe("parseMasterCf", () => {
  it("reads services with -o overrides on continuation lines, skipping commented-out ones", () => {
    const text = [
      "# service type private unpriv chroot wakeup maxproc command",
      "smtp      inet  n       -       y       -       -       smtpd",
      "gmail-transport unix - - n - - smtp",
      "  -o smtp_bind_address=127.0.0.2",
      "#  -o smtp_helo_timeout=5",
      "  -o smtp_destination_concurrency_limit=10 -v",
    ].join("\n");
    const { services, problems } = parseMasterCf(text);
    assert.deepEqual(problems, []);
    assert.equal(services.length, 2);
    const gmail = services[1]!;
    assert.equal(gmail.name, "gmail-transport");
    assert.equal(gmail.type, "unix");
    assert.equal(gmail.command, "smtp");
    assert.equal(gmail.line, 3);
    assert.deepEqual(gmail.overrides, [
      { name: "smtp_bind_address", value: "127.0.0.2" },
      { name: "smtp_destination_concurrency_limit", value: "10" },
    ]);
    assert.deepEqual(gmail.args, ["-v"]);
    assert.equal(services[0]!.command, "smtpd");
  });

  it("understands -o { name = value } with whitespace in the value", () => {
    const text =
      "submission inet n - y - - smtpd -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\n";
    const [service] = parseMasterCf(text).services;
    assert.deepEqual(service?.overrides, [
      { name: "smtpd_client_restrictions", value: "permit_sasl_authenticated, reject" },
    ]);
  });

  it("keeps the last -o for a name and leaves $variables unexpanded", () => {
    const [service] = parseMasterCf(
      "relay unix - - n - - smtp -o a=1 -o a=2 -o syslog_name=postfix/$service_name\n",
    ).services;
    assert.ok(service);
    assert.equal(overrideOf(service, "a"), "2");
    assert.equal(overrideOf(service, "syslog_name"), "postfix/$service_name");
    assert.equal(overrideOf(service, "missing"), undefined);
  });

  it("reports short lines, a dangling -o and an unbalanced brace", () => {
    const { services, problems } = parseMasterCf(
      "short unix - -\nx unix - - n - - smtp -o\ny unix - - n - - smtp -o { a = b\n",
    );
    assert.equal(services.length, 1);
    assert.deepEqual(
      problems.map((p) => p.line),
      [1, 2, 3],
    );
  });
});
