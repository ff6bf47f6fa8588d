import assert from "node:assert/strict";
import { describe, test } from "node:test";

import type { RateLimitValues } from "../config/types.ts";
import type { SessionFacts } from "../smtp-server/types.ts";
import { clientKey } from "./ip.ts";
import { createRateLimitCheck, senderDomain } from "./rate-limit.ts";
import { createMemoryRateLimitStore } from "./rate-limit-store.ts";

const NONE: RateLimitValues = {
  concurrentConnections: 0,
  connectionsPerMinute: 0,
  messagesPerMinute: 0,
  recipientsPerMinute: 0,
};

function setup(limits: {
  clientIp?: Partial<RateLimitValues>;
  user?: Partial<RateLimitValues>;
  senderDomain?: Partial<RateLimitValues>;
}) {
  let t = 600_000;
  const store = createMemoryRateLimitStore({ now: () => t });
  const check = createRateLimitCheck(
    {
      clientIp: { ...NONE, ...limits.clientIp },
      user: { ...NONE, ...limits.user },
      senderDomain: { ...NONE, ...limits.senderDomain },
      maxKeys: 1000,
    },
    store,
  );
  return { check, store, advance: (ms: number) => (t += ms) };
}

let sessions = 0;
function session(clientAddress = "192.0.2.1", user: string | null = null): SessionFacts {
  sessions++;
  return {
    id: `s${sessions}`,
    clientAddress,
    helo: "client.test",
    tls: false,
    user,
    listener: "127.0.0.1:25",
    trusted: false,
  };
}

describe("rate limits per client IP", () => {
  test("concurrent connections: 421 4.7.0 at connect; a close frees the slot", async () => {
    const { check } = setup({ clientIp: { concurrentConnections: 2 } });
    const a = session();
    const b = session();
    assert.equal(await check.onConnect(a), null);
    assert.equal(await check.onConnect(b), null);
    const third = session();
    const refused = await check.onConnect(third);
    assert.equal(refused?.code, 421);
    assert.equal(refused?.enhanced, "4.7.0");
    assert.match(refused?.text ?? "", /concurrent connections from client \[192\.0\.2\.1\]/);
    await check.onClose(third); // the listener may report the refused one's close too
    assert.notEqual(await check.onConnect(session()), null, "a refused session freed nothing");
    await check.onClose(a);
    assert.equal(await check.onConnect(session()), null);
    assert.equal(await check.onConnect(session("192.0.2.9")), null, "other clients are not affected");
  });

  test("connections per minute: 421 4.7.0, and allowed again a window later", async () => {
    const { check, advance } = setup({ clientIp: { connectionsPerMinute: 2 } });
    assert.equal(await check.onConnect(session()), null);
    assert.equal(await check.onConnect(session()), null);
    const refused = await check.onConnect(session());
    assert.deepEqual(
      [refused?.code, refused?.enhanced, refused?.text],
      [421, "4.7.0", "Too many connections from client [192.0.2.1], try again later"],
    );
    advance(120_000);
    assert.equal(await check.onConnect(session()), null);
  });

  test("a connection refused by the rate keeps no concurrent slot", async () => {
    const { check, store } = setup({ clientIp: { concurrentConnections: 5, connectionsPerMinute: 1 } });
    const first = session();
    assert.equal(await check.onConnect(first), null);
    assert.equal((await check.onConnect(session()))?.code, 421);
    await check.onClose(first);
    assert.equal(store.size.slots, 0);
  });

  test("messages per minute: 450 4.7.1 at MAIL", async () => {
    const { check } = setup({ clientIp: { messagesPerMinute: 2 } });
    const s = session();
    assert.equal(await check.onMail(s, "a@example.com"), null);
    assert.equal(await check.onMail(s, "b@example.org"), null);
    const refused = await check.onMail(s, "c@example.net");
    assert.deepEqual([refused?.code, refused?.enhanced], [450, "4.7.1"]);
    assert.match(refused?.text ?? "", /Too many messages from client \[192\.0\.2\.1\]/);
  });

  test("recipients per minute: 452 4.5.3 at RCPT", async () => {
    const { check } = setup({ clientIp: { recipientsPerMinute: 3 } });
    const s = session();
    for (let i = 0; i < 3; i++) assert.equal(await check.onRcpt(s, "a@example.com"), null);
    const refused = await check.onRcpt(s, "a@example.com");
    assert.deepEqual([refused?.code, refused?.enhanced], [452, "4.5.3"]);
  });

  test("IPv6 clients are counted per /64", async () => {
    const { check } = setup({ clientIp: { connectionsPerMinute: 1 } });
    assert.equal(await check.onConnect(session("2001:db8:1:2::1")), null);
    assert.equal((await check.onConnect(session("2001:db8:1:2:ffff::9")))?.code, 421);
    assert.equal(await check.onConnect(session("2001:db8:1:3::1")), null);
    assert.equal(clientKey("2001:db8:1:2::1"), "2001:db8:1:2::/64");
    assert.equal(clientKey("::ffff:192.0.2.7"), "192.0.2.7");
  });
});

describe("rate limits per user and per sender domain", () => {
  test("messages per minute per authenticated user, across client IPs", async () => {
    const { check } = setup({ user: { messagesPerMinute: 1 } });
    assert.equal(await check.onMail(session("192.0.2.1", "Alice"), "a@example.com"), null);
    const refused = await check.onMail(session("192.0.2.2", "alice"), "a@example.com");
    assert.equal(refused?.code, 450);
    assert.match(refused?.text ?? "", /from user alice/);
    assert.equal(await check.onMail(session("192.0.2.2"), "a@example.com"), null, "unauthenticated: no user");
    await check.onMail(session("192.0.2.3", "eve\r\n250 ok"), "a@example.com");
    const injected = await check.onMail(session("192.0.2.3", "eve\r\n250 ok"), "a@example.com");
    assert.equal(injected?.text, "Too many messages from user eve??250?ok, try again later");
  });

  test("recipients per minute per sender domain; the null sender has no domain", async () => {
    const { check } = setup({ senderDomain: { recipientsPerMinute: 1 } });
    assert.equal(await check.onRcpt(session("192.0.2.1"), "a@Example.COM"), null);
    const refused = await check.onRcpt(session("192.0.2.2"), "b@example.com");
    assert.deepEqual([refused?.code, refused?.enhanced], [452, "4.5.3"]);
    assert.match(refused?.text ?? "", /from sender domain example\.com/);
    assert.equal(await check.onRcpt(session(), ""), null);
    assert.equal(await check.onRcpt(session(), ""), null);
  });

  test("concurrent connections per user are counted once per session, at its first MAIL", async () => {
    const { check, store } = setup({ user: { concurrentConnections: 1 } });
    const a = session("192.0.2.1", "bob");
    assert.equal(await check.onMail(a, "bob@example.com"), null);
    assert.equal(await check.onMail(a, "bob@example.com"), null, "the same session again");
    const refused = await check.onMail(session("192.0.2.2", "bob"), "bob@example.com");
    assert.deepEqual([refused?.code, refused?.enhanced], [421, "4.7.0"]);
    await check.onClose(a);
    assert.equal(await check.onMail(session("192.0.2.3", "bob"), "bob@example.com"), null);
    assert.equal(store.size.slots, 1);
  });

  test("connections per minute per sender domain", async () => {
    const { check } = setup({ senderDomain: { connectionsPerMinute: 1 } });
    const s = session();
    assert.equal(await check.onMail(s, "a@example.com"), null);
    assert.equal(await check.onMail(s, "b@example.com"), null, "one session is one connection");
    assert.equal((await check.onMail(session(), "c@example.com"))?.code, 421);
  });

  test("without any limit the check is inactive and keeps no state", async () => {
    const { check, store } = setup({});
    assert.equal(check.active, false);
    assert.equal(await check.onConnect(session()), null);
    assert.equal(store.size.windows + store.size.slots, 0);
  });

  test("senderDomain", () => {
    assert.equal(senderDomain("a@Example.COM"), "example.com");
    assert.equal(senderDomain(""), null);
    assert.equal(senderDomain("postmaster"), null);
  });
});
