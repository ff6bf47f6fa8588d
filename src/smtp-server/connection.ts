/**
 * One inbound SMTP session: smtp-server's SMTPConnection with the protection smtp-server leaves
 * to the application (issue #5, "Protocol hardening"), set per listener by `SessionRules`:
 *
 * - exact enhanced status codes: a reply text that starts with our own code is sent as is;
 * - connections per client IP, and sessions in all of the instance's listeners: over either
 *   limit, `421 4.7.0` and close (trusted networks exempt, though their sessions count);
 * - greet pause: the banner waits; a client that talks first gets `554 5.5.0` and is closed
 *   (smtp-server's fixed 100 ms pause is replaced, it cost trusted clients pure latency);
 * - command lines over the limit: `500 5.5.2`, the line dropped, the session goes on
 *   (line-limit.ts); NUL, other control bytes or invalid UTF-8 in a command: `501 5.5.2`;
 * - HTTP verbs (GET, POST, CONNECT, ...) as a command: `421 4.7.0` and close at once;
 * - error limit: after `maxErrors` 4xx/5xx replies without a delivered message, `421 4.7.0`
 *   (replaces smtp-server's 10-unknown-commands limit, which counted only unknown verbs);
 * - slow clients: a command line must be complete within `commandTimeoutMs` of our last reply,
 *   and DATA must keep up `minDataRate` bytes/s on top of that allowance (Postfix's
 *   smtpd_per_request_deadline and smtpd_min_data_rate); else `421 4.4.2`. smtp-server's own
 *   idle timeout alone is reset by every byte, so a slowloris trickling bytes never hits it;
 * - AUTH only over TLS: not advertised before, and `530 5.7.0` when tried; `authGate` refuses
 *   it for clients with too many failures;
 * - the raw path of each RCPT, kept for the relay check (smtp-server strips source routes).
 *
 * smtp-server's parser, STARTTLS (it discards plaintext pipelined behind STARTTLS and forgets
 * the EHLO) and command handlers do the rest.
 */
import { isUtf8 } from "node:buffer";
import type { Socket } from "node:net";
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from "smtp-server";
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js";
import type { Reply } from "../message/types.ts";
import { LineLimitStream } from "./line-limit.ts";
import { enhancedCodeContext, replyText } from "./replies.ts";

export interface SessionRules {
  /** Longest command line, without CRLF. */
  maxCommandLength: number;
  maxErrors: number;
  commandTimeoutMs: number;
  /** Bytes per second during DATA; 0 = no rate check. */
  minDataRate: number;
  /** Greeting delay for this client; 0 = greet at once. */
  greetPauseMs(client: string): number;
  /** Simultaneous sessions allowed from this client; 0 = no limit. */
  connectionLimit(client: string): number;
  /** Sessions of all clients together beyond which this client is refused; 0 = no limit. */
  totalConnectionLimit(client: string): number;
  /** Sessions per client, shared by every listener of the instance. */
  clients: ClientCounter;
  /** AUTH is configured (it is still offered only over TLS). */
  authEnabled: boolean;
  /** Asked before an AUTH exchange starts: a refusal (e.g. too many failures), or null. */
  authGate(client: string): Reply | null;
}

/** Open sessions per client address, and in all. */
export class ClientCounter {
  readonly #counts = new Map<string, number>();
  #total = 0;

  add(client: string): number {
    const count = (this.#counts.get(client) ?? 0) + 1;
    this.#counts.set(client, count);
    this.#total++;
    return count;
  }

  remove(client: string): void {
    this.#total--;
    const count = (this.#counts.get(client) ?? 0) - 1;
    if (count > 0) this.#counts.set(client, count);
    else this.#counts.delete(client);
  }

  count(client: string): number {
    return this.#counts.get(client) ?? 0;
  }

  get total(): number {
    return this.#total;
  }
}

const HTTP_VERBS = new Set(["GET", "POST", "CONNECT", "HEAD", "PUT", "OPTIONS", "DELETE", "TRACE", "PATCH"]);
/** NUL, C0 controls but TAB (a bare CR is inside the line when it reaches us), DEL, bad UTF-8. */
function hasBadBytes(command: Buffer): boolean {
  for (const byte of command) {
    if ((byte < 0x20 && byte !== 0x09) || byte === 0x7f) return true;
  }
  return !isUtf8(command);
}
const RAW_RCPT = Symbol("rawRecipientPath");

const TOO_MANY_CONNECTIONS = "4.7.0 Error: too many connections from your address, try again later";
const SERVER_FULL = "4.7.0 Error: too many connections, try again later";
const TALKED_FIRST = "5.5.0 Error: protocol violation: client sent data before the greeting";
const LINE_TOO_LONG = "5.5.2 Error: line too long";
const BAD_BYTES = "5.5.2 Error: NUL, control or invalid UTF-8 bytes in command";
const HTTP_COMMAND = "4.7.0 Error: this is an SMTP server, HTTP requests are not allowed";
const TOO_MANY_ERRORS = "4.7.0 Error: too many errors";
const TIMEOUT = "4.4.2 Error: timeout exceeded, closing connection";
const STARTTLS_FIRST = "5.7.0 Must issue a STARTTLS command first";

/** The path exactly as the client wrote it in its last RCPT TO (e.g. "<@a:u@b>"), if any. */
export function rawRecipientPath(session: SMTPServerSession): string | undefined {
  return (session as SMTPServerSession & { [RAW_RCPT]?: string })[RAW_RCPT];
}

function recipientPath(command: Buffer): string {
  const line = command.toString("utf8");
  return (
    line
      .slice(line.indexOf(":") + 1)
      .trim()
      .split(/\s+/)[0] ?? ""
  ).trim();
}

/** smtp-server with our sessions. One per listening address; `rules` may be shared. */
export class HardenedSmtpServer extends SMTPServer {
  readonly rules: SessionRules;

  constructor(options: SMTPServerOptions, rules: SessionRules) {
    super(options);
    this.rules = rules;
  }

  override connect(...[socket, socketOptions]: Parameters<SMTPServer["connect"]>): void {
    const connection = new HardenedConnection(this, socket, socketOptions, this.rules);
    this.connections.add(connection);
    connection.on("error", (err) => this._onError(err));
    connection.on("connect", (data) => this._onClientConnect(data));
    connection.start();
  }
}

class HardenedConnection extends SMTPConnection {
  readonly #rules: SessionRules;
  #errors = 0;
  /** When the client last started to owe us input (our last reply). */
  #owedSince = Date.now();
  #deadline: NodeJS.Timeout | null = null;
  #greetTimer: NodeJS.Timeout | null = null;
  #counted = false;

  constructor(
    server: HardenedSmtpServer,
    socket: Socket,
    options: ConstructorParameters<typeof SMTPConnection>[2],
    rules: SessionRules,
  ) {
    super(server, socket, options);
    this.#rules = rules;
    // The constructor already made a stock parser; ours replaces it before anything is piped.
    this._parser = this._createParser();
  }

  /** What SMTPConnection.init() does, with our connection limit and greet pause. */
  start(): void {
    this._setListeners(() => {
      const client = this.remoteAddress;
      this.#counted = true;
      const open = this.#rules.clients.add(client);
      const limit = this.#rules.connectionLimit(client);
      if (limit > 0 && open > limit) {
        this.send(421, TOO_MANY_CONNECTIONS);
        return;
      }
      const totalLimit = this.#rules.totalConnectionLimit(client);
      if (totalLimit > 0 && this.#rules.clients.total > totalLimit) {
        this.send(421, SERVER_FULL);
        return;
      }
      this.#armDeadline(this.#rules.commandTimeoutMs);
      const pause = this.#rules.greetPauseMs(client);
      if (pause <= 0) {
        this.connectionReady();
        return;
      }
      this._socket.once("data", () => {
        if (!this._ready) this.#talkedFirst();
      });
      this.#greetTimer = setTimeout(() => {
        this.#greetTimer = null;
        if (!this._closing && !this._closed) this.connectionReady();
      }, pause);
      this.#greetTimer.unref();
    });
  }

  override _createParser(): LineLimitStream {
    // Called by the base constructor before our fields exist: then make a stock-limited one
    // that the constructor above replaces at once.
    const limit = #rules in this ? this.#rules.maxCommandLength : 998;
    const parser = new LineLimitStream(limit, (resume) => this.#lineTooLong(resume));
    parser.oncommand = (command, callback) => this._onCommand(command, callback);
    parser.on("error", (err) => this.send(421, `Error: ${err.message}`));
    return parser;
  }

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    super.send(code, data, enhancedCodeContext(code, data, context));
    this.#owedSince = Date.now();
    if (code === 250 && context === "DATA_OK") {
      this.#errors = 0; // "without delivering mail", as Postfix counts
    } else if (code >= 400 && code !== 421 && !this._closing) {
      this.#errors++;
      if (this.#errors >= this.#rules.maxErrors) super.send(421, TOO_MANY_ERRORS, false);
    }
  }

  override _onCommand(command: Buffer, callback?: () => void): void {
    if (this._upgrading || this._nextHandler) {
      // Plaintext behind STARTTLS is discarded there; an AUTH exchange line goes to its step.
      super._onCommand(command, callback);
      return;
    }
    if (!this._ready) {
      this.#talkedFirst();
      return;
    }
    const refusal = this.#refusal(command);
    if (refusal === null) {
      this._unrecognizedCommands = 0; // our error limit applies instead
      super._onCommand(command, callback);
      return;
    }
    this.send(refusal.code, refusal.text); // a 421 also closes
    if (refusal.code !== 421) setImmediate(() => this._whenWritable(callback ?? (() => {})));
  }

  /** Our own answer to a command smtp-server must not see, or null. */
  #refusal(command: Buffer): { code: number; text: string } | null {
    if (hasBadBytes(command)) return { code: 501, text: BAD_BYTES };
    const verb = (command.toString("latin1").split(" ", 1)[0] ?? "").toUpperCase();
    if (HTTP_VERBS.has(verb)) return { code: 421, text: HTTP_COMMAND };
    if (verb !== "AUTH" || !this.#rules.authEnabled) return null;
    if (!this.secure) return { code: 530, text: STARTTLS_FIRST };
    const gate = this.session.user ? null : this.#rules.authGate(this.remoteAddress);
    return gate === null ? null : { code: gate.code, text: replyText(gate) };
  }

  override _isDisabled(command: string): boolean {
    if (command === "AUTH" && (!this.#rules.authEnabled || !this.secure)) return true;
    return super._isDisabled(command);
  }

  override handler_RCPT(command: Buffer, callback: () => void): void {
    (this.session as SMTPServerSession & { [RAW_RCPT]?: string })[RAW_RCPT] = recipientPath(command);
    super.handler_RCPT(command, callback);
  }

  override _onClose(): void {
    if (this.#counted) {
      this.#counted = false;
      this.#rules.clients.remove(this.remoteAddress);
    }
    this.#clearTimers();
    super._onClose();
  }

  override close(): void {
    this.#clearTimers();
    super.close();
  }

  #clearTimers(): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    if (this.#greetTimer) clearTimeout(this.#greetTimer);
    this.#deadline = null;
    this.#greetTimer = null;
  }

  #talkedFirst(): void {
    if (this._closing || this._closed) return;
    this.send(554, TALKED_FIRST);
    this.close();
  }

  #lineTooLong(resume: () => void): void {
    if (this._upgrading || this._closing) resume();
    else if (!this._ready) this.#talkedFirst();
    else {
      this.send(500, LINE_TOO_LONG);
      this._whenWritable(resume);
    }
  }

  #armDeadline(ms: number): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#deadline = setTimeout(() => this.#checkDeadline(), Math.max(ms, 10));
    this.#deadline.unref();
  }

  /** Cuts off a client that owes us a command or data for too long (see the header). */
  #checkDeadline(): void {
    this.#deadline = null;
    if (this._closing || this._closed) return;
    const { commandTimeoutMs, minDataRate } = this.#rules;
    const parser = this._parser;
    const dataMode = parser !== false && parser._dataMode;
    const waitingForUs =
      !this._ready || this._upgrading || this._handlerPending || (this._dataStream && !dataMode);
    if (waitingForUs || (dataMode && minDataRate <= 0)) {
      this.#armDeadline(commandTimeoutMs);
      return;
    }
    let limit = this.#owedSince + commandTimeoutMs;
    if (dataMode) limit += ((parser as LineLimitStream).dataBytes * 1000) / minDataRate;
    const now = Date.now();
    if (now >= limit) {
      this.send(421, TIMEOUT);
      return;
    }
    this.#armDeadline(limit - now);
  }
}
