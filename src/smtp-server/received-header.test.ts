import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatReceivedHeader, formatRfc5322Date, protocolName } from "./received-header.ts";

const date = new Date(Date.UTC(2025, 5, 3, 9, 5, 7));

describe("formatReceivedHeader", () => {
  it("folds the clauses and names the single recipient", () => {
    const header = formatReceivedHeader({
      clientHelo: "client.example",
      clientAddress: "192.0.2.1",
      hostname: "mx.example",
      protocol: "ESMTP",
      recipients: ["user@example.com"],
      date,
    });
    assert.equal(
      header,
      "Received: from client.example (unknown [192.0.2.1])\r\n" +
        "\tby mx.example (mailfleet) with ESMTP\r\n" +
        "\tfor <user@example.com>; Tue, 3 Jun 2025 09:05:07 +0000\r\n",
    );
  });

  it("leaves `for` out with several recipients, and marks IPv6 literals", () => {
    const header = formatReceivedHeader({
      clientHelo: "",
      clientAddress: "2001:db8::1",
      hostname: "mx.example",
      protocol: "ESMTPS",
      recipients: ["a@example.com", "b@example.com"],
      date,
    });
    assert.equal(
      header,
      "Received: from unknown (unknown [IPv6:2001:db8::1])\r\n" +
        "\tby mx.example (mailfleet) with ESMTPS; Tue, 3 Jun 2025 09:05:07 +0000\r\n",
    );
  });

  it("cannot be broken by client-chosen values", () => {
    const header = formatReceivedHeader({
      clientHelo: "evil)\r\nX-Injected: 1 (",
      clientAddress: "192.0.2.1",
      hostname: "mx.example",
      protocol: "ESMTP",
      recipients: ["a>\r\nX-Bad: 1@example.com"],
      date,
    });
    assert.equal(header.split("\r\n").length, 4); // three lines plus the empty rest after the last CRLF
    assert.doesNotMatch(header, /\r\nX-/);
    assert.match(header, /^Received: from evil\?\?\?X-Injected:\?1\?\? \(unknown/);
  });
});

describe("protocolName", () => {
  it("follows RFC 3848 and RFC 6531", () => {
    const base = { ehlo: true, tls: false, authenticated: false, smtpUtf8: false };
    assert.equal(protocolName(base), "ESMTP");
    assert.equal(protocolName({ ...base, ehlo: false }), "SMTP");
    assert.equal(protocolName({ ...base, tls: true, authenticated: true }), "ESMTPSA");
    assert.equal(protocolName({ ...base, smtpUtf8: true, tls: true }), "UTF8SMTPS");
  });
});

describe("formatRfc5322Date", () => {
  it("pads time but not the day", () => {
    assert.equal(
      formatRfc5322Date(new Date(Date.UTC(2024, 11, 31, 23, 0, 9))),
      "Tue, 31 Dec 2024 23:00:09 +0000",
    );
  });
});
