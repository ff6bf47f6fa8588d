/**
 * The inbound SMTP listener: one smtp-server per `listen` address, speaking ESMTP with
 * PIPELINING, 8BITMIME, SMTPUTF8, SIZE, ENHANCEDSTATUSCODES and DSN.
 *
 * It enforces the protocol limits (size, recipients, line length, relay access) and turns a
 * finished DATA into a NewMessage plus a body with CRLF line endings and our Received header.
 * What happens to the message then is the Receiver's job; we say 250 only after
 * `receiver.accept` has resolved, i.e. after the message is durable.
 *
 * Flow per transaction: MAIL (capacity check) -> RCPT (relay check) -> DATA (normalise,
 * measure, prepend Received) -> receiver.accept -> reply.
 */
import type { Logger } from "pino";
import {
  SMTPServer,
  type SMTPServerDataStream,
  type SMTPServerOptions,
  type SMTPServerSession,
} from "smtp-server";
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js";
import type { Config } from "../config/types.ts";
import type { Reply } from "../message/types.ts";
import { toNewMessage } from "./envelope.ts";
import { countReceivedHeaders } from "./hops.ts";
import { LineEndingFixer } from "./normalize.ts";
import { formatReceivedHeader, protocolName } from "./received-header.ts";
import { createRelayAccess, plainAddress } from "./relay-access.ts";
import { replyError, replyText, type SmtpConnection, useOwnEnhancedCodes } from "./replies.ts";
import type { Receiver } from "./types.ts";

export interface ListenerDeps {
  config: Config;
  receiver: Receiver;
  logger: Logger;
  /** How long stop() lets running sessions finish before it says 421 and closes them. */
  closeGraceMs?: number;
}

export interface ListeningAddress {
  host: string;
  port: number;
}

export interface SmtpListener {
  /** Binds every `config.listen` address; rejects (and unbinds) if any of them fails. */
  start(): Promise<ListeningAddress[]>;
  /** Stops accepting, lets sessions finish within the grace period, then closes them. */
  stop(): Promise<void>;
}

const DEFAULT_CLOSE_GRACE_MS = 10_000;

const RELAY_DENIED: Reply = { code: 554, enhanced: "5.7.1", text: "Relay access denied" };
const LOCAL_ERROR: Reply = { code: 451, enhanced: "4.3.0", text: "Error: local error in processing" };
const WRITE_ERROR: Reply = { code: 451, enhanced: "4.3.0", text: "Error: queue file write error" };
const SHUTTING_DOWN: Reply = { code: 421, enhanced: "4.3.2", text: "Service shutting down, try again later" };

/**
 * smtp-server with exact enhanced status codes on every connection (see replies.ts), and without
 * its fixed 100 ms early-talker pause before the greeting: on a relay listener for trusted
 * clients that pause is pure latency (it capped a 20-session client at ~180 msgs/s). An
 * anti-spam greet pause belongs to the input role's policy checks, configured per listener.
 */
class ExactReplySmtpServer extends SMTPServer {
  override connect(...[socket, socketOptions]: Parameters<SMTPServer["connect"]>): void {
    const connection = new SMTPConnection(this, socket, socketOptions);
    this.connections.add(connection);
    connection.on("error", (err) => this._onError(err));
    connection.on("connect", (data) => this._onClientConnect(data));
    useOwnEnhancedCodes(connection);
    // What connection.init() does, minus the setTimeout(connectionReady, 100).
    connection._setListeners(() => connection.connectionReady());
  }
}

export function createListener(deps: ListenerDeps): SmtpListener {
  const { config, receiver, logger } = deps;
  const { limits } = config;
  const relayAccess = createRelayAccess(config.relay.trustedNetworks);
  const closeGraceMs = deps.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
  const sessionLoggers = new WeakMap<SMTPServerSession, Logger>();
  let servers: SMTPServer[] = [];
  /** Sessions from their DATA command until our reply to it: stop() lets these finish. */
  const busySessions = new Set<SMTPServerSession>();
  let stopping: Promise<void> | null = null;

  function log(session: SMTPServerSession): Logger {
    let child = sessionLoggers.get(session);
    if (child === undefined) {
      child = logger.child({ session: session.id, client: plainAddress(session.remoteAddress) });
      sessionLoggers.set(session, child);
    }
    return child;
  }

  function checkCapacity(session: SMTPServerSession, done: (err?: Error | null) => void): void {
    receiver.checkCapacity().then(
      (reply) => {
        if (reply === null) return done();
        log(session).info({ reply: replyText(reply) }, "MAIL refused: no capacity");
        done(replyError(reply));
      },
      (error: unknown) => {
        log(session).error({ err: error }, "capacity check failed");
        done(replyError(LOCAL_ERROR));
      },
    );
  }

  function checkRelay(
    recipient: string,
    session: SMTPServerSession,
    done: (err?: Error | null) => void,
  ): void {
    if (relayAccess.isTrusted(session.remoteAddress)) {
      done();
      return;
    }
    log(session).info({ recipient }, "RCPT refused: relay access denied");
    done(replyError(RELAY_DENIED));
  }

  /** Reads the message, checks its limits and hands it to the receiver; returns the reply. */
  async function receiveMessage(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<Reply> {
    // Plain 'data'/'end' listeners rather than stream.pipeline: pipeline's per-call
    // AbortController showed up as ~5% of CPU per message in profiles.
    const fixer = new LineEndingFixer();
    const parts: Buffer[] = [];
    let keeping = true;
    const keep = (part: Buffer) => {
      if (!keeping || part.length === 0) return; // over a limit: read to the end, keep nothing
      const { bytes, longestLine } = fixer.stats;
      if (bytes > limits.maxMessageSize || longestLine > limits.maxLineLength) keeping = false;
      else parts.push(part);
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
      log(session).info({ bytes: stats.bytes }, "message refused: too big");
      const text = `Error: message exceeds fixed maximum message size ${limits.maxMessageSize}`;
      return { code: 552, enhanced: "5.3.4", text };
    }
    if (stats.longestLine > limits.maxLineLength) {
      // RFC 5321 4.5.3.1.6 caps a text line at 1000 octets with CRLF. We cannot relay such a line
      // unchanged, and rewrapping would break DKIM and MIME, so we refuse the message. 554 is the
      // "transaction failed" reply RFC 5321 gives for DATA; 5.6.0 (RFC 3463: "other or undefined
      // media error") says the content, not its size (5.3.4) or storage (552), is the problem.
      // It is permanent: sending the same message again cannot succeed.
      log(session).info({ longestLine: stats.longestLine }, "message refused: line too long");
      const text = `Error: message has lines longer than ${limits.maxLineLength} octets`;
      return { code: 554, enhanced: "5.6.0", text };
    }
    const hops = countReceivedHeaders(Buffer.concat(parts));
    if (hops >= limits.maxHops) {
      // Our own Received header would push it past the limit: a mail loop (issue: hop count).
      log(session).warn({ hops }, "message refused: too many hops (mail loop?)");
      return { code: 554, enhanced: "5.4.0", text: `Error: too many hops (${hops} Received headers)` };
    }
    if (stats.bareLineEndings > 0) {
      log(session).info({ bareLineEndings: stats.bareLineEndings }, "bare CR/LF in message changed to CRLF");
    }

    const arrivedAt = Date.now();
    const message = toNewMessage(session, arrivedAt);
    const received = formatReceivedHeader({
      clientHelo: message.clientHelo,
      clientAddress: message.clientAddress,
      hostname: config.hostname,
      protocol: protocolName({
        ehlo: session.openingCommand === "EHLO",
        tls: session.secure,
        authenticated: session.user !== undefined,
        smtpUtf8: message.smtpUtf8,
      }),
      recipients: message.recipients.map((recipient) => recipient.address),
      date: new Date(arrivedAt),
    });
    parts.unshift(Buffer.from(received, "utf8"));
    const body = Buffer.concat(parts);

    try {
      const result = await receiver.accept(message, body);
      if (!result.ok) {
        log(session).info({ reply: replyText(result.reply) }, "message refused by receiver");
        return result.reply;
      }
      // The delivery log already has a "received" line per message; this is for debugging.
      log(session).debug(
        { id: result.id, from: message.sender, recipients: message.recipients.length, size: body.length },
        "message queued",
      );
      return { code: 250, enhanced: "2.0.0", text: `Ok: queued as ${result.id}` };
    } catch (error) {
      log(session).error({ err: error }, "receiver failed to store the message");
      return WRITE_ERROR;
    }
  }

  function serverOptions(): SMTPServerOptions {
    // A fresh object per server: smtp-server modifies its options in place.
    return {
      name: config.hostname,
      banner: "mailfleet",
      size: limits.maxMessageSize,
      hideSize: false,
      rejectOversized: true,
      hideDSN: false,
      hideENHANCEDSTATUSCODES: false,
      hidePIPELINING: false,
      hide8BITMIME: false,
      hideSMTPUTF8: false,
      hideSTARTTLS: true,
      // hideSTARTTLS alone still lets a client start TLS with smtp-server's built-in test
      // certificate, whose private key is public. Until TLS is configured, refuse STARTTLS.
      disabledCommands: ["AUTH", "STARTTLS"],
      authOptional: true,
      maxAllowedUnauthenticatedCommands: false,
      maxRecipients: limits.maxRecipients,
      maxCommandLength: limits.maxCommandLength,
      socketTimeout: limits.sessionTimeoutMs,
      closeTimeout: closeGraceMs,
      disableReverseLookup: true,
      logger: false,
      onConnect(session, done) {
        log(session).debug({ local: `${session.localAddress}:${session.localPort}` }, "client connected");
        done();
      },
      onClose(session) {
        log(session).debug({ transactions: session.transaction - 1 }, "client disconnected");
      },
      onMailFrom(_address, session, done) {
        checkCapacity(session, done);
      },
      onRcptTo(address, session, done) {
        checkRelay(address.address, session, done);
      },
      onData(stream, session, done) {
        busySessions.add(session);
        receiveMessage(stream, session)
          .then(
            (reply) => (reply.code === 250 ? done(null, replyText(reply)) : done(replyError(reply))),
            (error: unknown) => {
              // Only when the client went away in the middle of DATA: nobody is left to answer.
              log(session).debug({ err: error }, "message not received in full");
              done(replyError(LOCAL_ERROR));
            },
          )
          .finally(() => {
            busySessions.delete(session);
            if (stopping !== null) sayGoodbye((connection) => connection.session === session);
          });
      },
    };
  }

  async function listenOn(
    address: ListeningAddress,
  ): Promise<{ server: SMTPServer; bound: ListeningAddress }> {
    const server = new ExactReplySmtpServer(serverOptions());
    server.on("error", (error) => logger.warn({ err: error }, "SMTP listener error"));
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      server.server.once("error", onError);
      server.listen(address.port, address.host, () => {
        server.server.off("error", onError);
        resolve();
      });
    }).catch((error: unknown) => {
      server.server.close();
      throw new Error(`cannot listen on ${address.host}:${address.port}: ${String(error)}`, { cause: error });
    });
    const bound = server.server.address();
    const port = typeof bound === "object" && bound !== null ? bound.port : address.port;
    return { server, bound: { host: address.host, port } };
  }

  function closeServer(server: SMTPServer): Promise<void> {
    return new Promise((resolve) => server.close(() => resolve()));
  }

  /** Sends 421 (which also closes the connection) to every connection `which` picks. */
  function sayGoodbye(which: (connection: SmtpConnection) => boolean): void {
    for (const server of servers) {
      for (const connection of server.connections) {
        if (which(connection)) connection.send(SHUTTING_DOWN.code, replyText(SHUTTING_DOWN));
      }
    }
  }

  return {
    async start() {
      if (servers.length > 0) throw new Error("SMTP listener already started");
      const addresses: ListeningAddress[] = [];
      try {
        for (const address of config.listen) {
          const { server, bound } = await listenOn(address);
          servers.push(server);
          addresses.push(bound);
          logger.info(bound, "SMTP listener started");
        }
      } catch (error) {
        await Promise.all(servers.map(closeServer));
        servers = [];
        throw error;
      }
      return addresses;
    },

    stop() {
      stopping ??= shutdown().finally(() => {
        stopping = null;
      });
      return stopping;
    },
  };

  async function shutdown(): Promise<void> {
    if (servers.length === 0) return;
    // smtp-server stops listening, answers any further command with 421, and after the
    // grace period sends 421 to whoever is left. Sessions that are not in the middle of a
    // message have nothing to finish, so they get the 421 now; a message being received or
    // stored gets its reply first (see onData), then the 421.
    const closed = Promise.all(servers.map(closeServer));
    sayGoodbye((connection) => !busySessions.has(connection.session));
    await closed;
    servers = [];
    logger.info("SMTP listener stopped");
  }
}
