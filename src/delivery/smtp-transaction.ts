/**
 * One SMTP mail transaction (MAIL FROM, RCPT TO for each recipient, DATA) on an open
 * nodemailer connection, turned into one outcome per recipient. Over LMTP each recipient gets
 * its own reply to the message too, and its outcome follows that reply. Knows which replies came
 * at which stage, which recipients were refused with 452 (to be sent again in a new
 * transaction), and whether a dropped connection happened after the whole body went out (maybe
 * duplicated).
 * What body goes out and with which MAIL parameters (8BITMIME, SMTPUTF8) was decided before,
 * by outbound-message.ts; the body goes through nodemailer's DataStream, which dot-stuffs it and
 * turns any bare CR or LF into CRLF, so only CRLF line ends and one final "." reach the wire.
 */
import { Readable } from "node:stream";
import type SMTPConnection from "nodemailer/lib/smtp-connection";
import type { TransportTimeouts } from "../config/types.ts";
import type { RecipientOutcome, RelayInfo, Reply } from "../message/types.ts";
import {
  classifyReply,
  networkFailureReply,
  parseReply,
  type SmtpStage,
  withEnhancedCode,
} from "./classify.ts";
import { isNonAscii, type OutboundMessage } from "./outbound-message.ts";
import type { SmtpClientError, SmtpConnectionInternals } from "./smtp-connect.ts";
import type { DeliveryJob } from "./types.ts";

export type JobRecipient = DeliveryJob["recipients"][number];

export interface TransactionContext {
  conn: SMTPConnection;
  internals: SmtpConnectionInternals;
  relay: RelayInfo;
  timeouts: TransportTimeouts;
  /** "host[ip]:port", for reply texts. */
  peer: string;
  /** LMTP (RFC 2033): after the message, one reply per accepted recipient. */
  lmtp?: boolean;
  /** VERP (src/feedback/verp.ts): the envelope sender to use instead of the job's, or null. */
  returnPath?: (job: DeliveryJob, recipients: JobRecipient[]) => string | null;
}

export interface TransactionResult {
  /** One per recipient handed in. */
  outcomes: RecipientOutcome[];
  /** Indices of recipients refused with 452 (too many recipients): worth a new transaction. */
  tooManyRecipients: number[];
  /** How many RCPTs the peer accepted. */
  acceptedCount: number;
  /** The connection cannot carry another transaction. */
  broken: boolean;
  /** The transaction did not end cleanly: send RSET before the next one. */
  needsReset: boolean;
}

/** Errors that mean the connection itself failed, as opposed to a refused command. */
const CONNECTION_ERRORS = new Set(["ECONNECTION", "ETIMEDOUT", "ESOCKET", "EPROTOCOL", "ETLS"]);

/** RFC 3461 xtext: "+" followed by two hex digits for "+", "=" and bytes outside 33..126. */
export function encodeXtext(value: string): string {
  let out = "";
  for (const byte of Buffer.from(value, "utf8")) {
    out +=
      byte < 33 || byte > 126 || byte === 0x2b || byte === 0x3d
        ? `+${byte.toString(16).toUpperCase().padStart(2, "0")}`
        : String.fromCharCode(byte);
  }
  return out;
}

function rcptDsnArgs(r: JobRecipient): string {
  const args: string[] = [];
  if (r.notify !== null) args.push(`NOTIFY=${r.notify.length === 0 ? "NEVER" : r.notify.join(",")}`);
  if (r.orcpt !== null) args.push(`ORCPT=${encodeXtext(r.orcpt)}`);
  return args.length ? ` ${args.join(" ")}` : "";
}

const INVALID_ADDRESS = /[\r\n<>]|^\s*$/;

interface SendResult {
  err: SmtpClientError | null;
  info: SMTPConnection.SentMessageInfo | null;
}

/**
 * Runs `run` with SMTPUTF8 added to the MAIL command. nodemailer adds it by itself only for a
 * non-ASCII address; UTF-8 header fields (RFC 6532) need it as much.
 */
async function withSmtpUtf8<T>(internals: SmtpConnectionInternals, run: () => Promise<T>): Promise<T> {
  const original = internals._sendCommand;
  internals._sendCommand = function (this: unknown, str: string, logStr?: string) {
    const params = str.slice(str.indexOf(">") + 1);
    const line = /^MAIL FROM:/i.test(str) && !/(^|\s)SMTPUTF8(\s|$)/i.test(params) ? `${str} SMTPUTF8` : str;
    original.call(this, line, logStr);
  };
  try {
    return await run();
  } finally {
    internals._sendCommand = original;
  }
}

/**
 * Records the reply an LMTP server gives the message for each recipient. nodemailer keeps only
 * the refusals and hands back the last reply, which may be another recipient's.
 */
function recordLmtpReplies(internals: SmtpConnectionInternals): {
  replies: Map<string, string>;
  stop(): void;
} {
  const replies = new Map<string, string>();
  const original = internals._actionLMTPStream;
  internals._actionLMTPStream = function (this: unknown, recipient, final, str, callback) {
    replies.set(recipient, str);
    original.call(this, recipient, final, str, callback);
  };
  return {
    replies,
    stop: () => {
      internals._actionLMTPStream = original;
    },
  };
}

function send(ctx: TransactionContext, envelope: SMTPConnection.Envelope, message: Readable, rcpts: number) {
  const limit = ctx.timeouts.commandMs * (rcpts + 3) + ctx.timeouts.dataMs + 1000;
  return new Promise<SendResult>((resolve) => {
    // Backstop: nodemailer's inactivity timeout should fire first; close() alone would leave
    // the callback pending forever, so this resolves on its own.
    const guard = setTimeout(() => {
      ctx.conn.close();
      const err: SmtpClientError = Object.assign(new Error("transaction timed out"), { code: "ETIMEDOUT" });
      resolve({ err, info: null });
    }, limit);
    ctx.conn.send(envelope, message, (err, info) => {
      clearTimeout(guard);
      resolve({ err: (err as SmtpClientError | null) ?? null, info: info ?? null });
    });
  });
}

/**
 * Runs one transaction for the given recipients (a subset of the job's), sending the body and
 * parameters `outbound` settled on for this peer. Never rejects.
 */
export async function runTransaction(
  ctx: TransactionContext,
  job: DeliveryJob,
  recipients: JobRecipient[],
  outbound: OutboundMessage,
): Promise<TransactionResult> {
  const { relay } = ctx;
  const outcomes: RecipientOutcome[] = [];
  const bounce = (r: JobRecipient, reply: Reply, scope: "recipient" | "message") =>
    outcomes.push({ kind: "bounced", recipientIndex: r.index, reply, scope, relay });

  if (INVALID_ADDRESS.test(job.sender) && job.sender !== "") {
    const reply = {
      code: 553,
      enhanced: "5.1.7",
      text: `invalid sender address ${JSON.stringify(job.sender)}`,
    };
    for (const r of recipients) bounce(r, reply, "message");
    return { outcomes, tooManyRecipients: [], acceptedCount: 0, broken: false, needsReset: false };
  }
  if (!outbound.ok) {
    // Refused before a word was sent (5.6.7, 5.6.3), or our own fault (4.x): the message's.
    const { reply } = outbound;
    const kind = reply.code >= 500 ? "bounced" : "deferred";
    for (const r of recipients)
      outcomes.push({ kind, recipientIndex: r.index, reply, scope: "message", relay });
    return { outcomes, tooManyRecipients: [], acceptedCount: 0, broken: false, needsReset: false };
  }
  // RFC 6531 3.2: a non-ASCII address cannot go to a peer without SMTPUTF8 (5.6.7).
  const { internals } = ctx;
  const utf8Refused = (address: string) =>
    isNonAscii(address) && !internals._supportedExtensions.includes("SMTPUTF8");
  const noUtf8 = (address: string): Reply => ({
    code: 553,
    enhanced: "5.6.7",
    text: `SMTPUTF8 is required for the non-ASCII address ${address}, but ${ctx.peer} does not offer it`,
  });
  // Group by address: one RCPT per distinct address; every recipient with it shares its fate.
  const byAddress = new Map<string, JobRecipient[]>();
  for (const r of recipients) {
    const address = r.address.trim();
    if (INVALID_ADDRESS.test(address)) {
      const text = `invalid recipient address ${JSON.stringify(r.address)}`;
      bounce(r, { code: 553, enhanced: "5.1.3", text }, "recipient");
      continue;
    }
    if (utf8Refused(address)) {
      bounce(r, noUtf8(address), "recipient");
      continue;
    }
    byAddress.set(address, [...(byAddress.get(address) ?? []), r]);
  }
  if (byAddress.size === 0) {
    return { outcomes, tooManyRecipients: [], acceptedCount: 0, broken: false, needsReset: false };
  }

  // nodemailer applies one NOTIFY/ORCPT to all recipients; ours are per recipient.
  internals._getDsnRcptToArgs = () => {
    if (!internals._supportedExtensions.includes("DSN")) return "";
    const current = byAddress.get(internals._recipientQueue.at(-1) ?? "")?.[0];
    return current ? rcptDsnArgs(current) : "";
  };

  let bodyWritten = false;
  const { body } = outbound;
  const message = Readable.from([body], { objectMode: false });
  message.once("end", () => {
    bodyWritten = true;
  });
  const envelope: SMTPConnection.Envelope = {
    from: (job.sender !== "" && ctx.returnPath?.(job, [...byAddress.values()].flat())) || job.sender,
    to: [...byAddress.keys()],
    size: body.length,
    use8BitMime: outbound.eightBitMime,
    ...(job.ret !== null || job.envid !== null ? { dsn: { ret: job.ret, envid: job.envid } } : {}),
  };
  const forceUtf8 = outbound.smtpUtf8 && internals._supportedExtensions.includes("SMTPUTF8");
  const lmtpReplies = ctx.lmtp ? recordLmtpReplies(internals) : null;
  const transmit = () => send(ctx, envelope, message, byAddress.size);
  const { err, info } = forceUtf8 ? await withSmtpUtf8(internals, transmit) : await transmit();
  lmtpReplies?.stop();

  const env = internals._envelope;
  const accepted = new Set(env ? env.accepted : (info?.accepted ?? []));
  const rejected = new Map<string, SmtpClientError>();
  for (const e of env ? env.rejectedErrors : []) if (e.recipient !== undefined) rejected.set(e.recipient, e);
  const broken = internals.destroyed || (err !== null && CONNECTION_ERRORS.has(err.code ?? ""));
  if (broken && !internals.destroyed) ctx.conn.close();

  const fromPeer = (raw: string, stage: SmtpStage) => withEnhancedCode(parseReply(raw), stage);
  const lostConnection = (stage: SmtpStage) =>
    err?.response && /^[45]\d\d/.test(err.response)
      ? fromPeer(err.response, stage)
      : networkFailureReply(err?.originalCode ?? err?.code, stage, `${stage} with ${ctx.peer}`);
  const tooManyRecipients: number[] = [];

  /** The reply every recipient of the message gets when the failure is not per recipient. */
  let messageReply: { reply: Reply; stage: SmtpStage } | null = null;
  if (err?.command === "MAIL FROM") {
    messageReply = err.response
      ? { reply: fromPeer(err.response, "mail"), stage: "mail" }
      : {
          reply: {
            code: 552,
            enhanced: "5.3.4",
            text: `message size ${body.length} exceeds the limit of ${ctx.peer}`,
          },
          stage: "mail",
        };
  }

  for (const [address, group] of byAddress) {
    let outcome: (index: number) => RecipientOutcome;
    const refusal = rejected.get(address);
    if (messageReply) {
      const { reply, stage } = messageReply;
      const c = classifyReply(reply, stage);
      outcome = (i) => ({ ...c, recipientIndex: i, reply, relay });
    } else if (refusal?.response) {
      // Over LMTP a recipient can be refused after the message too: still that recipient's fate.
      const afterMessage = refusal.command === "DATA";
      const reply = fromPeer(refusal.response, afterMessage ? "dot" : "rcpt");
      if (reply.code === 452 && !afterMessage) for (const r of group) tooManyRecipients.push(r.index);
      const c = classifyReply(reply, "rcpt");
      outcome = (i) => ({ ...c, recipientIndex: i, reply, relay });
    } else if (accepted.has(address) && err === null && info) {
      const reply = fromPeer(lmtpReplies?.replies.get(address) ?? info.response, "dot");
      // RFC 3461 5.2.2: without DSN at the next hop, a NOTIFY=SUCCESS notice is ours to send.
      const peerSupportsDsn = internals._supportedExtensions.includes("DSN");
      outcome = (i) => ({ kind: "delivered", recipientIndex: i, reply, relay, peerSupportsDsn });
    } else if (
      accepted.has(address) &&
      err?.response &&
      (err.code === "EMESSAGE" || err.command === "DATA")
    ) {
      const stage: SmtpStage = err.code === "EMESSAGE" ? "dot" : "data";
      const reply = fromPeer(err.response, stage);
      const c = classifyReply(reply, stage);
      outcome = (i) => ({ ...c, recipientIndex: i, reply, relay });
    } else {
      // The connection failed (or timed out) before this recipient's fate was known.
      const stage: SmtpStage = accepted.has(address) ? (bodyWritten ? "dot" : "data") : "rcpt";
      const reply = lostConnection(stage);
      const mayBeDuplicated = accepted.has(address) && bodyWritten && !err?.response;
      outcome = (i) => ({
        kind: "deferred",
        recipientIndex: i,
        reply,
        scope: "destination",
        relay,
        ...(mayBeDuplicated ? { mayBeDuplicated: true } : {}),
      });
    }
    for (const r of group) outcomes.push(outcome(r.index));
  }
  return { outcomes, tooManyRecipients, acceptedCount: accepted.size, broken, needsReset: err !== null };
}
