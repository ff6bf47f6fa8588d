/**
 * LMTP delivery (RFC 2033) against nodemailer's smtp-server in LMTP mode, over TCP and over a
 * Unix socket: LHLO, a recipient refused at RCPT, and after the message one reply per
 * recipient, each deciding that recipient's outcome (none of them sent again in a new
 * transaction).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { SMTPServer } from "smtp-server";
import type { TransportConfig } from "../config/types.ts";
import { connectorFixture, outcomeSummary, testJob, testSite, testTransport } from "./test-helpers.ts";
import type { Site } from "./types.ts";

const { connector, opened, cleanups } = connectorFixture();

interface Store {
  server: SMTPServer;
  greetings: string[];
  transactions: { rcpt: string[]; body: string }[];
}

/** An LMTP mail store: nobody@ is unknown, full@ is over quota (452), gone@ was deleted (550). */
function startStore(): Store {
  const store: Store = {
    greetings: [],
    transactions: [],
    server: new SMTPServer({
      lmtp: true,
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      logger: false,
      onRcptTo(address, _session, callback) {
        if (address.address.startsWith("nobody@")) {
          callback(Object.assign(new Error("5.1.1 <nobody@dest.test>: user unknown"), { responseCode: 550 }));
        } else callback();
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          store.greetings.push(session.hostNameAppearsAs);
          const rcpt = session.envelope.rcptTo.map((r) => r.address);
          store.transactions.push({ rcpt, body: Buffer.concat(chunks).toString() });
          callback(
            null,
            rcpt.map((address) => {
              if (address.startsWith("full@"))
                return Object.assign(new Error("4.2.2 Mailbox full"), { responseCode: 452 });
              if (address.startsWith("gone@"))
                return Object.assign(new Error("5.1.1 Mailbox deleted"), { responseCode: 550 });
              return `2.0.0 <${address}> saved`;
            }) as unknown as string,
          );
        });
      },
    }),
  };
  return store;
}

const RECIPIENTS = ["a@dest.test", "nobody@dest.test", "full@dest.test", "gone@dest.test", "b@dest.test"];

async function deliverEach(site: Site, store: Store) {
  const session = opened(await connector.open(site));
  const outcomes = await session.deliver(testJob(RECIPIENTS));
  assert.deepEqual(outcomeSummary(outcomes), [
    [0, "delivered", 250, null],
    [1, "bounced", 550, "recipient"],
    [2, "deferred", 452, "recipient"],
    [3, "bounced", 550, "recipient"],
    [4, "delivered", 250, null],
  ]);
  // Each delivered recipient carries its own reply, not the last one the store gave.
  assert.equal(outcomes[0]?.reply.text, "<a@dest.test> saved");
  assert.equal(outcomes[4]?.reply.text, "<b@dest.test> saved");
  assert.equal(outcomes[2]?.reply.enhanced, "4.2.2");
  assert.equal(store.transactions.length, 1, "a 452 after the message is not a 'too many recipients'");
  assert.deepEqual(store.transactions[0]?.rcpt, [
    "a@dest.test",
    "full@dest.test",
    "gone@dest.test",
    "b@dest.test",
  ]);
  assert.match(store.transactions[0]?.body ?? "", /Subject: test\r\n/);
  assert.deepEqual(store.greetings, ["mta.test"], "LHLO with the transport's HELO name");
  // The session carries the next message.
  assert.equal((await session.deliver(testJob(["c@dest.test"])))[0]?.kind, "delivered");
  return outcomes;
}

describe("LMTP delivery", () => {
  it("over TCP: per-recipient replies after the message decide each outcome", async () => {
    const store = startStore();
    await new Promise<void>((resolve) => store.server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => store.server.close(() => resolve())));
    const { port } = store.server.server.address() as { port: number };
    const transport: TransportConfig = testTransport({
      nexthop: { kind: "lmtp", host: "127.0.0.1", port, socketPath: null },
    });
    const outcomes = await deliverEach(testSite(port, [["127.0.0.1"]], transport), store);
    assert.equal(outcomes[0]?.kind === "delivered" && outcomes[0].relay.port, port);
  });

  it("over a Unix socket: the same, with the socket as the relay", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mailfleet-lmtp-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, "lmtp.sock");
    const store = startStore();
    await new Promise<void>((resolve) => store.server.listen(path, resolve));
    cleanups.push(() => new Promise<void>((resolve) => store.server.close(() => resolve())));
    const transport = testTransport({ nexthop: { kind: "lmtp", host: null, port: null, socketPath: path } });
    const site: Site = {
      key: `out|lmtp:unix:${path}`,
      transport,
      port: 0,
      hosts: [{ name: `lmtp:unix:${path}`, preference: 0, addresses: [path] }],
    };
    const outcomes = await deliverEach(site, store);
    assert.deepEqual(outcomes[0]?.kind === "delivered" && outcomes[0].relay, {
      host: `lmtp:unix:${path}`,
      ip: path,
      port: 0,
      sourceIp: null,
    });
  });

  it("a store that is not there: a temporary failure naming the socket", async () => {
    const transport = testTransport({
      nexthop: { kind: "lmtp", host: null, port: null, socketPath: "/nonexistent/lmtp.sock" },
    });
    const result = await connector.open({
      key: "out|lmtp:unix:/nonexistent/lmtp.sock",
      transport,
      port: 0,
      hosts: [
        { name: "lmtp:unix:/nonexistent/lmtp.sock", preference: 0, addresses: ["/nonexistent/lmtp.sock"] },
      ],
    });
    assert.equal(result.ok, false);
    assert.ok(!result.ok && !result.permanent);
    assert.match(!result.ok ? result.reply.text : "", /lmtp:unix:\/nonexistent\/lmtp\.sock/);
  });
});
