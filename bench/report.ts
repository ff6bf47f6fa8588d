/**
 * Turns the runs of one benchmark into figures: medians (and min–max) per setup, the ratios the
 * benchmark exists for (mailfleet vs Postfix, mailfleet vs the direct path), a markdown report,
 * and the JSON + markdown files under bench/results/.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FanoutResult, fanoutMarkdown } from "./fanout.ts";
import type { MachineFacts } from "./machine.ts";
import type { RunResult } from "./measure.ts";
import type { CommandTiming, QueueScaleResult } from "./queue-scale.ts";

export type SetupName = "mailfleet" | "postfix" | "direct";

export interface ScenarioRuns {
  id: string;
  title: string;
  messages: number;
  /** Runs in the order they were made (interleaved). */
  runs: { setup: SetupName; rep: number; result: RunResult | null; error: string | null }[];
  /** Why a setup has no runs at all (e.g. Postfix could not be installed). */
  skipped: Partial<Record<SetupName, string>>;
}

export interface Figure {
  median: number;
  min: number;
  max: number;
  n: number;
}

export interface SetupSummary {
  setup: SetupName;
  okRuns: number;
  failedRuns: number;
  inject: Figure | null;
  e2e: Figure | null;
  cpuSecondsPer1000: Figure | null;
  peakRssMiB: Figure | null;
  peakRssMethod: string | null;
  treePssMiB: Figure | null;
  systemCores: Figure | null;
  backlogAtInjectEnd: Figure | null;
}

export interface BenchReport {
  date: string;
  quick: boolean;
  /** BENCH_ONLY's scenarios, or null for all: a partial run is written beside a full one. */
  selection: string[] | null;
  repetitions: number;
  machine: MachineFacts;
  scenarios: { runs: ScenarioRuns; summary: SetupSummary[]; ratios: Record<string, number | null> }[];
  queueScale: QueueScaleResult | { skipped: string };
  fanout: FanoutResult | { skipped: string };
  notes: string[];
}

export function figure(values: (number | null)[]): Figure | null {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  const median = xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
  return { median, min: xs[0]!, max: xs.at(-1)!, n: xs.length };
}

const MiB = 1024 * 1024;

export function summarize(runs: ScenarioRuns): SetupSummary[] {
  const setups: SetupName[] = ["mailfleet", "postfix", "direct"];
  return setups.map((setup) => {
    const all = runs.runs.filter((r) => r.setup === setup);
    const ok = all.filter((r) => r.result !== null && r.result.error === null).map((r) => r.result!);
    const pick = (f: (r: RunResult) => number | null) => figure(ok.map(f));
    return {
      setup,
      okRuns: ok.length,
      failedRuns: all.length - ok.length,
      inject: pick((r) => r.injectRate),
      e2e: pick((r) => r.e2eRate),
      cpuSecondsPer1000: pick((r) => r.cpuSecondsPer1000),
      peakRssMiB: pick((r) => (r.peakRssBytes === null ? null : r.peakRssBytes / MiB)),
      peakRssMethod: ok[0]?.peakRssMethod ?? null,
      treePssMiB: pick((r) => (r.sampledTreePssBytes === null ? null : r.sampledTreePssBytes / MiB)),
      systemCores: pick((r) => r.systemCores),
      backlogAtInjectEnd: pick((r) => r.messages - r.deliveredAtInjectEnd),
    };
  });
}

export function ratios(summary: SetupSummary[]): Record<string, number | null> {
  const e2e = (s: SetupName) => summary.find((x) => x.setup === s)?.e2e?.median ?? null;
  const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);
  return {
    "mailfleet/postfix e2e": ratio(e2e("mailfleet"), e2e("postfix")),
    "mailfleet/direct e2e": ratio(e2e("mailfleet"), e2e("direct")),
    "postfix/direct e2e": ratio(e2e("postfix"), e2e("direct")),
  };
}

function fmt(f: Figure | null, digits = 0): string {
  if (f === null) return "–";
  const n = (x: number) =>
    x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  return f.n > 1 ? `${n(f.median)} (${n(f.min)}–${n(f.max)})` : n(f.median);
}

function ratioText(r: number | null): string {
  return r === null ? "–" : r.toFixed(2);
}

export function scenarioMarkdown(s: BenchReport["scenarios"][number]): string {
  const lines = [
    `### ${s.runs.id}: ${s.runs.title} (${s.runs.messages.toLocaleString("en-US")} messages per run)`,
    "",
    "| setup | runs ok | inject msgs/s | **e2e msgs/s** | MTA CPU s / 1,000 msgs | peak RSS MiB | tree PSS MiB | sys cores | backlog at inject end |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const x of s.summary) {
    const skipped = s.runs.skipped[x.setup];
    if (skipped) {
      lines.push(`| ${x.setup} | skipped: ${skipped.replace(/\|/g, "/").slice(0, 200)} | | | | | | | |`);
      continue;
    }
    const rssLabel = x.peakRssMethod === "VmHWM" ? " (VmHWM)" : x.peakRssMethod ? " (Σ PSS)" : "";
    lines.push(
      `| ${x.setup} | ${x.okRuns}/${x.okRuns + x.failedRuns} | ${fmt(x.inject)} | **${fmt(x.e2e)}** | ${fmt(x.cpuSecondsPer1000, 2)} | ${fmt(x.peakRssMiB)}${rssLabel} | ${fmt(x.treePssMiB)} | ${fmt(x.systemCores, 2)} | ${fmt(x.backlogAtInjectEnd)} |`,
    );
  }
  lines.push("", "| ratio (medians) | value |", "| --- | ---: |");
  for (const [name, value] of Object.entries(s.ratios)) lines.push(`| ${name} | ${ratioText(value)} |`);
  const failures = s.runs.runs.filter((r) => r.error !== null || r.result?.error);
  if (failures.length > 0) {
    lines.push("", "Failed runs:");
    for (const f of failures) {
      const why = (f.error ?? f.result?.error ?? "").replace(/\n+/g, " ⏎ ").slice(0, 600);
      lines.push(`- ${f.setup} rep ${f.rep}: ${why}`);
    }
  }
  return lines.join("\n");
}

function timing(t: CommandTiming | null): string {
  if (t === null) return "–";
  const err = t.stderr ? `, stderr: ${t.stderr.trim().slice(0, 300)}` : "";
  return `${t.seconds.toFixed(2)} s, exit ${t.exitCode}, ${(t.stdoutBytes / 1024).toFixed(1)} KiB${err}`;
}

export function queueScaleMarkdown(q: BenchReport["queueScale"]): string {
  if ("skipped" in q) return `### S3: queue scale\n\nskipped: ${q.skipped}`;
  const s = (x: number | null) => (x === null ? "–" : `${x.toFixed(2)} s`);
  const mib = (x: number | null) => (x === null ? "–" : `${Math.round(x / MiB).toLocaleString("en-US")} MiB`);
  const rows: [string, string][] = [
    ["messages in the spool (deferred, next try in 24 h)", q.messages.toLocaleString("en-US")],
    [
      "fill through createSpool().store()",
      `${s(q.fillSeconds)} (${Math.round(q.fillRate).toLocaleString("en-US")} msgs/s)`,
    ],
    ["spool size on disk", mib(q.spoolBytes)],
    ['start → "listening on"', s(q.listeningSeconds)],
    ["start → first 250 after DATA", s(q.firstAcceptSeconds)],
    ['start → "queue recovered" (every message back in the scheduler)', s(q.recoveredSeconds)],
    ["RSS at first 250 (supervisor + instance)", mib(q.rssAfterStartBytes)],
    ["RSS with the whole queue recovered", mib(q.rssRecoveredBytes)],
    ["peak RSS (Σ VmHWM, after the commands below)", mib(q.peakRssBytes)],
    ["`mailfleet queue summary`", timing(q.summary)],
    ["`mailfleet mailq -n 100` (first page)", timing(q.mailq)],
    ["graceful stop (SIGTERM → exit)", s(q.stopSeconds)],
  ];
  const lines = ["### S3: queue scale (mailfleet only)", "", "| measure | value |", "| --- | --- |"];
  for (const [k, v] of rows) lines.push(`| ${k} | ${v.replace(/\|/g, "/").replace(/\n/g, " ")} |`);
  if (q.error) lines.push("", `Error: ${q.error.replace(/\n+/g, " ⏎ ").slice(0, 800)}`);
  return lines.join("\n");
}

export function reportMarkdown(r: BenchReport): string {
  const m = r.machine;
  const lines = [
    `# mailfleet benchmark, ${r.date}${r.quick ? " (quick smoke run: figures are indicative only)" : ""}`,
    "",
    "Ratios measured in one run on this machine; absolute numbers drift between runs (see bench/README.md).",
    `Each figure: median (min–max) of ${r.repetitions} interleaved repetitions (mailfleet, Postfix, direct, mailfleet, …).`,
    "",
    "| machine | |",
    "| --- | --- |",
    `| CPU | ${m.nproc} × ${m.cpuModel} |`,
    `| RAM | ${m.memTotalGiB} GiB |`,
    `| OS / kernel | ${m.os} / ${m.kernel} |`,
    `| spool file system | ${m.spoolFs.source} mounted on ${m.spoolFs.mount}, ${m.spoolFs.fstype} (${m.spoolFs.options}), ${m.spoolFs.freeGiB} GiB free |`,
    `| load average at start | ${m.loadAtStart.join(" / ")} |`,
    `| software | Node ${m.node}, Postfix ${m.postfix ?? "n/a"} |`,
    "",
    ...r.scenarios.flatMap((s) => [scenarioMarkdown(s), ""]),
    queueScaleMarkdown(r.queueScale),
    "",
    fanoutMarkdown(r.fanout),
    "",
    "### How the figures are made",
    "",
    "- inject = messages ÷ time until smtp-source exited; e2e = messages ÷ time until smtp-sink's `-c` counter reached all of them.",
    "- MTA CPU = Δ(utime+stime+cutime+cstime) over the MTA's process tree (mailfleet: its node process(es); Postfix: master(s) and all descendants) ÷ messages × 1,000.",
    "- peak RSS: mailfleet = VmHWM of its process(es), summed over instances; Postfix = highest Σ PSS over master and all descendants, sampled every 0.5 s (Σ VmRSS would count the shared pages of ~100–200 processes many times). tree PSS = the same sampling for every MTA.",
    "- sys cores = busy time of all CPUs (steal included) ÷ e2e wall time; 2.0 = both cores saturated.",
    "- backlog at inject end = messages not yet at the sink when smtp-source exited.",
    ...r.notes.map((n) => `- ${n}`),
    "",
  ];
  return lines.join("\n");
}

export function writeResults(dir: string, r: BenchReport): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const part = r.selection ? `-${r.selection.join("+")}` : "";
  const base = join(dir, `${r.date}${r.quick ? "-quick" : ""}${part}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(`${base}.md`, reportMarkdown(r));
  return { json: `${base}.json`, md: `${base}.md` };
}
