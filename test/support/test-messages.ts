/**
 * Self-verifying test messages: each carries its own number and a SHA-256 of its body, so a
 * receiver can prove it got the message intact, whatever happened on the way.
 */
import { createHash, randomBytes } from "node:crypto";

export interface TestMessage {
  n: number;
  /** CRLF text, ready for SMTP DATA. */
  raw: string;
}

export function makeTestMessage(n: number, bodyBytes = 4096): TestMessage {
  const lines: string[] = [];
  let size = 0;
  while (size < bodyBytes) {
    const line = `${n} ${randomBytes(36).toString("base64")}`;
    lines.push(line);
    size += line.length + 2;
  }
  const hash = bodyHash(lines.join("\n"));
  const headers = [
    "From: load@source.test",
    "To: sink@dest.test",
    `Subject: test message ${n}`,
    `Message-ID: <test-${n}@source.test>`,
    `X-Test-Id: ${n}`,
    `X-Body-Sha256: ${hash}`,
  ];
  return { n, raw: `${headers.join("\r\n")}\r\n\r\n${lines.join("\r\n")}\r\n` };
}

export function bodyHash(lfBody: string): string {
  return createHash("sha256").update(lfBody).digest("hex");
}

/** Checks a received copy (LF line ends). Returns its test number and whether it is intact. */
export function verifyReceived(content: string): { n: number; intact: boolean } | null {
  const split = content.indexOf("\n\n");
  if (split < 0) return null;
  const header = content.slice(0, split);
  const id = /^X-Test-Id: (\d+)$/m.exec(header);
  const hash = /^X-Body-Sha256: ([0-9a-f]{64})$/m.exec(header);
  if (!id || !hash) return null;
  const body = content.slice(split + 2).replace(/\n$/, "");
  return { n: Number(id[1]), intact: bodyHash(body) === hash[1] };
}
