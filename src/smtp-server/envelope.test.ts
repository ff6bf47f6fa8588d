import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SMTPServerSession } from "smtp-server";
import { toNewMessage } from "./envelope.ts";

/** Only the fields toNewMessage reads; the rest of a session does not matter here. */
function session(fields: { envelope: Partial<SMTPServerSession["envelope"]>; helo?: string | false }) {
  return {
    remoteAddress: "::ffff:192.0.2.9",
    hostNameAppearsAs: fields.helo ?? "client.example",
    envelope: { mailFrom: false, rcptTo: [], ...fields.envelope },
  } as unknown as SMTPServerSession;
}

describe("toNewMessage", () => {
  it("maps the envelope, DSN parameters and client facts", () => {
    const message = toNewMessage(
      session({
        envelope: {
          mailFrom: { address: "s@src.example", args: false },
          rcptTo: [
            { address: "a@x.example", args: false, dsn: { notify: ["NEVER"] } },
            {
              address: "b@x.example",
              args: false,
              dsn: { notify: ["SUCCESS", "DELAY"], orcpt: "rfc822;b@x" },
            },
            { address: "c@x.example", args: false },
          ],
          bodyType: "8bitmime",
          smtpUtf8: true,
          dsn: { ret: "HDRS", envid: "id-1" },
        },
      }),
      1234,
    );
    assert.deepEqual(message, {
      sender: "s@src.example",
      recipients: [
        { address: "a@x.example", dsn: { notify: [], orcpt: null } },
        { address: "b@x.example", dsn: { notify: ["SUCCESS", "DELAY"], orcpt: "rfc822;b@x" } },
        { address: "c@x.example", dsn: { notify: null, orcpt: null } },
      ],
      dsn: { ret: "HDRS", envid: "id-1" },
      bodyType: "8BITMIME",
      smtpUtf8: true,
      clientAddress: "192.0.2.9",
      clientHelo: "client.example",
      arrivedAt: 1234,
      isBounce: false,
      tenant: null,
    });
  });

  it("defaults: null sender, 7BIT, no DSN, no HELO", () => {
    const message = toNewMessage(
      session({ envelope: { mailFrom: { address: "", args: false }, bodyType: "7bit" }, helo: false }),
      0,
    );
    assert.equal(message.sender, "");
    assert.equal(message.bodyType, "7BIT");
    assert.equal(message.smtpUtf8, false);
    assert.deepEqual(message.dsn, { ret: null, envid: null });
    assert.equal(message.clientHelo, "");
  });
});
