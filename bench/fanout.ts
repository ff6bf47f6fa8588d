/**
 * S4, fan-out across pools: 50 destination domains routed (by `recipient_domain`) to 5
 * transports that send from 8 source IPs (127.0.0.2-127.0.0.9) through pools of each strategy,
 * with per-destination limits on (concurrency, one rate_delay, one max_per_hour). A loopback DNS
 * server gives each domain its own MX host with its own address (127.0.1.N), so each domain is
 * its own destination site, and the sink (fanout-sink.ts) can tell sites apart by the address a
 * session arrived at. Measures the end-to-end rate and compares what the sink saw per
 * (source IP, site) with the configured limits: reported, not asserted.
 *
 * mailfleet only: Postfix cannot pick a source IP per transport from a pool (see bench/README.md).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startDnsServer, type ZoneSpec } from "../test/support/dns-server.ts";
import { freePort } from "../test/support/ports.ts";
import { postfixTool } from "../test/support/postfix-tools.ts";
import { type FanoutSink, type PairStats, startFanoutSink } from "./fanout-sink.ts";
import { startMailfleetProcess } from "./mailfleet-peer.ts";
import { statusBytes, systemCpu, treeCpuSeconds } from "./proc-stats.ts";

const DOMAINS = 50;
const SOURCES = 8; // 127.0.0.2 .. 127.0.0.9

interface TransportPlan {
  name: string;
  /** YAML flow-map text of the pool, or null for a single bind_address. */
  pool: string;
  concurrency: number;
  rateDelayMs: number;
  maxPerHour: number;
}

/** 5 transports over 8 sources: every strategy, shared and single-IP pools, one of each limit. */
const TRANSPORTS: TransportPlan[] = [
  {
    name: "t1",
    pool: "{ strategy: round_robin, sources: [s2, s3] }",
    concurrency: 3,
    rateDelayMs: 0,
    maxPerHour: 0,
  },
  {
    name: "t2",
    pool: "{ strategy: weighted, sources: [s4, { source: s5, weight: 3 }] }",
    concurrency: 2,
    rateDelayMs: 0,
    maxPerHour: 0,
  },
  {
    name: "t3",
    pool: "{ strategy: sticky, sources: [s6, s7] }",
    concurrency: 4,
    rateDelayMs: 50,
    maxPerHour: 0,
  },
  {
    name: "t4",
    pool: "{ strategy: round_robin, sources: [s8, s9] }",
    concurrency: 2,
    rateDelayMs: 0,
    maxPerHour: 100_000,
  },
  {
    name: "t5",
    pool: "{ strategy: round_robin, sources: [s2, s3, s4, s5, s6, s7, s8, s9] }",
    concurrency: 1,
    rateDelayMs: 0,
    maxPerHour: 0,
  },
];

const domainName = (i: number) => `d${String(i + 1).padStart(2, "0")}.fanout.test`;
const siteAddress = (i: number) => `127.0.1.${i + 1}`;
const transportOf = (i: number) => TRANSPORTS[i % TRANSPORTS.length]!;

export interface LimitViolation {
  sourceIp: string;
  domain: string;
  transport: string;
  what: "concurrency" | "rate_delay" | "max_per_hour";
  limit: number;
  seen: number;
}

export interface FanoutResult {
  messages: number;
  domains: number;
  sources: number;
  delivered: number;
  injectSeconds: number;
  e2eSeconds: number | null;
  injectRate: number;
  e2eRate: number | null;
  cpuSecondsPer1000: number;
  peakRssBytes: number;
  systemCores: number;
  /** From mailfleet's delivery log: events, and deliveries per source IP. */
  outcomes: Record<string, number>;
  /** (source IP, site) pairs the sink saw, and the largest figure of each limit over them. */
  pairsSeen: number;
  maxOpenSeen: Record<string, number>;
  violations: LimitViolation[];
  misrouted: number;
  transports: TransportPlan[];
  postfix: string;
  error: string | null;
}

function configYaml(dir: string, port: number, dnsPort: number, sinkPort: number): string {
  const lines = [
    "hostname: fanout.bench.test",
    `spool_dir: ${join(dir, "spool")}`,
    `listen: ["127.0.0.1:${port}"]`,
    "limits: { min_free_disk: 100MiB }",
    `dns: { servers: ["127.0.0.1:${dnsPort}"], timeout: 2s, tries: 2 }`,
    "delivery: { allow_private_destinations: true }",
    "sources:",
  ];
  for (let s = 2; s < 2 + SOURCES; s++)
    lines.push(`  s${s}: { address: 127.0.0.${s}, helo: s${s}.fanout.test }`);
  lines.push("pools:");
  for (const t of TRANSPORTS) lines.push(`  ${t.name}: ${t.pool}`);
  lines.push("transports:");
  for (const t of TRANSPORTS) {
    const rate = t.rateDelayMs > 0 ? `, rate_delay: ${t.rateDelayMs}ms` : "";
    const hourly = t.maxPerHour > 0 ? `, max_per_hour: ${t.maxPerHour}` : "";
    lines.push(
      `  ${t.name}: { pool: ${t.name}, port: ${sinkPort}, tls: none, concurrency: ${t.concurrency}${rate}${hourly}, max_messages_per_connection: 1000, idle_timeout: 5s, retry_schedule: [2s] }`,
    );
  }
  lines.push("routes:");
  for (const t of TRANSPORTS) {
    const domains = Array.from({ length: DOMAINS }, (_, i) => i).filter((i) => transportOf(i) === t);
    lines.push(
      `  - { match: { recipient_domain: [${domains.map(domainName).join(", ")}] }, transport: ${t.name} }`,
    );
  }
  lines.push(`log: { file: ${join(dir, "delivery.log")} }`, "admin: { listen: null }", "");
  return lines.join("\n");
}

function zone(): ZoneSpec {
  const spec: ZoneSpec = {};
  for (let i = 0; i < DOMAINS; i++) {
    spec[domainName(i)] = { mx: [{ preference: 10, exchange: `mx.${domainName(i)}` }], ttl: 3600 };
    spec[`mx.${domainName(i)}`] = { a: [siteAddress(i)], ttl: 3600 };
  }
  return spec;
}

/** One smtp-source per domain, `-s 1`, messages split evenly: every domain gets the same share. */
function runSources(port: number, messages: number, timeoutMs: number) {
  const tool = postfixTool("smtp-source");
  const startedAt = performance.now();
  const children: ChildProcess[] = [];
  const exits: Promise<{ code: number | null; stderr: string }>[] = [];
  for (let i = 0; i < DOMAINS; i++) {
    const share = Math.floor(messages / DOMAINS) + (i < messages % DOMAINS ? 1 : 0);
    if (share === 0) continue;
    const args = ["-s", "1", "-m", String(share), "-l", "4096", "-f", "bench@source.example"];
    args.push("-t", `rcpt@${domainName(i)}`, "-M", "client.example", `127.0.0.1:${port}`);
    const child = spawn(tool.path, args, { env: tool.env, stdio: ["ignore", "ignore", "pipe"] });
    children.push(child);
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-1000);
    });
    exits.push(new Promise((resolve) => child.once("exit", (code) => resolve({ code, stderr }))));
  }
  const timer = setTimeout(() => {
    for (const c of children) c.kill("SIGKILL");
  }, timeoutMs);
  const done = Promise.all(exits).then((results) => {
    clearTimeout(timer);
    const failed = results.filter((r) => r.code !== 0);
    return {
      endedAt: performance.now(),
      error:
        failed.length === 0
          ? null
          : `${failed.length} smtp-source exited non-zero: ${failed[0]!.stderr.trim()}`,
    };
  });
  return { startedAt, done };
}

export function limitViolations(pairs: PairStats[]): LimitViolation[] {
  const byAddress = new Map(Array.from({ length: DOMAINS }, (_, i) => [siteAddress(i), i]));
  const violations: LimitViolation[] = [];
  for (const p of pairs) {
    const i = byAddress.get(p.destination);
    if (i === undefined) continue;
    const t = transportOf(i);
    const base = { sourceIp: p.sourceIp, domain: domainName(i), transport: t.name };
    if (p.maxOpen > t.concurrency)
      violations.push({ ...base, what: "concurrency", limit: t.concurrency, seen: p.maxOpen });
    if (t.rateDelayMs > 0 && p.minGapMs !== null && p.minGapMs < t.rateDelayMs - RATE_GAP_SLACK_MS) {
      violations.push({
        ...base,
        what: "rate_delay",
        limit: t.rateDelayMs,
        seen: Math.round(p.minGapMs * 10) / 10,
      });
    }
    if (t.maxPerHour > 0 && p.messages > t.maxPerHour) {
      violations.push({ ...base, what: "max_per_hour", limit: t.maxPerHour, seen: p.messages });
    }
  }
  return violations;
}

function logOutcomes(path: string): Record<string, number> {
  const counts: Record<string, number> = {};
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return counts;
  }
  for (const line of text.split("\n")) {
    const event = line.split(" ")[3]; // time, instance, id, event
    if (!event) continue;
    counts[event] = (counts[event] ?? 0) + 1;
    const source = / source=(\S+)/.exec(line)?.[1];
    if (event === "delivered" && source)
      counts[`delivered_from_${source}`] = (counts[`delivered_from_${source}`] ?? 0) + 1;
  }
  return counts;
}

/**
 * The gap is measured at the receiver: mailfleet spaces the *starts* of deliveries, and each
 * message then crosses a busy event loop and loopback TCP before its MAIL FROM arrives, so two
 * successive arrivals can come a few ms closer than the starts were (seen: up to 4.5 ms).
 */
const RATE_GAP_SLACK_MS = 5;

export async function runFanout(options: {
  workDir: string;
  messages: number;
  postfix: string;
}): Promise<FanoutResult> {
  const dir = join(options.workDir, "mailfleet-fanout");
  mkdirSync(dir, { recursive: true });
  const dns = await startDnsServer(zone());
  let sink: FanoutSink | null = null;
  let mailfleet: Awaited<ReturnType<typeof startMailfleetProcess>> | null = null;
  try {
    sink = await startFanoutSink(
      new Map(Array.from({ length: DOMAINS }, (_, i) => [siteAddress(i), domainName(i)])),
    );
    const port = await freePort();
    const configPath = join(dir, "mailfleet.yaml");
    writeFileSync(configPath, configYaml(dir, port, dns.port, sink.port));
    mailfleet = await startMailfleetProcess(configPath, dir);
    const pid = mailfleet.pid;
    const cpuBefore = treeCpuSeconds([pid]);
    const sysBefore = systemCpu();
    const timeoutMs = Math.max(60_000, options.messages * 50);
    const source = runSources(port, options.messages, timeoutMs);
    let death: string | null = null;
    const died = mailfleet.died.then((why) => {
      death = why;
      return null;
    });
    const sinkDone = Promise.race([sink.waitForCount(options.messages, timeoutMs), died]);
    const sourceResult = await source.done;
    const doneAt = await sinkDone;
    const cpuAfter = treeCpuSeconds([pid]);
    const sysAfter = systemCpu();
    const peakRssBytes = statusBytes(pid, "VmHWM");
    await new Promise((r) => setTimeout(r, 300));
    const pairs = sink.pairs();
    const e2eSeconds = doneAt === null ? null : (doneAt - source.startedAt) / 1000;
    const injectSeconds = (sourceResult.endedAt - source.startedAt) / 1000;
    const sysWall = ((doneAt ?? performance.now()) - source.startedAt) / 1000;
    const maxOpenSeen: Record<string, number> = {};
    for (const p of pairs) {
      const t = transportOf(Number(p.destination.split(".")[3]) - 1).name;
      maxOpenSeen[t] = Math.max(maxOpenSeen[t] ?? 0, p.maxOpen);
    }
    return {
      messages: options.messages,
      domains: DOMAINS,
      sources: SOURCES,
      delivered: sink.count(),
      injectSeconds,
      e2eSeconds,
      injectRate: options.messages / injectSeconds,
      e2eRate: e2eSeconds === null ? null : options.messages / e2eSeconds,
      cpuSecondsPer1000: ((cpuAfter - cpuBefore) / options.messages) * 1000,
      peakRssBytes,
      systemCores: (sysAfter.busy - sysBefore.busy) / 100 / sysWall,
      outcomes: logOutcomes(join(dir, "delivery.log")),
      pairsSeen: pairs.length,
      maxOpenSeen,
      violations: limitViolations(pairs),
      misrouted: sink.misrouted(),
      transports: TRANSPORTS,
      postfix: options.postfix,
      error:
        death ??
        sourceResult.error ??
        (doneAt === null
          ? `sink counted ${sink.count()}/${options.messages} within ${timeoutMs / 1000} s`
          : null),
    };
  } finally {
    await mailfleet?.stop();
    await sink?.stop();
    await dns.close();
  }
}

export const FANOUT_POSTFIX_NA =
  "n/a: Postfix has no per-transport source-IP pools (one smtp_bind_address per master.cf service; rotating IPs needs one service per IP plus randmap/external policy machinery)";

export function fanoutMarkdown(r: FanoutResult | { skipped: string }): string {
  const title = "### S4: fan-out across pools (50 domains, 5 transports, 8 source IPs, limits on)";
  if ("skipped" in r) return `${title}\n\nskipped: ${r.skipped}`;
  const n = (x: number | null, d = 0) =>
    x === null ? "–" : x.toLocaleString("en-US", { maximumFractionDigits: d });
  const lines = [
    title,
    "",
    `One run of ${r.messages.toLocaleString("en-US")} messages, one smtp-source per domain (\`-s 1\`), each domain its own MX site (127.0.1.N via a loopback DNS server).`,
    "",
    "| setup | inject msgs/s | **e2e msgs/s** | MTA CPU s / 1,000 msgs | peak RSS MiB (VmHWM) | sys cores | delivered |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    `| mailfleet | ${n(r.injectRate)} | **${n(r.e2eRate)}** | ${n(r.cpuSecondsPer1000, 2)} | ${n(r.peakRssBytes / 2 ** 20)} | ${n(r.systemCores, 2)} | ${r.delivered}/${r.messages} |`,
    `| postfix | ${r.postfix} | | | | | |`,
    "",
    "| transport | pool | concurrency | rate_delay | max_per_hour | max sessions seen per (IP, site) |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
    ...r.transports.map(
      (t) =>
        `| ${t.name} | \`${t.pool}\` | ${t.concurrency} | ${t.rateDelayMs ? `${t.rateDelayMs} ms` : "–"} | ${t.maxPerHour || "–"} | ${r.maxOpenSeen[t.name] ?? "–"} |`,
    ),
    "",
    r.violations.length === 0
      ? `limits: ok (${r.pairsSeen} (source IP, site) pairs checked)`
      : `limits: ${r.violations.length} violations: ${r.violations
          .slice(0, 20)
          .map(
            (v) =>
              `${v.sourceIp}→${v.domain} (${v.transport}) ${
                v.what === "rate_delay"
                  ? `rate_delay: shortest MAIL FROM gap ${v.seen} ms < ${v.limit} ms`
                  : `${v.what}: ${v.seen} > ${v.limit}`
              }`,
          )
          .join("; ")}`,
    `misrouted recipients at the sink: ${r.misrouted}`,
    `outcomes (delivery log): ${Object.entries(r.outcomes)
      .map(([k, v]) => `${k}=${v}`)
      .join(", ")}`,
  ];
  if (r.error) lines.push("", `Error: ${r.error.replace(/\n+/g, " ⏎ ").slice(0, 800)}`);
  return lines.join("\n");
}
