/**
 * Opens one SMTP connection to one address of one MX host and takes it through the greeting,
 * EHLO and (per TLS policy) STARTTLS, using nodemailer's SMTPConnection over a TCP socket we
 * connect ourselves (so the connect timeout and source address binding are exact and the bound
 * address is known). An LMTP transport (RFC 2033) says LHLO instead, over TCP or over a Unix
 * socket, whose path then stands where the address would (nodemailer speaks both protocols).
 * Every failure comes back as data: the reply, the stage, and whether it was a 5xx from the peer
 * or a TLS failure (the caller may then retry in plaintext).
 */
import net from "node:net";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import type { TransportConfig } from "../config/types.ts";
import type { Reply } from "../message/types.ts";
import {
  classifyReply,
  networkFailureReply,
  parseReply,
  type SmtpStage,
  withEnhancedCode,
} from "./classify.ts";

/** The error shape nodemailer's SMTPConnection reports. */
export interface SmtpClientError extends Error {
  code?: string;
  originalCode?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  recipient?: string;
}

/**
 * Internals of nodemailer's SMTPConnection we rely on (pinned nodemailer 10): the envelope
 * bookkeeping (to know which recipients were accepted when send() fails after RCPT), the
 * recipient being sent (for per-recipient DSN parameters), the peer's extensions, the command
 * writer (to add SMTPUTF8 to MAIL when nodemailer would not) and the socket.
 */
export interface SmtpConnectionInternals {
  _envelope: { accepted: string[]; rejectedErrors: SmtpClientError[] } | false;
  _recipientQueue: string[];
  _supportedExtensions: string[];
  _getDsnRcptToArgs: () => string;
  _sendCommand: (str: string, logStr?: string) => void;
  /** LMTP: handles the reply to the message for one recipient (pushed once per recipient). */
  _actionLMTPStream: (
    recipient: string,
    final: boolean,
    str: string,
    callback: (...args: unknown[]) => void,
  ) => void;
  _socket: net.Socket | false | null;
  upgrading?: boolean | undefined;
  destroyed: boolean;
}

/** "plain": never STARTTLS. "opportunistic": STARTTLS when offered. "required": STARTTLS or fail. */
export type TlsMode = "plain" | "opportunistic" | "required";

export interface ConnectTarget {
  hostName: string;
  ip: string;
  port: number;
  transport: TransportConfig;
  tls: TlsMode;
}

export type ConnectResult =
  | { ok: true; conn: SMTPConnection; internals: SmtpConnectionInternals; sourceIp: string | null }
  | {
      ok: false;
      reply: Reply;
      stage: SmtpStage;
      /** Who is to blame: "source" when the peer's refusal names our IP (blocklist, reputation). */
      scope: "destination" | "source";
      peer5xx: boolean;
      tlsFailed: boolean;
      /** The source address could not be bound: nothing was sent to the destination. */
      bindFailed: boolean;
    };

/** "host[ip]:port", the way logs and reply texts name a peer; a Unix socket by its nexthop. */
export function peerName(target: { hostName: string; ip: string; port: number }): string {
  return target.port === 0 ? target.hostName : `${target.hostName}[${target.ip}]:${target.port}`;
}

/** The transport delivers with LMTP (LHLO, one reply per recipient after the message). */
export function speaksLmtp(transport: TransportConfig): boolean {
  return transport.nexthop.kind === "lmtp";
}

/** The Unix socket an LMTP transport connects to, or null for TCP. */
export function unixSocketOf(transport: TransportConfig): string | null {
  return transport.nexthop.kind === "lmtp" ? transport.nexthop.socketPath : null;
}

/**
 * Connect bounded by connectMs: TCP, bound to the transport's source address when it has one,
 * or a Unix socket (no source address: it never leaves the host).
 */
function connectSocket(
  target: ConnectTarget,
): Promise<{ ok: true; socket: net.Socket } | { ok: false; error: Error }> {
  return new Promise((resolve) => {
    const { transport } = target;
    const path = unixSocketOf(transport);
    const socket = net.connect(
      path !== null
        ? { path }
        : {
            host: target.ip,
            port: target.port,
            ...(transport.bindAddress ? { localAddress: transport.bindAddress } : {}),
          },
    );
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, error: Object.assign(new Error("connect timed out"), { code: "ETIMEDOUT" }) });
    }, transport.timeouts.connectMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      // nodemailer adds its own error handler; this one only keeps a late error from throwing.
      socket.removeListener("error", onError);
      socket.on("error", () => {});
      resolve({ ok: true, socket });
    });
    const onError = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: false, error });
    };
    socket.once("error", onError);
  });
}

function stageOf(err: SmtpClientError, upgrading: boolean): SmtpStage {
  if (upgrading || err.code === "ETLS" || err.command === "STARTTLS") return "tls";
  if (err.command === "EHLO" || err.command === "HELO") return "ehlo";
  return "greeting";
}

/** Describes a failed setup as a reply; TLS failures are always temporary (4.7.5). */
export function setupFailure(target: ConnectTarget, err: SmtpClientError, stage: SmtpStage): ConnectResult {
  const peer = peerName(target);
  if (stage === "tls") {
    const detail = err.response ? parseReply(err.response) : null;
    const text = `TLS negotiation with ${peer} failed: ${detail ? `${detail.code} ${detail.text}` : err.message}`;
    return {
      ok: false,
      reply: { code: 451, enhanced: "4.7.5", text },
      stage,
      scope: "destination",
      peer5xx: false,
      tlsFailed: true,
      bindFailed: false,
    };
  }
  if (err.response && /^[45]\d\d/.test(err.response)) {
    const reply = withEnhancedCode(parseReply(err.response), stage);
    const text = `host ${peer} said: ${reply.text}`;
    // Classified on the peer's own words, before our prefix adds its address to the text.
    const scope = classifyReply(reply, stage).scope === "source" ? "source" : "destination";
    return {
      ok: false,
      reply: { ...reply, text },
      stage,
      scope,
      peer5xx: reply.code >= 500,
      tlsFailed: false,
      bindFailed: false,
    };
  }
  const what = stage === "connect" ? `connect to ${peer}` : `${stage} with ${peer}`;
  const reply = networkFailureReply(err.originalCode ?? err.code, stage, what);
  return {
    ok: false,
    reply,
    stage,
    scope: "destination",
    peer5xx: false,
    tlsFailed: false,
    bindFailed: false,
  };
}

/** The local address could not be bound (EADDRNOTAVAIL...): our problem, not the peer's. */
function bindFailure(target: ConnectTarget, err: NodeJS.ErrnoException): ConnectResult {
  const address = target.transport.bindAddress ?? "?";
  const text = `cannot bind source address ${address} to connect to ${peerName(target)}: ${err.code ?? err.message}`;
  return {
    ok: false,
    reply: { code: 451, enhanced: "4.4.0", text },
    stage: "connect",
    scope: "source",
    peer5xx: false,
    tlsFailed: false,
    bindFailed: true,
  };
}

function clientOptions(target: ConnectTarget, socket: net.Socket): SMTPConnection.Options {
  const { timeouts, helo } = target.transport;
  return {
    host: target.ip,
    port: target.port,
    connection: socket,
    name: helo,
    lmtp: speaksLmtp(target.transport),
    // Covers greeting, EHLO and the STARTTLS exchange (nodemailer measures setup from here).
    connectionTimeout: timeouts.greetingMs + 2 * timeouts.commandMs,
    greetingTimeout: timeouts.greetingMs,
    socketTimeout: Math.max(timeouts.commandMs, timeouts.dataMs),
    socketCloseTimeout: Math.min(timeouts.commandMs, 5000),
    logger: false,
    // Opportunistic and "required" TLS both encrypt without authenticating the peer (as
    // Postfix's "may" and "encrypt" levels do): MX certificates are too often self-signed.
    tls: {
      rejectUnauthorized: false,
      ...(net.isIP(target.hostName) ? {} : { servername: target.hostName }),
    },
    ignoreTLS: target.tls === "plain" || unixSocketOf(target.transport) !== null,
    opportunisticTLS: target.tls === "opportunistic",
    requireTLS: target.tls === "required",
  };
}

/** Connects and completes the greeting/EHLO/STARTTLS; never rejects. */
export async function connectToAddress(target: ConnectTarget): Promise<ConnectResult> {
  const tcp = await connectSocket(target);
  if (!tcp.ok) {
    const err = tcp.error as NodeJS.ErrnoException;
    // Node reports a failed bind(2) of localAddress with syscall "bind".
    if (err.syscall === "bind") return bindFailure(target, err);
    return setupFailure(target, tcp.error as SmtpClientError, "connect");
  }
  const { socket } = tcp;
  const sourceIp = socket.localAddress ?? null;
  const conn = new SMTPConnection(clientOptions(target, socket));
  const internals = conn as unknown as SmtpConnectionInternals;
  const { timeouts } = target.transport;

  return new Promise<ConnectResult>((resolve) => {
    let settled = false;
    const finish = (result: ConnectResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      conn.removeListener("end", onEnd);
      if (!result.ok) conn.close();
      resolve(result);
    };
    const fail = (err: SmtpClientError) =>
      finish(setupFailure(target, err, stageOf(err, internals.upgrading === true)));
    const onEnd = () => fail(Object.assign(new Error("connection closed"), { code: "ECONNECTION" }));
    // Backstop for every wait nodemailer does not bound on its own.
    const guard = setTimeout(
      () => fail(Object.assign(new Error("session setup timed out"), { code: "ETIMEDOUT" })),
      timeouts.greetingMs + 3 * timeouts.commandMs,
    );
    // nodemailer emits "error" on every failure; without a listener that would throw.
    conn.on("error", (err: SmtpClientError) => {
      if (!settled) fail(err);
    });
    conn.once("end", onEnd);
    conn.connect((err) => {
      if (err) fail(err as SmtpClientError);
      else finish({ ok: true, conn, internals, sourceIp });
    });
  });
}
