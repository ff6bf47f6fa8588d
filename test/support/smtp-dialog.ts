/**
 * A raw SMTP client for e2e tests: writes exactly the bytes a test gives it and reads back
 * whole replies (multi-line ones joined), so a test can check what a listener says to a
 * client that misbehaves (bare LF, overlong lines, too many recipients) or comes from a given
 * source address. nodemailer normalises too much for that.
 */
import { connect, type Socket } from "node:net";

export interface SmtpReply {
  code: number;
  /** Every line's text after "NNN-" / "NNN ". */
  lines: string[];
  /** The whole reply, lines joined with "\n", codes included. */
  raw: string;
}

export interface SmtpDialog {
  greeting: SmtpReply;
  /** Writes `line` + CRLF and reads one reply. */
  command(line: string): Promise<SmtpReply>;
  /** Writes raw bytes (nothing added) and reads one reply. */
  sendRaw(data: string | Buffer): Promise<SmtpReply>;
  /** Writes raw bytes without waiting for anything. */
  write(data: string | Buffer): void;
  /** Resolves true when the server closed the connection within `ms`. */
  closedWithin(ms: number): Promise<boolean>;
  close(): void;
}

export interface DialogOptions {
  host?: string;
  port: number;
  /** Source address to bind (e.g. 127.0.0.2 for an "untrusted" client). */
  localAddress?: string;
  /** Per-reply timeout, ms (default 10 s). */
  timeoutMs?: number;
}

export async function openSmtp(options: DialogOptions): Promise<SmtpDialog> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const socket: Socket = connect({
    host: options.host ?? "127.0.0.1",
    port: options.port,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  });
  let buffer = "";
  let closed = false;
  const replies: SmtpReply[] = [];
  const waiters: (() => void)[] = [];
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    buffer += chunk;
    for (;;) {
      // A reply ends with a line "NNN text" (space, or nothing, after the code).
      const end = /^\d{3}(?: [^\n]*)?\r?\n/m.exec(buffer);
      if (!end) break;
      const upTo = end.index + end[0].length;
      const lines = buffer
        .slice(0, upTo)
        .replace(/\r?\n$/, "")
        .split(/\r?\n/);
      buffer = buffer.slice(upTo);
      replies.push({
        code: Number(lines.at(-1)!.slice(0, 3)),
        lines: lines.map((l) => l.slice(4)),
        raw: lines.join("\n"),
      });
    }
    notify();
  });
  socket.on("close", () => {
    closed = true;
    notify();
  });
  socket.on("error", () => {});

  const next = () =>
    new Promise<SmtpReply>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no SMTP reply in ${timeoutMs} ms; got ${buffer}`)),
        timeoutMs,
      );
      const check = () => {
        const reply = replies.shift();
        if (reply) {
          clearTimeout(timer);
          resolve(reply);
        } else if (closed) {
          clearTimeout(timer);
          reject(new Error(`connection closed while waiting for a reply; got ${JSON.stringify(buffer)}`));
        } else waiters.push(check);
      };
      check();
    });

  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const greeting = await next();
  return {
    greeting,
    command(line) {
      socket.write(`${line}\r\n`);
      return next();
    },
    sendRaw(data) {
      socket.write(data);
      return next();
    },
    write(data) {
      socket.write(data);
    },
    closedWithin: (ms) =>
      new Promise((resolve) => {
        if (closed) return resolve(true);
        const timer = setTimeout(() => resolve(false), ms);
        socket.once("close", () => {
          clearTimeout(timer);
          resolve(true);
        });
      }),
    close() {
      socket.destroy();
    },
  };
}
