import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { formatConfigError } from "./errors.ts";
import { parseConfig } from "./load.ts";
import { DEFAULT_PROVIDERS, parseStartDate } from "./schema-warmup.ts";

function parse(text: string) {
  return parseConfig(text, "m.yaml", "/etc/mf", { defaultHostname: "mta.example" });
}

describe("warm-up in the schema", () => {
  test("a source's warm-up: table and growth schedules, start date, overflow", () => {
    const result = parse(
      [
        "sources:",
        "  out2:",
        "    address: 127.0.0.2",
        "    warmup:",
        "      start_date: 2026-11-01",
        "      overflow: wait",
        "      schedules:",
        "        google: { days: [50, 100, 200] }",
        "        default: { start: 50, growth: 1.5, ceiling: 100000 }",
        "  out3: { address: 127.0.0.3 }",
        "providers:",
        '  google: ["*.google.test"]',
        '  fastmail: ["*.messagingengine.com"]',
      ].join("\n"),
    );
    if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
    const { sources, providers } = result.config;
    assert.deepEqual(sources.out2?.warmup, {
      startDate: Date.UTC(2026, 10, 1),
      overflow: "wait",
      schedules: {
        google: { kind: "table", days: [50, 100, 200] },
        default: { kind: "growth", start: 50, growth: 1.5, ceiling: 100000 },
      },
    });
    assert.equal(sources.out3?.warmup, undefined);
    // A provider of the file replaces the shipped one of its name; the others stay.
    assert.deepEqual(providers?.google, ["*.google.test"]);
    assert.deepEqual(providers?.microsoft, [...DEFAULT_PROVIDERS.microsoft!]);
    assert.deepEqual(providers?.fastmail, ["*.messagingengine.com"]);
  });

  test("the shipped providers apply without a providers key; overflow defaults to warm_ips", () => {
    const result = parse(
      "sources:\n  a:\n    address: 127.0.0.2\n    warmup: { start_date: 2026-11-01, schedules: { yahoo: { days: [5] } } }\n",
    );
    if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
    assert.equal(result.config.providers, undefined); // the shipped DEFAULT_PROVIDERS apply
    assert.equal(result.config.sources.a?.warmup?.overflow, "warm_ips");
  });

  test("bad schedules, dates and provider names are errors at their place", () => {
    const result = parse(
      [
        "sources:",
        "  a:",
        "    address: 127.0.0.2",
        "    warmup:",
        "      start_date: 2026-13-01",
        "      schedules:",
        "        gogle: { days: [5] }",
        "        default: { days: [5], start: 3 }",
      ].join("\n"),
    );
    assert.equal(result.ok, false);
    const text = result.ok ? "" : result.errors.map(formatConfigError).join("\n");
    assert.match(text, /m\.yaml:5:\d+.*start_date.*a date such as 2026-11-01/);
    assert.match(text, /m\.yaml:8:\d+.*either days/);
    const names = parse(
      "sources:\n  a:\n    address: 127.0.0.2\n    warmup: { start_date: 2026-11-01, schedules: { gogle: { days: [5] } } }\n",
    );
    assert.equal(names.ok, false);
    assert.match(names.ok ? "" : names.errors.map(formatConfigError).join("\n"), /gogle|provider named/);
  });

  test("start dates", () => {
    assert.equal(parseStartDate("2026-11-25"), Date.UTC(2026, 10, 25));
    assert.equal(parseStartDate("2026-02-30"), undefined);
    assert.equal(parseStartDate("tomorrow"), undefined);
  });
});
