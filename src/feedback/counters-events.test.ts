import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { QueuedMessage } from "../spool/types.ts";
import type { Counters } from "./counters.ts";
import { createFeedbackSink, providerOf } from "./counters-events.ts";
import type { FeedbackEvent } from "./types.ts";

describe("counter events from delivery outcomes", () => {
  it("names the provider by the MX host's registrable domain, else the recipient's", () => {
    assert.equal(providerOf("gmail-smtp-in.l.google.com", "a@gmail.com"), "google.com");
    assert.equal(providerOf("mx1.mail.example.co.uk.", null), "example.co.uk");
    assert.equal(providerOf(null, "someone@Mail.Example.org"), "example.org");
    assert.equal(providerOf(null, null), null);
  });

  it("records one event per outcome, with tenant, source IP and class", () => {
    const events: FeedbackEvent[] = [];
    const counters = { record: (e: FeedbackEvent) => events.push(e) } as unknown as Counters;
    const sink = createFeedbackSink({
      counters,
      attribution: null,
      classify: () => "rate_limited",
      now: () => 5,
    });
    const message = {
      id: "0F2K3M4N5P6Q7R8S9T0V",
      sender: "a@shop.example",
      tenant: "shop",
      recipients: [{ address: "x@gmail.com" }, { address: "y@gmail.com" }],
    } as unknown as QueuedMessage;
    const relay = { host: "mx.google.com", ip: "192.0.2.1", port: 25, sourceIp: "198.51.100.7" };
    sink.outcomes(message, [
      { kind: "delivered", recipientIndex: 0, reply: { code: 250, enhanced: null, text: "ok" }, relay },
      {
        kind: "deferred",
        recipientIndex: 1,
        reply: { code: 421, enhanced: "4.7.0", text: "slow down" },
        scope: "destination",
        relay,
      },
    ]);
    assert.deepEqual(events, [
      { kind: "delivered", tenant: "shop", sourceIp: "198.51.100.7", provider: "google.com", at: 5 },
      {
        kind: "deferred",
        tenant: "shop",
        sourceIp: "198.51.100.7",
        provider: "google.com",
        bounceClass: "rate_limited",
        at: 5,
      },
    ]);
  });
});
