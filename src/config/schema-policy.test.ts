import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { formatConfigError } from "./errors.ts";
import { parseConfig } from "./load.ts";

function fleetOf(text: string) {
  const result = parseConfig(text, "fleet.yaml", "/srv/mf", { defaultHostname: "mx.example" });
  if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
  return result.fleet;
}

function errorsOf(text: string): string[] {
  const result = parseConfig(text, "fleet.yaml", "/srv/mf", { defaultHostname: "mx.example" });
  assert.equal(result.ok, false, "expected the file to be refused");
  return result.ok ? [] : result.errors.map(formatConfigError);
}

const FLEET = `
instances:
  submission: { role: submission }
  input: { role: input }
  output: { role: output }
`;

describe("policy: section", () => {
  test("defaults: authentication checks on for input only; no limits, rspamd or DNSBL anywhere", () => {
    const fleet = fleetOf(FLEET);
    const input = fleet.instances.input!.policy;
    assert.deepEqual(input.authentication, {
      enabled: true,
      arc: true,
      enforceDmarcReject: false,
      authservId: "mx.example",
    });
    for (const name of ["submission", "output"]) {
      const policy = fleet.instances[name]!.policy;
      assert.equal(policy.authentication.enabled, false, name);
      assert.equal(policy.rspamd, null);
      assert.deepEqual(policy.dnsbl, { zones: [], checkAt: "connect" });
      assert.deepEqual(policy.rateLimits.clientIp, {
        concurrentConnections: 0,
        connectionsPerMinute: 0,
        messagesPerMinute: 0,
        recipientsPerMinute: 0,
      });
    }
    const single = parseConfig("", "one.yaml", "/srv/mf", { defaultHostname: "mx.example" });
    assert.ok(single.ok);
    assert.equal(single.config.policy.authentication.enabled, false, "role all: off unless enabled");
  });

  test("every key set", () => {
    const fleet = fleetOf(`
instances:
  input:
    role: input
    policy:
      rate_limits:
        client_ip: { concurrent_connections: 10, connections_per_minute: 60, messages_per_minute: 100, recipients_per_minute: 500 }
        user: { messages_per_minute: 20 }
        sender_domain: { recipients_per_minute: 1000 }
        max_keys: 5000
      authentication: { enabled: false, arc: false, enforce_dmarc_reject: true, authserv_id: mx.in.example }
      rspamd:
        url: http://127.0.0.1:11333/
        timeout: 3s
        fail: closed
        actions: { greylist: accept, rewrite_subject: reject }
      dnsbl: { zones: [Zen.Spamhaus.org., bl.example], check_at: rcpt }
  output: { role: output }
`);
    const policy = fleet.instances.input!.policy;
    assert.deepEqual(policy.rateLimits, {
      clientIp: {
        concurrentConnections: 10,
        connectionsPerMinute: 60,
        messagesPerMinute: 100,
        recipientsPerMinute: 500,
      },
      user: {
        concurrentConnections: 0,
        connectionsPerMinute: 0,
        messagesPerMinute: 20,
        recipientsPerMinute: 0,
      },
      senderDomain: {
        concurrentConnections: 0,
        connectionsPerMinute: 0,
        messagesPerMinute: 0,
        recipientsPerMinute: 1000,
      },
      maxKeys: 5000,
    });
    assert.deepEqual(policy.authentication, {
      enabled: false,
      arc: false,
      enforceDmarcReject: true,
      authservId: "mx.in.example",
    });
    assert.deepEqual(policy.rspamd, {
      url: "http://127.0.0.1:11333",
      timeoutMs: 3000,
      fail: "closed",
      actions: {
        reject: "reject",
        soft_reject: "soft_reject",
        rewrite_subject: "reject",
        add_header: "add_header",
        greylist: "accept",
        no_action: "accept",
      },
    });
    assert.deepEqual(policy.dnsbl, { zones: ["zen.spamhaus.org", "bl.example"], checkAt: "rcpt" });
  });

  test("rspamd: {} turns rspamd on at its default address, failing open", () => {
    const fleet = fleetOf("policy: { rspamd: {} }\n");
    assert.equal(fleet.instances.main!.policy.rspamd?.url, "http://127.0.0.1:11333");
    assert.equal(fleet.instances.main!.policy.rspamd?.fail, "open");
    assert.equal(fleet.instances.main!.policy.rspamd?.timeoutMs, 10_000);
  });

  test("bad values are reported at their place", () => {
    const errors = errorsOf(`policy:
  rate_limits:
    client_ip: { connections_per_minute: -1 }
  rspamd: { url: "ftp://x", fail: sometimes, actions: { reject: drop } }
  dnsbl: { zones: ["not a zone"], check_at: mail }
`);
    const text = errors.join("\n");
    assert.match(text, /3:\d+: policy\.rate_limits\.client_ip\.connections_per_minute: .*an integer >= 0/);
    assert.match(text, /policy\.rspamd\.url: .*an http:\/\/ URL/);
    assert.match(text, /policy\.rspamd\.fail: .*open, closed/);
    assert.match(text, /policy\.rspamd\.actions\.reject: .*reject, soft_reject, add_header, accept/);
    assert.match(text, /policy\.dnsbl\.zones\.0: .*a DNSBL zone/);
    assert.match(text, /policy\.dnsbl\.check_at: .*connect, rcpt/);
  });
});
