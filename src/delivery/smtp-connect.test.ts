/**
 * Session setup against smtp-server: STARTTLS under each TLS policy (including a real
 * handshake failure and the plaintext fallback) and binding the transport's source address.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { connectorFixture, startReceiver, testJob, testSite, testTransport } from "./test-helpers.ts";

const { connector, opened, cleanups } = connectorFixture();

describe("smtp connect: TLS policy and source address", () => {
  it("binds the transport's source address", async () => {
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const transport = testTransport({ bindAddress: "127.0.0.2" });
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]], transport)));
    const o = (await session.deliver(testJob(["a@dest.test"])))[0]!;
    assert.ok(o.kind === "delivered");
    assert.equal(o.relay.sourceIp, "127.0.0.2");
    assert.equal(receiver.messages[0]?.remoteAddress, "127.0.0.2");
  });

  it("reports a source address that cannot be bound as a bind failure, not a site failure", async () => {
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    // 192.0.2.1 (TEST-NET-1) is assigned to no host: bind(2) fails with EADDRNOTAVAIL.
    const transport = testTransport({ bindAddress: "192.0.2.1" });
    const r = await connector.open(testSite(receiver.port, [["127.0.0.1"], ["127.0.0.1"]], transport));
    assert.ok(!r.ok);
    assert.deepEqual([r.bindFailed, r.scope, r.permanent, r.reply.code], [true, "source", false, 451]);
    assert.match(r.reply.text, /cannot bind source address 192\.0\.2\.1 .*EADDRNOTAVAIL/);
    assert.equal(receiver.messages.length, 0);
  });

  it("uses STARTTLS when offered under opportunistic TLS", async () => {
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const transport = testTransport({ tls: "opportunistic" });
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]], transport)));
    assert.equal((await session.deliver(testJob(["a@dest.test"])))[0]?.kind, "delivered");
    assert.equal(receiver.messages[0]?.secure, true);
  });

  it("falls back to plaintext when the STARTTLS handshake fails (opportunistic)", async () => {
    // The server only speaks TLS 1.0, which the client refuses: a real handshake failure.
    const receiver = await startReceiver({ minVersion: "TLSv1", maxVersion: "TLSv1" } as never);
    cleanups.push(() => receiver.close());
    const transport = testTransport({ tls: "opportunistic" });
    const session = opened(await connector.open(testSite(receiver.port, [["127.0.0.1"]], transport)));
    assert.equal((await session.deliver(testJob(["a@dest.test"])))[0]?.kind, "delivered");
    assert.equal(receiver.messages[0]?.secure, false);
    assert.equal(receiver.connections, 2);
  });

  it("defers when TLS is required and fails, and when it is not offered", async () => {
    const broken = await startReceiver({ minVersion: "TLSv1", maxVersion: "TLSv1" } as never);
    cleanups.push(() => broken.close());
    const noTls = await startReceiver({ hideSTARTTLS: true, disabledCommands: ["AUTH", "STARTTLS"] });
    cleanups.push(() => noTls.close());
    const transport = testTransport({ tls: "required" });
    for (const port of [broken.port, noTls.port]) {
      const r = await connector.open(testSite(port, [["127.0.0.1"]], transport));
      assert.ok(!r.ok, "open must fail");
      assert.equal(r.permanent, false);
      assert.equal(r.reply.enhanced, "4.7.5");
      assert.equal(r.scope, "destination");
    }
    assert.equal(broken.messages.length + noTls.messages.length, 0);
  });
});
