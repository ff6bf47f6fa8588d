/**
 * Scenario: routes pick the transport, and so the source IP. Recipients whose domain is hosted
 * on "Google" MX hosts (matched by MX pattern, whatever the domain is called) leave from
 * 127.0.0.2, "Yahoo" domains from 127.0.0.3; transactional and marketing senders leave from
 * different IPs; anything else takes the default transport (the OS's address, 127.0.0.1).
 * The counting receiver on 127.0.0.1 sees the client address of each message.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type CountingReceiver, startCountingReceiver } from "../support/counting-receiver.ts";
import { eventually, startWorld, type World } from "../support/e2e-world.ts";
import { type InjectedMessage, injectMessages } from "../support/smtp-inject.ts";

describe("routing", () => {
  let world: World;
  let receiver: CountingReceiver;

  before(async () => {
    receiver = await startCountingReceiver();
    const mx = (host: string) => ({ mx: [{ preference: 10, exchange: host }] });
    const at = { a: ["127.0.0.1"] };
    const out = (extra: Record<string, unknown>) => ({
      nexthop: "mx",
      port: receiver.port,
      retry_schedule: ["1s"],
      idle_timeout: "1s",
      ...extra,
    });
    world = await startWorld({
      mxPort: receiver.port,
      zone: {
        "gmail.test": mx("gmail-smtp-in.l.google.test"),
        "hosted-at-google.test": mx("aspmx.l.google.test"),
        "gmail-smtp-in.l.google.test": at,
        "aspmx.l.google.test": at,
        "yahoo.test": mx("mta5.am0.yahoodns.test"),
        "mail.yahoo.test": mx("mta5.am0.yahoodns.test"),
        "mta5.am0.yahoodns.test": at,
        "plain.test": mx("mx.plain.test"),
        "mx.plain.test": at,
      },
      config: {
        sources: { g2: { address: "127.0.0.2", helo: "g2.mailfleet.test" } },
        pools: { google: { strategy: "round_robin", sources: ["g2"] } },
        transports: {
          gmail: out({ pool: "google" }),
          yahoo: out({ bind_address: "127.0.0.3", helo: "y3.mailfleet.test" }),
          transactional: out({ bind_address: "127.0.0.4" }),
          marketing: out({ bind_address: "127.0.0.5" }),
        },
        routes: [
          { name: "google-hosted", match: { mx: ["*.google.test"] }, transport: "gmail" },
          { match: { recipient_domain: ["yahoo.test", ".yahoo.test"] }, transport: "yahoo" },
          { name: "bulk", match: { sender_domain: ["news.client.test"] }, transport: "marketing" },
          { match: { sender: ["receipts@client.test"] }, transport: "transactional" },
        ],
      },
    });
  });

  after(async () => {
    await world?.close();
    await receiver?.close();
  });

  async function deliver(
    messages: InjectedMessage[],
  ): Promise<Map<string, { client: string; helo: string }>> {
    await injectMessages(world.smtpPort, messages, 2);
    return eventually("every message at the receiver", () => {
      const seen = new Map(
        receiver.messages.map((m) => [m.subject ?? "", { client: m.clientAddress, helo: m.helo }]),
      );
      return messages.every((m) => seen.has(m.subject)) ? seen : undefined;
    });
  }

  it("routes by the recipient's MX host and domain to different source IPs", {
    timeout: 30_000,
  }, async () => {
    const seen = await deliver([
      { from: "a@client.test", to: ["u@gmail.test"], subject: "to gmail" },
      { from: "a@client.test", to: ["u@hosted-at-google.test"], subject: "to a google-hosted domain" },
      { from: "a@client.test", to: ["u@yahoo.test"], subject: "to yahoo" },
      { from: "a@client.test", to: ["u@mail.yahoo.test"], subject: "to a yahoo subdomain" },
      { from: "a@client.test", to: ["u@plain.test"], subject: "to anyone else" },
    ]);
    assert.deepEqual(seen.get("to gmail"), { client: "127.0.0.2", helo: "g2.mailfleet.test" });
    assert.deepEqual(seen.get("to a google-hosted domain"), {
      client: "127.0.0.2",
      helo: "g2.mailfleet.test",
    });
    assert.deepEqual(seen.get("to yahoo"), { client: "127.0.0.3", helo: "y3.mailfleet.test" });
    assert.deepEqual(seen.get("to a yahoo subdomain"), { client: "127.0.0.3", helo: "y3.mailfleet.test" });
    assert.equal(seen.get("to anyone else")?.client, "127.0.0.1");
  });

  it("routes transactional and marketing senders to different source IPs", { timeout: 30_000 }, async () => {
    const seen = await deliver([
      { from: "receipts@client.test", to: ["buyer@plain.test"], subject: "your receipt" },
      { from: "offers@news.client.test", to: ["buyer@plain.test"], subject: "big sale" },
      { from: "other@client.test", to: ["buyer@plain.test"], subject: "a note" },
    ]);
    assert.equal(seen.get("your receipt")?.client, "127.0.0.4");
    assert.equal(seen.get("big sale")?.client, "127.0.0.5");
    assert.equal(seen.get("a note")?.client, "127.0.0.1");
  });
});
