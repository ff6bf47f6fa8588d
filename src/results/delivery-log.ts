/**
 * The delivery log: one line per thing that happened to a queued message (received, delivered,
 * deferred, bounced, expired, DSN queued, removed), each carrying the queue id so
 * `grep <id>` tells a message's whole story, like Postfix's maillog. Two formats: "text",
 * Postfix-flavoured key=value lines for people, and "json", one object per line for machines.
 *
 * JSON lines are written with JSON.stringify, not pino: pino always writes its numeric "level"
 * field, and dropping it (formatters.level returning {}) yields "{," - broken JSON - unless the
 * timestamp function is bent to match pino's internal string building. The delivery log has no
 * levels, no async destination of its own and no serializers, so pino would add nothing here.
 */
import type { BounceClass } from "../feedback/types.ts";
import type { FailureScope, QueueId, RelayInfo, Reply } from "../message/types.ts";
import { formatReply, statusOf } from "./reply-text.ts";

export interface ReceivedEvent {
  id: QueueId;
  sender: string;
  /** Number of recipients accepted. */
  recipients: number;
  size: number;
  /** Client address, or "local". */
  client: string;
}

export interface DeliveredEvent {
  id: QueueId;
  recipient: string;
  relay: RelayInfo;
  reply: Reply;
  /** Time from arrival to delivery. */
  delayMs: number;
  mayBeDuplicated?: boolean;
}

export interface DeferredEvent {
  id: QueueId;
  recipient: string;
  relay: RelayInfo | null;
  reply: Reply;
  scope: FailureScope;
  /** Unix ms. */
  nextAttemptAt: number;
  /** The connection dropped after the final dot: the peer may already have the message. */
  mayBeDuplicated?: boolean;
  /** How the failure is classified (src/feedback/classify-bounce.ts); absent: not classified. */
  bounceClass?: BounceClass;
}

export interface BouncedEvent {
  id: QueueId;
  recipient: string;
  relay: RelayInfo | null;
  reply: Reply;
  scope: FailureScope;
  bounceClass?: BounceClass;
}

export interface ExpiredEvent {
  id: QueueId;
  recipient: string;
  /** The last deferral's reply. */
  reply: Reply;
  /** The class of the last deferral. */
  bounceClass?: BounceClass;
}

export interface DsnQueuedEvent {
  /** The original message. */
  id: QueueId;
  /** The notification's own queue id. */
  dsnId: QueueId;
  /** Recipients the notification reports on. */
  recipients: number;
  /** What it reports (RFC 3464 action): a bounce, a delay warning or a success report. */
  action?: "failed" | "delayed" | "relayed";
}

export interface DeliveryLog {
  received(event: ReceivedEvent): void;
  delivered(event: DeliveredEvent): void;
  deferred(event: DeferredEvent): void;
  bounced(event: BouncedEvent): void;
  expired(event: ExpiredEvent): void;
  dsnQueued(event: DsnQueuedEvent): void;
  removed(event: { id: QueueId }): void;
}

export interface DeliveryLogOptions {
  format: "text" | "json";
  /** Receives each line complete with its trailing "\n". */
  write: (line: string) => void;
  /**
   * The instance writing: every instance of a fleet appends to one shared log, so each line
   * names its writer (text: the field after the time, like Postfix's "postfix-out/smtp").
   */
  instance?: string;
  now?: () => Date;
}

const EXPIRED_STATUS = "4.4.7";
const DUPLICATE_WARNING = "connection lost after the final dot: message may be duplicated";

export function createDeliveryLog(options: DeliveryLogOptions): DeliveryLog {
  const now = options.now ?? (() => new Date());
  const { write } = options;
  const instanceText = options.instance === undefined ? [] : [clean(options.instance)];
  const instanceJson = options.instance === undefined ? {} : { instance: options.instance };

  /** `text` is the key=value tail of a text line; `json` the event's fields for a JSON line. */
  function emit(event: string, id: QueueId, text: string[], json: Record<string, unknown>): void {
    const time = now().toISOString();
    if (options.format === "json") {
      write(`${JSON.stringify({ time, ...instanceJson, event, id, ...json })}\n`);
    } else {
      write(`${[time, ...instanceText, clean(id), event, ...text].join(" ")}\n`);
    }
  }

  return {
    received(e) {
      emit(
        "received",
        e.id,
        [`from=<${clean(e.sender)}>`, `nrcpt=${e.recipients}`, `size=${e.size}`, `client=${clean(e.client)}`],
        { sender: e.sender, recipients: e.recipients, size: e.size, client: e.client },
      );
    },

    delivered(e) {
      emit(
        "delivered",
        e.id,
        [
          `to=<${clean(e.recipient)}>`,
          ...relayText(e.relay),
          `delay=${(e.delayMs / 1000).toFixed(2)}s`,
          ...replyText(e.reply),
          ...duplicateText(e.mayBeDuplicated),
        ],
        {
          recipient: e.recipient,
          relay: e.relay,
          delayMs: e.delayMs,
          ...replyJson(e.reply),
          ...duplicateJson(e.mayBeDuplicated),
        },
      );
    },

    deferred(e) {
      const next = new Date(e.nextAttemptAt).toISOString();
      emit(
        "deferred",
        e.id,
        [
          `to=<${clean(e.recipient)}>`,
          ...relayText(e.relay),
          `scope=${e.scope}`,
          ...classText(e.bounceClass),
          ...replyText(e.reply),
          `next_attempt=${next}`,
          ...duplicateText(e.mayBeDuplicated),
        ],
        {
          recipient: e.recipient,
          relay: e.relay,
          scope: e.scope,
          ...classJson(e.bounceClass),
          ...replyJson(e.reply),
          nextAttemptAt: next,
          ...duplicateJson(e.mayBeDuplicated),
        },
      );
    },

    bounced(e) {
      emit(
        "bounced",
        e.id,
        [
          `to=<${clean(e.recipient)}>`,
          ...relayText(e.relay),
          `scope=${e.scope}`,
          ...classText(e.bounceClass),
          ...replyText(e.reply),
        ],
        {
          recipient: e.recipient,
          relay: e.relay,
          scope: e.scope,
          ...classJson(e.bounceClass),
          ...replyJson(e.reply),
        },
      );
    },

    expired(e) {
      // The recipient's DSN status is 4.4.7 whatever the last reply said; the reply shows why.
      emit(
        "expired",
        e.id,
        [
          `to=<${clean(e.recipient)}>`,
          ...classText(e.bounceClass),
          `dsn=${EXPIRED_STATUS}`,
          `status=${quote(formatReply(e.reply))}`,
        ],
        { recipient: e.recipient, ...classJson(e.bounceClass), dsn: EXPIRED_STATUS, reply: e.reply },
      );
    },

    dsnQueued(e) {
      emit(
        "dsn_queued",
        e.id,
        [`dsn_id=${clean(e.dsnId)}`, `nrcpt=${e.recipients}`, ...(e.action ? [`action=${e.action}`] : [])],
        { dsnId: e.dsnId, recipients: e.recipients, ...(e.action ? { action: e.action } : {}) },
      );
    },

    removed(e) {
      emit("removed", e.id, [], {});
    },
  };
}

/**
 * "relay=mx.example.com[127.0.0.3]:25 source=127.0.0.2", "relay=lmtp:unix:/path" for a Unix
 * socket (port 0), or "relay=none" before any connection.
 */
function relayText(relay: RelayInfo | null): string[] {
  if (relay === null) return ["relay=none"];
  const peer =
    relay.port === 0 ? clean(relay.host) : `${clean(relay.host)}[${clean(relay.ip)}]:${relay.port}`;
  const fields = [`relay=${peer}`];
  if (relay.sourceIp !== null) fields.push(`source=${clean(relay.sourceIp)}`);
  return fields;
}

function replyText(reply: Reply): string[] {
  return [`dsn=${statusOf(reply)}`, `status=${quote(formatReply(reply))}`];
}

function replyJson(reply: Reply): { dsn: string; reply: Reply } {
  return { dsn: statusOf(reply), reply };
}

function classText(bounceClass: BounceClass | undefined): string[] {
  return bounceClass === undefined ? [] : [`class=${bounceClass}`];
}

function classJson(bounceClass: BounceClass | undefined): { bounceClass?: BounceClass } {
  return bounceClass === undefined ? {} : { bounceClass };
}

function duplicateText(mayBeDuplicated: boolean | undefined): string[] {
  return mayBeDuplicated === true ? [`warning=${quote(DUPLICATE_WARNING)}`] : [];
}

function duplicateJson(mayBeDuplicated: boolean | undefined): { mayBeDuplicated?: true } {
  return mayBeDuplicated === true ? { mayBeDuplicated: true } : {};
}

/** A double-quoted value; backslash and quote escaped so the line can be parsed back. */
function quote(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** No control characters in a text line: a CR or LF in an address must not forge a log line. */
function clean(text: string): string {
  return text.replace(/\p{Cc}/gu, "?");
}
