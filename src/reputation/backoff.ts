/**
 * Adaptive backoff, the state machine: per source IP x destination site, a deferral that
 * matches a backoff rule (backoff-rules.ts) SUSPENDS deliveries for the rule's time, after
 * which the pair runs at a REDUCED rate (the minimum interval between delivery starts doubles:
 * max(transport rate_delay, reduced_rate_floor) x 2), then RAMPS back: every
 * `ramp_after_successes` successful deliveries the interval is divided by `ramp_factor`, until
 * it is back at the transport's rate_delay (NORMAL: the state is forgotten). A new match while
 * reduced suspends again and doubles the interval again.
 *
 * The ready queue of each source IP x site (src/scheduler/site-queue.ts) asks `suspension()`
 * before it starts a delivery and `rateDelayMs()` for its start interval, and reports what the
 * peer answered through `observe()`. Time is the instance clock (a test clock can skip a
 * suspension); the state lives in memory, per process: a restart forgets it (deliberately
 * simple; a restarted instance meets the same reply again and re-learns it within one attempt).
 */
import type { Logger } from "pino";
import type { Clock } from "../instance/clock.ts";
import type { RecipientOutcome, Reply } from "../message/types.ts";
import { type BackoffRule, type BackoffRules, matchBackoffRule } from "./backoff-rules.ts";

/** What the ready queue tells the controller about itself. */
export interface BackoffSite {
  key: string;
  hosts: readonly { name: string }[];
}

/** The ready queue's view (src/scheduler/site-queue.ts). */
export interface BackoffGate {
  /** null when a delivery may start now; else the reply to defer the job with. */
  suspension(source: string | null, site: BackoffSite): Reply | null;
  /** The start interval to keep, given the transport's own rate_delay. */
  rateDelayMs(source: string | null, site: BackoffSite, configuredMs: number): number;
  /** What one delivery (or a failed connection: `reply`) got from the peer. */
  observe(
    source: string | null,
    site: BackoffSite,
    what: RecipientOutcome[] | Reply,
    configuredMs: number,
  ): void;
}

export type BackoffStep = "suspend" | "resume" | "ramp" | "normal";

/** One logged step (operational log + delivery log line). */
export interface BackoffEvent {
  step: BackoffStep;
  source: string;
  site: string;
  rule: string;
  /** suspend: when the suspension ends (Unix ms). */
  until: number | null;
  /** The start interval from now on (0 = the transport's own limits again). */
  delayMs: number;
  /** suspend: the reply that matched. */
  reply: Reply | null;
}

/** One source IP x site under backoff, as the admin API shows it (GET /v1/backoff). */
export interface BackoffEntryView {
  source: string;
  site: string;
  /** The site's MX host names. */
  hosts: string[];
  state: "suspended" | "reduced";
  /** ISO time the suspension ends (state "suspended"), else null. */
  until: string | null;
  /** Minimum interval between delivery starts once (or while) resumed. */
  delayMs: number;
  /** The transport's own rate_delay the ramp goes back to. */
  baseDelayMs: number;
  /** How many times the rate was halved (matches since the pair was last normal). */
  halvings: number;
  /** Successful deliveries counted towards the next ramp step, of `rampAfter`. */
  successes: number;
  rampAfter: number;
  rule: string;
  lastReply: string;
  /** ISO time of the last match. */
  since: string;
}

export interface BackoffListing {
  entries: BackoffEntryView[];
  /** Where the rules came from. */
  rules: string;
}

interface State {
  source: string;
  site: string;
  hosts: string[];
  phase: "suspended" | "reduced";
  until: number;
  delayMs: number;
  baseMs: number;
  halvings: number;
  successes: number;
  rule: string;
  lastReply: string;
  since: number;
}

export interface BackoffControllerOptions {
  rules: BackoffRules;
  clock: Clock;
  logger: Logger;
  /** Each step, for the delivery log. */
  record?: (event: BackoffEvent) => void;
}

export class BackoffController implements BackoffGate {
  readonly #rules: BackoffRules;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #record: (event: BackoffEvent) => void;
  readonly #states = new Map<string, State>();

  constructor(options: BackoffControllerOptions) {
    this.#rules = options.rules;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#record = options.record ?? (() => {});
  }

  suspension(source: string | null, site: BackoffSite): Reply | null {
    const state = this.#current(source, site.key);
    if (state?.phase !== "suspended") return null;
    return {
      code: 451,
      enhanced: "4.7.0",
      text: `backoff: ${state.source} -> ${state.site} suspended until ${new Date(state.until).toISOString()} (rule ${state.rule})`,
    };
  }

  rateDelayMs(source: string | null, site: BackoffSite, configuredMs: number): number {
    const state = this.#current(source, site.key);
    return state ? Math.max(configuredMs, state.delayMs) : configuredMs;
  }

  observe(
    source: string | null,
    site: BackoffSite,
    what: RecipientOutcome[] | Reply,
    configuredMs: number,
  ): void {
    const hosts = site.hosts.map((h) => h.name);
    const replies = Array.isArray(what)
      ? what.flatMap((o) => (o.kind === "deferred" ? [{ reply: o.reply, host: o.relay?.host }] : []))
      : [{ reply: what, host: undefined }];
    for (const { reply, host } of replies) {
      const rule = matchBackoffRule(this.#rules.rules, host ? [host, ...hosts] : hosts, reply);
      if (rule) {
        this.#suspend(source, site.key, hosts, rule, reply, configuredMs);
        return;
      }
    }
    if (Array.isArray(what) && what.some((o) => o.kind === "delivered")) this.#succeeded(source, site.key);
  }

  /** Every source IP x site under backoff now (suspended or reduced). */
  list(): BackoffListing {
    const entries: BackoffEntryView[] = [];
    for (const key of [...this.#states.keys()]) {
      const [source, site] = splitKey(key);
      const state = this.#current(source, site);
      if (state) entries.push(this.#view(state));
    }
    entries.sort((a, b) => a.source.localeCompare(b.source) || a.site.localeCompare(b.site));
    return { entries, rules: this.#rules.source };
  }

  /** The state of one pair, resolving a suspension that has run out (logs the resume). */
  #current(source: string | null, siteKey: string): State | null {
    const key = stateKey(source, siteKey);
    const state = this.#states.get(key);
    if (!state) return null;
    if (state.phase === "suspended" && this.#clock.now() >= state.until) {
      state.phase = "reduced";
      state.successes = 0;
      this.#step("resume", state, null);
    }
    return state;
  }

  #suspend(
    source: string | null,
    siteKey: string,
    hosts: string[],
    rule: BackoffRule,
    reply: Reply,
    baseMs: number,
  ): void {
    const now = this.#clock.now();
    const state = this.#current(source, siteKey);
    // Deliveries that were already under way when the suspension began answer alike: one
    // suspension, one halving.
    if (state?.phase === "suspended") return;
    const floor = Math.max(baseMs, this.#rules.settings.floorMs);
    const next: State = {
      source: source ?? "default",
      site: siteKey,
      hosts,
      phase: "suspended",
      until: now + rule.suspendMs,
      delayMs: Math.max(state?.delayMs ?? floor, floor) * 2,
      baseMs,
      halvings: (state?.halvings ?? 0) + 1,
      successes: 0,
      rule: rule.name,
      lastReply: formatReply(reply),
      since: now,
    };
    this.#states.set(stateKey(source, siteKey), next);
    this.#step("suspend", next, reply);
  }

  #succeeded(source: string | null, siteKey: string): void {
    const state = this.#current(source, siteKey);
    if (state?.phase !== "reduced") return;
    state.successes++;
    if (state.successes < this.#rules.settings.rampAfter) return;
    state.successes = 0;
    state.delayMs = Math.round(state.delayMs / this.#rules.settings.rampFactor);
    if (state.delayMs <= Math.max(state.baseMs, this.#rules.settings.floorMs)) {
      this.#states.delete(stateKey(source, siteKey));
      state.delayMs = 0;
      this.#step("normal", state, null);
      return;
    }
    if (state.halvings > 1) state.halvings--;
    this.#step("ramp", state, null);
  }

  #step(step: BackoffStep, state: State, reply: Reply | null): void {
    const event: BackoffEvent = {
      step,
      source: state.source,
      site: state.site,
      rule: state.rule,
      until: step === "suspend" ? state.until : null,
      delayMs: state.delayMs,
      reply,
    };
    const fields = {
      backoff: step,
      source: state.source,
      site: state.site,
      rule: state.rule,
      ...(event.until !== null ? { until: new Date(event.until).toISOString() } : {}),
      delayMs: state.delayMs,
      ...(reply ? { reply: formatReply(reply) } : {}),
    };
    const what: Record<BackoffStep, string> = {
      suspend: "backoff: source IP x site suspended after a rate-limit deferral",
      resume: "backoff: suspension over, resuming at a reduced rate",
      ramp: "backoff: rate raised one step",
      normal: "backoff: back at the configured rate",
    };
    if (step === "suspend") this.#logger.warn(fields, what[step]);
    else this.#logger.info(fields, what[step]);
    this.#record(event);
  }

  #view(state: State): BackoffEntryView {
    return {
      source: state.source,
      site: state.site,
      hosts: state.hosts,
      state: state.phase,
      until: state.phase === "suspended" ? new Date(state.until).toISOString() : null,
      delayMs: state.delayMs,
      baseDelayMs: state.baseMs,
      halvings: state.halvings,
      successes: state.successes,
      rampAfter: this.#rules.settings.rampAfter,
      rule: state.rule,
      lastReply: state.lastReply,
      since: new Date(state.since).toISOString(),
    };
  }
}

function stateKey(source: string | null, siteKey: string): string {
  return `${source ?? "default"}\n${siteKey}`;
}

function splitKey(key: string): [string | null, string] {
  const i = key.indexOf("\n");
  const source = key.slice(0, i);
  return [source === "default" ? null : source, key.slice(i + 1)];
}

/** 2000 -> "2s", 1500 -> "1.5s", 500 -> "500ms", 120000 -> "120s". */
function intervalText(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${Number((ms / 1000).toFixed(3))}s`;
}

function formatReply(reply: Reply): string {
  return [String(reply.code), reply.enhanced, reply.text].filter((p) => p !== null && p !== "").join(" ");
}

/** "suspended until …" / "rate halved: 1 per 2s, ramping (3/10 deliveries to the next step)". */
export function describeBackoff(entry: BackoffEntryView): string {
  const rate = `1 per ${intervalText(entry.delayMs)}`;
  if (entry.state === "suspended") return `suspended until ${entry.until} (rule ${entry.rule}), then ${rate}`;
  const halved = entry.halvings > 1 ? `rate halved x${entry.halvings}` : "rate halved";
  return `${halved}: ${rate}, ramping (${entry.successes}/${entry.rampAfter} deliveries to the next step; rule ${entry.rule})`;
}

/** The delivery-log line of a backoff step, in the delivery log's format. */
export function backoffLogLine(
  event: BackoffEvent,
  format: "text" | "json",
  instance: string | undefined,
  time: Date,
): string {
  const until = event.until === null ? null : new Date(event.until).toISOString();
  if (format === "json") {
    return `${JSON.stringify({
      time: time.toISOString(),
      ...(instance === undefined ? {} : { instance }),
      event: "backoff",
      source: event.source,
      site: event.site,
      step: event.step,
      rule: event.rule,
      ...(until === null ? {} : { until }),
      delayMs: event.delayMs,
      ...(event.reply ? { reply: formatReply(event.reply) } : {}),
    })}\n`;
  }
  const parts = [
    time.toISOString(),
    ...(instance === undefined ? [] : [clean(instance)]),
    "backoff",
    `source=${clean(event.source)}`,
    `site=${clean(event.site)}`,
    `step=${event.step}`,
    ...(until === null ? [] : [`until=${until}`]),
    `delay=${(event.delayMs / 1000).toFixed(2)}s`,
    `rule=${clean(event.rule)}`,
    ...(event.reply ? [`reply=(${formatReply(event.reply).replace(/[\r\n]+/g, " ")})`] : []),
  ];
  return `${parts.join(" ")}\n`;
}

function clean(value: string): string {
  return value.replace(/\s+/g, "_");
}
