import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { replyError, replyText, type SmtpConnection, useOwnEnhancedCodes } from "./replies.ts";

describe("replies", () => {
  it("puts the enhanced code first in the text and the basic code on the error", () => {
    const reply = { code: 554, enhanced: "5.7.1", text: "Relay access denied" };
    assert.equal(replyText(reply), "5.7.1 Relay access denied");
    const error = replyError(reply);
    assert.equal(error.responseCode, 554);
    assert.equal(error.message, "5.7.1 Relay access denied");
    assert.equal(replyText({ code: 250, enhanced: null, text: "Ok" }), "Ok");
  });

  it("useOwnEnhancedCodes stops smtp-server adding its own code only when ours matches the class", () => {
    const sent: unknown[][] = [];
    const connection = {
      send(code: number, data?: string | string[] | null, context?: string | false) {
        sent.push([code, data, context]);
      },
    } as unknown as SmtpConnection;
    useOwnEnhancedCodes(connection);
    connection.send(554, "5.7.1 Relay access denied");
    connection.send(250, "2.0.0 Ok: queued as X", "DATA_OK");
    connection.send(451, "5.7.1 class does not match");
    connection.send(250, "Accepted", "RCPT_TO_OK");
    assert.deepEqual(sent, [
      [554, "5.7.1 Relay access denied", false],
      [250, "2.0.0 Ok: queued as X", false],
      [451, "5.7.1 class does not match", undefined],
      [250, "Accepted", "RCPT_TO_OK"],
    ]);
  });
});
