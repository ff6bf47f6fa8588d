import assert from "node:assert/strict";
import { test } from "node:test";
import type { RunResult } from "./measure.ts";
import { figure, ratios, type ScenarioRuns, summarize } from "./report.ts";

function run(e2eRate: number | null, error: string | null = null): RunResult {
  return {
    messages: 100,
    delivered: 100,
    injectSeconds: 1,
    e2eSeconds: e2eRate === null ? null : 100 / e2eRate,
    injectRate: 100,
    e2eRate,
    cpuSecondsPer1000: 1,
    peakRssBytes: null,
    peakRssMethod: null,
    sampledTreePssBytes: null,
    sampledTreeRssBytes: null,
    systemCores: 2,
    deliveredAtInjectEnd: 100,
    sourceExit: 0,
    outcomes: null,
    error,
  };
}

test("figure is the median with min and max, ignoring missing values", () => {
  assert.deepEqual(figure([3, null, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  assert.deepEqual(figure([4, 1]), { median: 2.5, min: 1, max: 4, n: 2 });
  assert.equal(figure([null]), null);
});

test("failed runs are left out of the medians and the ratios use e2e medians", () => {
  const runs: ScenarioRuns = {
    id: "S1",
    title: "t",
    messages: 100,
    skipped: {},
    runs: [
      { setup: "mailfleet", rep: 1, result: run(300), error: null },
      { setup: "mailfleet", rep: 2, result: run(10, "sink counted 5/100"), error: null },
      { setup: "postfix", rep: 1, result: run(200), error: null },
      { setup: "direct", rep: 1, result: run(1000), error: null },
      { setup: "direct", rep: 2, result: null, error: "could not start" },
    ],
  };
  const summary = summarize(runs);
  const mailfleet = summary.find((s) => s.setup === "mailfleet")!;
  assert.equal(mailfleet.okRuns, 1);
  assert.equal(mailfleet.failedRuns, 1);
  assert.equal(mailfleet.e2e?.median, 300);
  const r = ratios(summary);
  assert.equal(r["mailfleet/postfix e2e"], 1.5);
  assert.equal(r["mailfleet/direct e2e"], 0.3);
});
