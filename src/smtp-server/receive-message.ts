/**
 * One message's DATA: reads the stream through the line-ending normaliser, enforces the content
 * limits, asks the policy, prepends the policy's headers and our Received header, and hands the
 * message to the receiver. Returns the reply for the end of DATA; never throws for a refusal.
 *
 * Memory stays bounded whatever the client sends: once the message is over the size limit or
 * has an over-long line, the rest is read and dropped, and only the reply is decided at the end.
 */
import type { Logger } from "pino";
import type { SMTPServerDataStream, SMTPServerSession } from "smtp-server";
import type { Config } from "../config/types.ts";
import type { Reply } from "../message/types.ts";
import { toTenantMessage } from "./envelope.ts";
import { countReceivedHeaders } from "./hops.ts";
import { LineEndingFixer } from "./normalize.ts";
import { formatReceivedHeader, protocolName } from "./received-header.ts";
import type { InboundPolicy, Receiver } from "./types.ts";

export interface ReceiveDeps {
  config: Config;
  receiver: Receiver;
  log: Logger;
  /** policy.onData with the session's facts and envelope filled in. */
  policy: (message: Buffer) => ReturnType<InboundPolicy["onData"]>;
  authenticated: boolean;
}

const WRITE_ERROR: Reply = { code: 451, enhanced: "4.3.0", text: "Error: queue file write error" };

export async function receiveMessage(
  stream: SMTPServerDataStream,
  session: SMTPServerSession,
  deps: ReceiveDeps,
): Promise<Reply> {
  const { config, receiver, log } = deps;
  const { limits } = config;
  // Plain 'data'/'end' listeners rather than stream.pipeline: pipeline's per-call
  // AbortController showed up as ~5% of CPU per message in profiles.
  const fixer = new LineEndingFixer();
  const parts: Buffer[] = [];
  let keeping = true;
  const keep = (part: Buffer) => {
    if (!keeping || part.length === 0) return; // over a limit: read to the end, keep nothing
    const { bytes, longestLine } = fixer.stats;
    if (bytes > limits.maxMessageSize || longestLine > limits.maxLineLength) {
      keeping = false;
      parts.length = 0;
      fixer.discard();
    } else parts.push(part);
  };
  await new Promise<void>((resolve, reject) => {
    stream.on("data", (chunk: Buffer) => keep(fixer.write(chunk)));
    stream.once("end", () => {
      keep(fixer.end());
      resolve();
    });
    stream.once("error", reject);
  });
  const stats = fixer.stats;
  if (stream.sizeExceeded || stats.bytes > limits.maxMessageSize) {
    // With rejectOversized smtp-server sends its own 552 5.3.4 for the raw size; this covers
    // a message that only went over once bare line endings were widened to CRLF.
    log.info({ bytes: stats.bytes }, "message refused: too big");
    const text = `Error: message exceeds fixed maximum message size ${limits.maxMessageSize}`;
    return { code: 552, enhanced: "5.3.4", text };
  }
  if (stats.longestLine > limits.maxLineLength) {
    // RFC 5321 4.5.3.1.6 caps a text line at 1000 octets with CRLF. We cannot relay such a line
    // unchanged, and rewrapping would break DKIM and MIME, so we refuse the message, with the
    // reply issue #5 asks for any line over the limit: 500 5.5.2 (syntax error, "line too long",
    // RFC 5321 4.2.4). It is permanent: sending the same message again cannot succeed.
    log.info({ longestLine: stats.longestLine }, "message refused: line too long");
    const text = `Error: line too long: message has lines longer than ${limits.maxLineLength} octets`;
    return { code: 500, enhanced: "5.5.2", text };
  }
  const content = Buffer.concat(parts);
  const hops = countReceivedHeaders(content);
  if (hops >= limits.maxHops) {
    // Our own Received header would push it past the limit: a mail loop (issue: hop count).
    log.warn({ hops }, "message refused: too many hops (mail loop?)");
    return { code: 554, enhanced: "5.4.0", text: `Error: too many hops (${hops} Received headers)` };
  }
  if (stats.bareLineEndings > 0) {
    log.info({ bareLineEndings: stats.bareLineEndings }, "bare CR/LF in message changed to CRLF");
  }
  const verdict = await deps.policy(content);
  if ("reply" in verdict) {
    log.info({ reply: `${verdict.reply.code} ${verdict.reply.text}` }, "message refused by policy");
    return verdict.reply;
  }

  const arrivedAt = Date.now();
  const { message, content: stored } = toTenantMessage(
    config,
    session,
    arrivedAt,
    verdict.content ?? content,
  );
  const received = formatReceivedHeader({
    clientHelo: message.clientHelo,
    clientAddress: message.clientAddress,
    hostname: config.hostname,
    protocol: protocolName({
      ehlo: session.openingCommand === "EHLO",
      tls: session.secure,
      authenticated: deps.authenticated,
      smtpUtf8: message.smtpUtf8,
    }),
    recipients: message.recipients.map((recipient) => recipient.address),
    date: new Date(arrivedAt),
  });
  const headers = verdict.headers.map((line) => `${line}\r\n`).join("");
  const body = Buffer.concat([Buffer.from(headers + received, "utf8"), stored]);

  try {
    const result = await receiver.accept(message, body);
    if (!result.ok) {
      log.info({ reply: `${result.reply.code} ${result.reply.text}` }, "message refused by receiver");
      return result.reply;
    }
    // The delivery log already has a "received" line per message; this is for debugging.
    log.debug(
      { id: result.id, from: message.sender, recipients: message.recipients.length, size: body.length },
      "message queued",
    );
    return { code: 250, enhanced: "2.0.0", text: `Ok: queued as ${result.id}` };
  } catch (error) {
    log.error({ err: error }, "receiver failed to store the message");
    return WRITE_ERROR;
  }
}
