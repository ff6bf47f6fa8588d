import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { postfixLmtpNexthop, postfixNexthop } from "./postfix-values.ts";

describe("Postfix nexthops", () => {
  it("smtp: bracketed, named services and inet: prefixes", () => {
    assert.equal(postfixNexthop("[relay.example]:submission"), "[relay.example]:587");
    assert.equal(postfixNexthop("inet:relay.example:2525"), "relay.example:2525");
    assert.equal(postfixNexthop("relay.example"), "relay.example");
    assert.equal(postfixNexthop("relay.example:nosuchservice"), undefined);
  });

  it("lmtp: sockets under the queue directory or absolute, hosts with port 24 by default", () => {
    const q = "/var/spool/postfix/";
    assert.equal(
      postfixLmtpNexthop("unix:private/dovecot-lmtp", q),
      "lmtp:unix:/var/spool/postfix/private/dovecot-lmtp",
    );
    assert.equal(postfixLmtpNexthop("unix:/run/dovecot/lmtp", q), "lmtp:unix:/run/dovecot/lmtp");
    assert.equal(postfixLmtpNexthop("inet:store.example:2424", q), "lmtp:[store.example]:2424");
    assert.equal(postfixLmtpNexthop("store.example", q), "lmtp:[store.example]:24");
    assert.equal(postfixLmtpNexthop("[10.0.0.5]", q), "lmtp:[10.0.0.5]:24");
    assert.equal(postfixLmtpNexthop("store.example:lmtp", q), "lmtp:[store.example]:24");
    assert.equal(postfixLmtpNexthop("unix:", q), undefined);
    assert.equal(postfixLmtpNexthop("a b", q), undefined);
  });
});
