/**
 * Mail-loop detection: counts the Received: headers of a message (one per MTA it went through).
 * Like Postfix's hopcount_limit, a message that has already made too many hops is refused,
 * so a loop between instances or hosts ends instead of circling forever.
 */

const CRLF_CRLF = Buffer.from("\r\n\r\n");

/** Received: header fields in the header section (CRLF line ends, as stored). */
export function countReceivedHeaders(message: Buffer): number {
  const end = message.indexOf(CRLF_CRLF);
  const header = message.subarray(0, end < 0 ? message.length : end + 2).toString("latin1");
  let count = 0;
  for (const line of header.split("\r\n")) {
    if (line.length > 9 && line.slice(0, 9).toLowerCase() === "received:") count++;
  }
  return count;
}
