/**
 * Test-only helpers for the listener tests: a config with small limits, a Receiver that records
 * what it was given, and a raw SMTP client that writes exact bytes and reads whole replies.
 * A raw socket is used (not a full client library) where tests need exact bytes on the wire.
 */
import { connect, type Socket } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import pino from "pino";
import { defaultPolicy } from "../config/schema-policy.ts";
import type { Config } from "../config/types.ts";
import type { NewMessage, Reply } from "../message/types.ts";
import { createListener, type ListenerDeps, type SmtpListener } from "./listener.ts";
import type { AcceptResult, Receiver } from "./types.ts";

/** A complete Config for listener tests; pass limits to change and/or the trusted networks. */
export function testConfig(
  overrides: Partial<Config["limits"]> & { trustedNetworks?: string[]; localDomains?: string[] } = {},
): Config {
  const { trustedNetworks = ["127.0.0.0/8"], localDomains = [], ...limits } = overrides;
  return {
    source: "<test>",
    instance: { name: "main", role: "all", enabled: true, relayTo: null },
    hostname: "mx.test.example",
    spoolDir: "/nonexistent",
    listen: [{ host: "127.0.0.1", port: 0 }],
    limits: {
      maxMessageSize: 10_000,
      maxRecipients: 3,
      maxLineLength: 998,
      maxCommandLength: 998,
      minFreeDiskBytes: 0,
      sessionTimeoutMs: 10_000,
      maxHops: 50,
      greetPauseMs: 0,
      maxErrors: 20,
      commandTimeoutMs: 10_000,
      minDataRate: 500,
      maxConnectionsPerIp: 0,
      maxConnections: 0,
      ...limits,
    },
    relay: { trustedNetworks, localDomains },
    tls: null,
    auth: null,
    dns: { servers: [], timeoutMs: 1000, tries: 1 },
    delivery: { allowPrivateDestinations: true, defaultTransport: "default", threads: 0 },
    transports: {},
    sources: {},
    pools: {},
    routes: [],
    bounce: { from: "MAILER-DAEMON@mx.test.example", delayWarningAfterMs: 0 },
    log: { format: "json", file: "-", level: "error" },
    admin: { listen: null },
    policy: defaultPolicy("all", "mx.test.example"),
    dkim: { signers: [] },
    tenants: { from: ["auth_user", "header"], header: "X-Mailfleet-Tenant" },
  };
}

export interface RecordingReceiver extends Receiver {
  accepted: { message: NewMessage; body: Buffer }[];
  capacityReply: Reply | null;
  /** What accept does: answer with a result, or throw. */
  acceptBehaviour: "ok" | "throw" | { reply: Reply };
}

export function recordingReceiver(): RecordingReceiver {
  let counter = 0;
  const receiver: RecordingReceiver = {
    accepted: [],
    capacityReply: null,
    acceptBehaviour: "ok",
    async checkCapacity() {
      return receiver.capacityReply;
    },
    async accept(message, body): Promise<AcceptResult> {
      if (receiver.acceptBehaviour === "throw") throw new Error("disk on fire");
      if (receiver.acceptBehaviour !== "ok") return { ok: false, reply: receiver.acceptBehaviour.reply };
      receiver.accepted.push({ message, body });
      counter++;
      return { ok: true, id: `TESTID${String(counter).padStart(14, "0")}` };
    },
  };
  return receiver;
}

export interface RunningListener {
  listener: SmtpListener;
  port: number;
  receiver: RecordingReceiver;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startTestListener(
  config: Config,
  receiver = recordingReceiver(),
  extra: Partial<Pick<ListenerDeps, "closeGraceMs" | "policy">> = {},
): Promise<RunningListener> {
  const listener = createListener({
    config,
    receiver,
    logger: pino({ level: "silent" }),
    closeGraceMs: 500,
    ...extra,
  });
  const [first] = await listener.start();
  if (first === undefined) throw new Error("listener bound nothing");
  return { listener, port: first.port, receiver, [Symbol.asyncDispose]: () => listener.stop() };
}

export interface SmtpReply {
  code: number;
  lines: string[];
  /** All lines joined with "\n", without the "250-" prefixes. */
  text: string;
  /** The last line as sent, e.g. "250 2.0.0 Ok: queued as X". */
  last: string;
}

const REPLY_WAIT_MS = 5000;

/** A raw SMTP client: `send` writes exact bytes, `reply` waits for the next whole reply. */
export class RawSmtpClient {
  #socket: Socket;
  #buffer = "";
  #replies: SmtpReply[] = [];
  #waiting: (() => void) | null = null;
  #closed = false;
  readonly #onData = (data: Buffer) => {
    this.#buffer += data.toString("latin1");
    this.#parse();
  };

  private constructor(socket: Socket) {
    this.#socket = socket;
    this.#listen(socket);
  }

  #listen(socket: Socket): void {
    socket.on("data", this.#onData);
    socket.on("close", () => {
      this.#closed = true;
      this.#waiting?.();
    });
    socket.on("error", () => {});
  }

  static connect(port: number, localAddress = "127.0.0.1"): Promise<RawSmtpClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port, localAddress }, () =>
        resolve(new RawSmtpClient(socket)),
      );
      socket.once("error", reject);
    });
  }

  /** Connects with TLS from the first byte (an implicit-TLS listener); any certificate is taken. */
  static connectTls(port: number, localAddress = "127.0.0.1"): Promise<RawSmtpClient> {
    return new Promise((resolve, reject) => {
      const plain = connect({ host: "127.0.0.1", port, localAddress });
      plain.once("error", reject);
      const socket = tlsConnect({ socket: plain, rejectUnauthorized: false }, () =>
        resolve(new RawSmtpClient(socket)),
      );
      socket.once("error", reject);
    });
  }

  /**
   * Starts TLS on this connection (after the server's 220 to STARTTLS). Throws if any plaintext
   * reply is still unread: what the server said before the handshake must all be consumed.
   */
  async startTls(): Promise<TLSSocket> {
    if (this.#replies.length > 0 || this.#buffer !== "") {
      throw new Error(`unread plaintext before TLS: ${JSON.stringify(this.#buffer || this.#replies)}`);
    }
    const plain = this.#socket;
    plain.off("data", this.#onData);
    const secure = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ socket: plain, rejectUnauthorized: false }, () => resolve(s));
      s.once("error", reject);
    });
    this.#socket = secure;
    this.#listen(secure);
    return secure;
  }

  /** True when no reply is waiting to be read. */
  get idle(): boolean {
    return this.#replies.length === 0 && this.#buffer === "";
  }

  #parse(): void {
    const lines: string[] = [];
    for (;;) {
      const end = this.#buffer.indexOf("\r\n");
      if (end < 0) break;
      const line = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      lines.push(line);
      if (line.charAt(3) !== "-") {
        const text = lines.map((l) => l.slice(4)).join("\n");
        this.#replies.push({ code: Number(line.slice(0, 3)), lines: [...lines], text, last: line });
        lines.length = 0;
      }
    }
    // An unfinished multi-line reply goes back into the buffer.
    if (lines.length > 0) this.#buffer = `${lines.map((l) => `${l}\r\n`).join("")}${this.#buffer}`;
    this.#waiting?.();
  }

  send(data: string | Buffer): void {
    this.#socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  /** The next reply; rejects after a few seconds or when the connection closes first. */
  async reply(): Promise<SmtpReply> {
    const deadline = Date.now() + REPLY_WAIT_MS;
    while (this.#replies.length === 0) {
      if (this.#closed) throw new Error("connection closed while waiting for a reply");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${REPLY_WAIT_MS} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiting = null;
    }
    return this.#replies.shift()!;
  }

  async replies(count: number): Promise<SmtpReply[]> {
    const all: SmtpReply[] = [];
    for (let i = 0; i < count; i++) all.push(await this.reply());
    return all;
  }

  /** Sends one command line (CRLF added) and returns its reply. */
  async command(line: string): Promise<SmtpReply> {
    this.send(`${line}\r\n`);
    return this.reply();
  }

  /** Reads the greeting and says EHLO; returns the EHLO reply. */
  async hello(name = "client.test.example"): Promise<SmtpReply> {
    const greeting = await this.reply();
    if (greeting.code !== 220) throw new Error(`unexpected greeting ${greeting.last}`);
    return this.command(`EHLO ${name}`);
  }

  /** True once the server has closed the connection (waits up to `ms`). */
  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.#closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    return this.#closed;
  }

  close(): void {
    this.#socket.destroy();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
