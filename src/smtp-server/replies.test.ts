import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { enhancedCodeContext, replyError, replyText } from "./replies.ts";

describe("replies", () => {
  it("puts the enhanced code first in the text and the basic code on the error", () => {
    const reply = { code: 554, enhanced: "5.7.1", text: "Relay access denied" };
    assert.equal(replyText(reply), "5.7.1 Relay access denied");
    const error = replyError(reply);
    assert.equal(error.responseCode, 554);
    assert.equal(error.message, "5.7.1 Relay access denied");
    assert.equal(replyText({ code: 250, enhanced: null, text: "Ok" }), "Ok");
  });

  it("enhancedCodeContext stops smtp-server adding its own code only when ours matches the class", () => {
    assert.equal(enhancedCodeContext(554, "5.7.1 Relay access denied", undefined), false);
    assert.equal(enhancedCodeContext(250, "2.0.0 Ok: queued as X", "DATA_OK"), false);
    assert.equal(enhancedCodeContext(451, "5.7.1 class does not match", undefined), undefined);
    assert.equal(enhancedCodeContext(250, "Accepted", "RCPT_TO_OK"), "RCPT_TO_OK");
    assert.equal(enhancedCodeContext(250, ["a", "b"], "X"), "X");
  });
});
