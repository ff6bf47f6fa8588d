import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatConfigError } from "./errors.ts";
import { parseConfig } from "./load.ts";
import { parseRate } from "./schema-reputation.ts";

function parse(lines: string[]) {
  return parseConfig(lines.join("\n"), "mailfleet.yaml", "/srv/mf", { defaultHostname: "mx.example" });
}

const POOLS = [
  "sources: { s2: { address: 127.0.0.2 }, s3: { address: 127.0.0.3 }, q4: { address: 127.0.0.4 } }",
  "pools: { shared: { sources: [s2, s3] }, quarantine: { sources: [q4] } }",
  "transports: { mx: { pool: shared } }",
];

function errors(result: ReturnType<typeof parse>): string {
  return result.ok ? "" : result.errors.map(formatConfigError).join("\n");
}

describe("reputation.isolation config", () => {
  test("parses rates", () => {
    assert.equal(parseRate("0.3%"), 0.003);
    assert.equal(parseRate("3.2%"), 0.032);
    assert.equal(parseRate(0.05), 0.05);
    assert.equal(parseRate(null), null);
    assert.equal(parseRate("3"), undefined);
    assert.equal(parseRate("200%"), undefined);
  });

  test("normalises thresholds with defaults", () => {
    const result = parse([
      ...POOLS,
      "reputation:",
      "  isolation: { complaint_rate: 1%, quarantine_pool: quarantine }",
    ]);
    if (!result.ok) assert.fail(errors(result));
    assert.deepEqual(result.config.reputation?.isolation, {
      window: "24h",
      minMessages: 1000,
      complaintRate: 0.01,
      hardBounceRate: 0.05,
      blocklistReplies: 10,
      action: "quarantine",
      quarantinePool: "quarantine",
    });
  });

  test("quarantine needs a configured pool, with the line", () => {
    const missing = parse([...POOLS, "reputation:", "  isolation: { action: quarantine }"]);
    assert.match(errors(missing), /mailfleet\.yaml:\d+:.*quarantine_pool/);
    const unknown = parse([...POOLS, "reputation:", "  isolation: { quarantine_pool: jail }"]);
    assert.match(errors(unknown), /quarantine_pool.*pool \(one of shared, quarantine\)/);
    const pause = parse([...POOLS, "reputation:", "  isolation: { action: pause }"]);
    assert.equal(pause.ok, true, errors(pause));
  });

  test("the quarantine pool's sources are its own", () => {
    const shared = parse([
      "sources: { s2: { address: 127.0.0.2 }, q4: { address: 127.0.0.4 } }",
      "pools: { shared: { sources: [s2, q4] }, quarantine: { sources: [q4] } }",
      "reputation:",
      "  isolation: { quarantine_pool: quarantine }",
    ]);
    assert.match(errors(shared), /source "q4" is also in pool "shared"/);
    const used = parse([
      ...POOLS.slice(0, 2),
      "transports: { mx: { pool: quarantine } }",
      "reputation:",
      "  isolation: { quarantine_pool: quarantine }",
    ]);
    assert.match(errors(used), /transport "mx" uses "quarantine"/);
    const bound = parse([
      ...POOLS.slice(0, 2),
      "transports: { mx: { bind_address: 127.0.0.4 } }",
      "reputation:",
      "  isolation: { quarantine_pool: quarantine }",
    ]);
    assert.match(errors(bound), /transport "mx" binds 127\.0\.0\.4/);
  });
});
