/**
 * A minimal receiving SMTP server on a raw socket that records the exact bytes a client puts on
 * the wire: every command line and every DATA section up to and including the final
 * CRLF.CRLF. Its EHLO announces only the extensions a test lists, so a test can play a peer
 * without 8BITMIME or SMTPUTF8 and check dot-stuffing, line ends and MAIL parameters byte for
 * byte. smtp-server and smtp-sink decode what they receive; this one keeps it.
 */
import net from "node:net";

export interface RawTransaction {
  /** The MAIL command line as sent, without its CRLF. */
  mail: string;
  rcpts: string[];
  /** Everything after the 354 reply up to and including the terminating CRLF.CRLF. */
  data: Buffer;
}

export interface RawPeerOptions {
  host?: string;
  /** A fixed port (several peers on 127.0.0.x sharing one); default: any free one. */
  port?: number;
  /** EHLO keywords, e.g. ["8BITMIME", "SMTPUTF8"]. PIPELINING is never announced. */
  extensions?: string[];
}

export interface RawPeer {
  host: string;
  port: number;
  transactions: RawTransaction[];
  /** Every byte every client sent, per connection, in order. */
  connections: Buffer[][];
  /** Resolves once `count` transactions are complete, or rejects after `timeoutMs`. */
  waitForTransactions(count: number, timeoutMs?: number): Promise<RawTransaction[]>;
  close(): Promise<void>;
}

const TERMINATOR = Buffer.from("\r\n.\r\n");

export async function startRawPeer(options: RawPeerOptions = {}): Promise<RawPeer> {
  const host = options.host ?? "127.0.0.1";
  const extensions = options.extensions ?? ["8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"];
  const transactions: RawTransaction[] = [];
  const connections: Buffer[][] = [];
  const sockets = new Set<net.Socket>();
  const waiters = new Set<() => void>();

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const received: Buffer[] = [];
    connections.push(received);
    let pending = Buffer.alloc(0);
    let inData = false;
    let mail: string | null = null;
    let rcpts: string[] = [];
    const reply = (text: string) => socket.write(`${text}\r\n`);

    const command = (line: string) => {
      const verb = line.split(" ", 1)[0]!.toUpperCase();
      if (verb === "EHLO") {
        const lines = ["raw-peer.test", ...extensions];
        for (const [i, l] of lines.entries()) reply(`250${i === lines.length - 1 ? " " : "-"}${l}`);
      } else if (verb === "HELO" || verb === "NOOP") reply("250 2.0.0 Ok");
      else if (verb === "MAIL") {
        mail = line;
        rcpts = [];
        reply("250 2.1.0 Ok");
      } else if (verb === "RCPT") {
        if (mail === null) return reply("503 5.5.1 MAIL first");
        rcpts.push(line);
        reply("250 2.1.5 Ok");
      } else if (verb === "DATA") {
        if (mail === null || rcpts.length === 0) return reply("503 5.5.1 RCPT first");
        inData = true;
        reply("354 End data with <CR><LF>.<CR><LF>");
      } else if (verb === "RSET") {
        mail = null;
        rcpts = [];
        reply("250 2.0.0 Ok");
      } else if (verb === "QUIT") {
        reply("221 2.0.0 Bye");
        socket.end();
      } else reply("502 5.5.2 Command not recognized");
    };

    const consume = () => {
      for (let guard = 0; guard < 10_000 && pending.length > 0; guard++) {
        if (inData) {
          // The data starts right after a line end (the DATA command's), so a lone "." as the
          // first line ends it as well.
          const view = Buffer.concat([Buffer.from("\r\n"), pending]);
          const at = view.indexOf(TERMINATOR);
          if (at < 0) return;
          const end = at + TERMINATOR.length - 2;
          transactions.push({ mail: mail ?? "", rcpts, data: pending.subarray(0, end) });
          pending = pending.subarray(end);
          inData = false;
          mail = null;
          rcpts = [];
          reply("250 2.0.0 Ok: queued");
          for (const w of waiters) w();
          continue;
        }
        const eol = pending.indexOf("\n");
        if (eol < 0) return;
        const line = pending.subarray(0, eol).toString("utf8").replace(/\r$/, "");
        pending = pending.subarray(eol + 1);
        command(line);
      }
    };

    socket.on("data", (chunk: Buffer) => {
      received.push(chunk);
      pending = Buffer.concat([pending, chunk]);
      consume();
    });
    reply("220 raw-peer.test ESMTP");
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const { port } = server.address() as net.AddressInfo;

  return {
    host,
    port,
    transactions,
    connections,
    waitForTransactions(count, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (transactions.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(transactions.slice(0, count));
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${transactions.length} of ${count} transactions within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The message a DATA section carries: the final "." line removed and dot-stuffing undone. */
export function unstuff(data: Buffer): Buffer {
  const text = data.toString("latin1");
  if (!text.endsWith(".\r\n")) throw new Error("DATA section without its final dot");
  const content = text.slice(0, -3);
  return Buffer.from(content.replace(/(^|\r\n)\.\./g, "$1."), "latin1");
}

/** Offsets of every CR not followed by LF and every LF not preceded by CR. */
export function strayLineEnds(data: Buffer): number[] {
  const stray: number[] = [];
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x0d && data[i + 1] !== 0x0a) stray.push(i);
    if (data[i] === 0x0a && data[i - 1] !== 0x0d) stray.push(i);
  }
  return stray;
}
