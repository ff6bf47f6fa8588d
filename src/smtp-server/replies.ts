/**
 * SMTP replies between our Reply data and smtp-server.
 *
 * smtp-server answers a handler error as `<responseCode> <enhanced> <message>`, where it picks
 * the enhanced code from its own table by the basic code alone (554 -> 5.6.0, 452 -> 4.2.2).
 * That is wrong for most of our replies (554 5.7.1 relay denied, 452 4.3.1 disk low, 452 4.5.3
 * too many recipients), and putting our code in the text would give two codes.
 * So we write our enhanced code at the start of the text, and the connection (connection.ts)
 * sends such a text without adding one of its own (`enhancedCodeContext`).
 */
import type { SMTPServerError } from "smtp-server";
import type { Reply } from "../message/types.ts";

const LEADING_ENHANCED_CODE = /^([245])\.\d{1,3}\.\d{1,3} /;

/** "452 4.3.1 text" style text for smtp-server: enhanced code first, when we have one. */
export function replyText(reply: Reply): string {
  return reply.enhanced === null ? reply.text : `${reply.enhanced} ${reply.text}`;
}

/** The error a smtp-server callback takes to send exactly this reply. */
export function replyError(reply: Reply): SMTPServerError {
  const error: SMTPServerError = new Error(replyText(reply));
  error.responseCode = reply.code;
  return error;
}

/**
 * The enhanced-code context for smtp-server's `send`: false (add none) when the text already
 * starts with an enhanced code of the reply's class, otherwise the context as given.
 */
export function enhancedCodeContext(
  code: number,
  data: string | string[] | null | undefined,
  context: string | false | undefined,
): string | false | undefined {
  const match = typeof data === "string" ? LEADING_ENHANCED_CODE.exec(data) : null;
  return match && match[1] === String(code).charAt(0) ? false : context;
}
