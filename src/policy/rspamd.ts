/**
 * Spam check with rspamd over its HTTP protocol (issue #5): the message is POSTed to /checkv2
 * with the envelope in request headers (IP, Helo, From, Rcpt, User); rspamd answers JSON with an
 * `action` and a `score`. What each action means for us is configured: refuse (554 5.7.1), refuse
 * for now (451 4.7.1), add `X-Spam: Yes` and `X-Spam-Score` headers, or accept.
 *
 * rspamd down, timing out, or answering something we cannot read is "unavailable": the config
 * says whether that accepts the message (fail open, logged) or answers 451 4.7.1 (fail closed).
 * node:http, no dependency: one request per message, nothing kept open between messages.
 */
import { request } from "node:http";
import type { Logger } from "pino";
import type { PolicyConfig, RspamdAction } from "../config/types.ts";
import type { Reply } from "../message/types.ts";
import type { DataVerdict, SessionFacts } from "../smtp-server/types.ts";
import { plainIp } from "./ip.ts";

export interface RspamdResult {
  action: RspamdAction;
  score: number;
  requiredScore: number | null;
  /** rspamd's `messages.smtp_message`: text meant for the SMTP reply. */
  smtpMessage: string | null;
}

export interface RspamdRequest {
  ip: string;
  helo: string;
  from: string;
  rcpt: string[];
  user: string | null;
}

export type RspamdAnswer = { ok: true; result: RspamdResult } | { ok: false; error: string };

const ACTIONS: Record<string, RspamdAction> = {
  reject: "reject",
  "soft reject": "soft_reject",
  "rewrite subject": "rewrite_subject",
  "add header": "add_header",
  greylist: "greylist",
  "no action": "no_action",
};

/** Longest rspamd reply body we read (its JSON is a few KiB; symbols lists can grow). */
const MAX_REPLY_BYTES = 1024 * 1024;

function printable(text: unknown): string | null {
  if (typeof text !== "string") return null;
  const clean = text.replace(/[^\x20-\x7e]/g, "").trim();
  return clean === "" ? null : clean.slice(0, 200);
}

/** Reads rspamd's JSON reply; null when it is not one we understand. */
export function parseRspamdReply(body: string): RspamdResult | null {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof json !== "object" || json === null) return null;
  const reply = json as Record<string, unknown>;
  const action = typeof reply.action === "string" ? ACTIONS[reply.action] : undefined;
  if (action === undefined || typeof reply.score !== "number") return null;
  const messages = reply.messages as Record<string, unknown> | undefined;
  return {
    action,
    score: reply.score,
    requiredScore: typeof reply.required_score === "number" ? reply.required_score : null,
    smtpMessage: printable(messages?.smtp_message),
  };
}

/** One /checkv2 request. Never throws: failures come back as `{ ok: false }`. */
export function askRspamd(
  baseUrl: string,
  timeoutMs: number,
  envelope: RspamdRequest,
  message: Buffer,
): Promise<RspamdAnswer> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (answer: RspamdAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
    };
    const headers: Record<string, string | string[]> = {
      "Content-Type": "message/rfc822",
      "Content-Length": String(message.length),
      IP: envelope.ip,
      From: envelope.from,
    };
    if (envelope.helo) headers.Helo = envelope.helo;
    if (envelope.rcpt.length > 0) headers.Rcpt = envelope.rcpt;
    if (envelope.user !== null) headers.User = envelope.user;
    const req = request(new URL("/checkv2", baseUrl), { method: "POST", headers }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_REPLY_BYTES) {
          req.destroy();
          finish({ ok: false, error: "rspamd reply too large" });
        } else chunks.push(chunk);
      });
      res.on("error", (err) => finish({ ok: false, error: err.message }));
      res.on("end", () => {
        if (res.statusCode !== 200) {
          return finish({ ok: false, error: `rspamd answered HTTP ${res.statusCode}` });
        }
        const result = parseRspamdReply(Buffer.concat(chunks).toString("utf8"));
        finish(result ? { ok: true, result } : { ok: false, error: "rspamd reply not understood" });
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish({ ok: false, error: `no rspamd reply within ${timeoutMs} ms` });
    }, timeoutMs);
    req.on("error", (err) => finish({ ok: false, error: err.message }));
    req.end(message);
  });
}

const UNAVAILABLE: Reply = {
  code: 451,
  enhanced: "4.7.1",
  text: "Spam check temporarily unavailable, try again later",
};

export interface RspamdCheck {
  check(
    session: SessionFacts,
    envelope: { sender: string; recipients: string[] },
    message: Buffer,
  ): Promise<DataVerdict>;
}

export function createRspamdCheck(deps: {
  config: NonNullable<PolicyConfig["rspamd"]>;
  logger: Logger;
}): RspamdCheck {
  const { config, logger } = deps;
  return {
    async check(session, envelope, message) {
      const answer = await askRspamd(
        config.url,
        config.timeoutMs,
        {
          ip: plainIp(session.clientAddress),
          helo: session.helo,
          from: envelope.sender,
          rcpt: envelope.recipients,
          user: session.user,
        },
        message,
      );
      if (!answer.ok) {
        if (config.fail === "closed") {
          logger.warn({ error: answer.error }, "rspamd unavailable: answering 451 4.7.1 (fail closed)");
          return { reply: UNAVAILABLE };
        }
        logger.warn({ error: answer.error }, "rspamd unavailable: message accepted unchecked (fail open)");
        return { headers: [] };
      }
      const { result } = answer;
      const verdict = config.actions[result.action];
      logger.debug({ action: result.action, score: result.score, verdict }, "rspamd verdict");
      switch (verdict) {
        case "reject":
          logger.info({ action: result.action, score: result.score }, "message refused: spam");
          return {
            reply: {
              code: 554,
              enhanced: "5.7.1",
              text: `Spam message rejected: ${result.smtpMessage ?? "score too high"}`,
            },
          };
        case "soft_reject":
          logger.info({ action: result.action, score: result.score }, "message deferred by rspamd");
          return {
            reply: {
              code: 451,
              enhanced: "4.7.1",
              text: `Try again later: ${result.smtpMessage ?? "message deferred"}`,
            },
          };
        case "add_header": {
          const required = result.requiredScore === null ? "" : ` / ${result.requiredScore.toFixed(2)}`;
          return { headers: ["X-Spam: Yes", `X-Spam-Score: ${result.score.toFixed(2)}${required}`] };
        }
        case "accept":
          return { headers: [] };
      }
    },
  };
}
