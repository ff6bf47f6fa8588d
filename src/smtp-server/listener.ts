/**
 * The inbound SMTP listener: one smtp-server per `listen` address, speaking ESMTP with
 * PIPELINING, 8BITMIME, SMTPUTF8, SIZE, ENHANCEDSTATUSCODES and DSN, plus STARTTLS or implicit
 * TLS and AUTH when configured.
 *
 * It enforces the protocol limits (size, recipients, line length, relay access, AUTH senders;
 * the session-level hardening lives in connection.ts) and turns a finished DATA into a
 * NewMessage plus a body with CRLF line endings, the policy's headers and our Received header.
 * What happens to the message then is the Receiver's job; we say 250 only after
 * `receiver.accept` has resolved, i.e. after the message is durable.
 *
 * Flow per session: connect (policy.onConnect) -> MAIL (capacity, AUTH sender, policy.onMail)
 * -> RCPT (relay access, policy.onRcpt) -> DATA (normalise, measure, policy.onData, prepend
 * headers) -> receiver.accept -> reply; policy.onClose when the session ends.
 */
import type { Logger } from "pino";
import type { SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from "smtp-server";
import type { Config, ListenerConfig, ListenerTls } from "../config/types.ts";
import type { Reply } from "../message/types.ts";
import { ClientCounter, HardenedSmtpServer, rawRecipientPath, type SessionRules } from "./connection.ts";
import { clientHelo } from "./envelope.ts";
import { receiveMessage } from "./receive-message.ts";
import { createRelayAccess, plainAddress, relayRefusal } from "./relay-access.ts";
import { replyError, replyText } from "./replies.ts";
import { createSubmissionAuth, type SubmissionAuth, sessionUser } from "./submission-auth.ts";
import { loadTlsMaterial, type TlsMaterial } from "./tls-material.ts";
import { type InboundPolicy, NO_POLICY, type Receiver, type SessionFacts } from "./types.ts";

export interface ListenerDeps {
  config: Config;
  receiver: Receiver;
  logger: Logger;
  /** Inbound checks (rate limits, SPF/DKIM/DMARC, rspamd, DNSBL); none by default. */
  policy?: InboundPolicy;
  /** Per-recipient refusal before the policy's, e.g. the suppression list; null = go on. */
  recipientCheck?: (facts: { user: string | null; sender: string; recipient: string }) => Reply | null;
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
  /** Re-reads the users file and the TLS certificate (SIGHUP); other settings need a restart. */
  reload(next: Config): Promise<void>;
  /** Stops accepting, lets sessions finish within the grace period, then closes them. */
  stop(): Promise<void>;
}

const DEFAULT_CLOSE_GRACE_MS = 10_000;

const RELAY_DENIED: Reply = { code: 554, enhanced: "5.7.1", text: "Relay access denied" };
const LOCAL_ERROR: Reply = { code: 451, enhanced: "4.3.0", text: "Error: local error in processing" };
const SHUTTING_DOWN: Reply = { code: 421, enhanced: "4.3.2", text: "Service shutting down, try again later" };

type Done = (err?: Error | null) => void;

export function createListener(deps: ListenerDeps): SmtpListener {
  const { config, receiver, logger } = deps;
  const policy = deps.policy ?? NO_POLICY;
  const { limits } = config;
  const relayAccess = createRelayAccess(config.relay.trustedNetworks);
  const closeGraceMs = deps.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
  const sessionLoggers = new WeakMap<SMTPServerSession, Logger>();
  /** Sessions policy.onConnect was called for: they get policy.onClose. */
  const policySessions = new WeakSet<SMTPServerSession>();
  let servers: HardenedSmtpServer[] = [];
  let auth: SubmissionAuth | null = null;
  let tls: TlsMaterial | null = null;
  /** Sessions from their DATA command until our reply to it: stop() lets these finish. */
  const busySessions = new Set<SMTPServerSession>();
  let stopping: Promise<void> | null = null;

  const rules: SessionRules = {
    maxCommandLength: limits.maxCommandLength,
    maxErrors: limits.maxErrors,
    commandTimeoutMs: limits.commandTimeoutMs,
    minDataRate: limits.minDataRate,
    greetPauseMs: (client) => (relayAccess.isTrusted(client) ? 0 : limits.greetPauseMs),
    connectionLimit: (client) => (relayAccess.isTrusted(client) ? 0 : limits.maxConnectionsPerIp),
    totalConnectionLimit: (client) => (relayAccess.isTrusted(client) ? 0 : limits.maxConnections),
    clients: new ClientCounter(),
    authEnabled: config.auth !== null,
    authGate: (client) => auth?.gate(client) ?? null,
  };

  function log(session: SMTPServerSession): Logger {
    let child = sessionLoggers.get(session);
    if (child === undefined) {
      child = logger.child({ session: session.id, client: plainAddress(session.remoteAddress) });
      sessionLoggers.set(session, child);
    }
    return child;
  }

  function facts(session: SMTPServerSession): SessionFacts {
    return {
      id: session.id,
      clientAddress: plainAddress(session.remoteAddress),
      helo: clientHelo(session),
      tls: session.secure === true,
      user: sessionUser(session)?.name ?? null,
      trusted: relayAccess.isTrusted(session.remoteAddress),
      listener: `${session.localAddress}:${session.localPort}`,
    };
  }

  /** Runs the checks in order; the first refusal goes to smtp-server, else it goes on. */
  function decide(
    session: SMTPServerSession,
    done: Done,
    what: string,
    checks: () => Promise<Reply | null>,
  ): void {
    checks().then(
      (reply) => {
        if (reply === null) return done();
        log(session).info({ reply: replyText(reply) }, `${what} refused`);
        done(replyError(reply));
      },
      (error: unknown) => {
        log(session).error({ err: error }, `${what} check failed`);
        done(replyError(LOCAL_ERROR));
      },
    );
  }

  function relayCheck(session: SMTPServerSession, address: string): Reply | null {
    const why = relayRefusal({
      trusted: relayAccess.isTrusted(session.remoteAddress),
      authenticated: sessionUser(session) !== null,
      address,
      rawPath: rawRecipientPath(session) ?? `<${address}>`,
      localDomains: config.relay.localDomains,
    });
    if (why === null) return null;
    log(session).info({ recipient: address, why }, "RCPT refused: relay access denied");
    return RELAY_DENIED;
  }

  function serverOptions(mode: ListenerTls): SMTPServerOptions {
    // A fresh object per server: smtp-server modifies its options in place.
    const disabled = [...(mode === "starttls" ? [] : ["STARTTLS"]), ...(config.auth ? [] : ["AUTH"])];
    const tlsOptions =
      tls === null || mode === "none" ? {} : { key: tls.key, cert: tls.cert, minVersion: "TLSv1.2" as const };
    return {
      name: config.hostname,
      banner: "mailfleet",
      secure: mode === "implicit",
      ...tlsOptions,
      size: limits.maxMessageSize,
      hideSize: false,
      rejectOversized: true,
      hideDSN: false,
      hideENHANCEDSTATUSCODES: false,
      hidePIPELINING: false,
      hide8BITMIME: false,
      hideSMTPUTF8: false,
      // Without a certificate smtp-server would offer STARTTLS with its built-in test key,
      // whose private half is public: STARTTLS is only there when `tls` is configured.
      hideSTARTTLS: mode !== "starttls",
      disabledCommands: disabled,
      authMethods: ["PLAIN", "LOGIN"],
      authOptional: true,
      maxAllowedUnauthenticatedCommands: false,
      maxRecipients: limits.maxRecipients,
      socketTimeout: limits.sessionTimeoutMs,
      closeTimeout: closeGraceMs,
      disableReverseLookup: true,
      logger: false,
      onConnect(session, done) {
        log(session).debug({ local: `${session.localAddress}:${session.localPort}` }, "client connected");
        policySessions.add(session);
        decide(session, done, "connection", () => policy.onConnect(facts(session)));
      },
      onClose(session) {
        log(session).debug({ transactions: session.transaction - 1 }, "client disconnected");
        if (policySessions.has(session)) policy.onClose(facts(session));
      },
      onAuth(authData, session, done) {
        if (auth === null) return done(null, { message: "Authentication not available" });
        auth.onAuth(authData, session, done);
      },
      onMailFrom(address, session, done) {
        decide(session, done, "MAIL", async () => {
          return (
            (await receiver.checkCapacity()) ??
            auth?.checkSender(session, address.address) ??
            (await policy.onMail(facts(session), address.address))
          );
        });
      },
      onRcptTo(address, session, done) {
        decide(session, done, "RCPT", async () => {
          const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
          return (
            relayCheck(session, address.address) ??
            deps.recipientCheck?.({
              user: sessionUser(session)?.name ?? null,
              sender,
              recipient: address.address,
            }) ??
            (await policy.onRcpt(facts(session), sender, address.address))
          );
        });
      },
      onData(stream, session, done) {
        busySessions.add(session);
        receive(stream, session)
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

  function receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<Reply> {
    return receiveMessage(stream, session, {
      config,
      receiver,
      log: log(session),
      policy: (message) => {
        const envelope = {
          sender: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          recipients: session.envelope.rcptTo.map((r) => r.address),
        };
        return policy.onData(facts(session), envelope, message);
      },
      authenticated: sessionUser(session) !== null,
    });
  }

  function modeOf(listener: ListenerConfig): ListenerTls {
    return listener.tls ?? (config.tls === null ? "none" : "starttls");
  }

  async function listenOn(
    address: ListenerConfig,
  ): Promise<{ server: HardenedSmtpServer; bound: ListeningAddress }> {
    const server = new HardenedSmtpServer(serverOptions(modeOf(address)), rules);
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

  function closeServer(server: HardenedSmtpServer): Promise<void> {
    return new Promise((resolve) => server.close(() => resolve()));
  }

  type Connection = HardenedSmtpServer["connections"] extends Set<infer C> ? C : never;

  /** Sends 421 (which also closes the connection) to every connection `which` picks. */
  function sayGoodbye(which: (connection: Connection) => boolean): void {
    for (const server of servers) {
      for (const connection of server.connections) {
        if (which(connection)) connection.send(SHUTTING_DOWN.code, replyText(SHUTTING_DOWN));
      }
    }
  }

  return {
    async start() {
      if (servers.length > 0) throw new Error("SMTP listener already started");
      tls = config.tls === null ? null : loadTlsMaterial(config.tls);
      auth = config.auth === null ? null : await createSubmissionAuth(config.auth, logger);
      const addresses: ListeningAddress[] = [];
      try {
        for (const address of config.listen) {
          const { server, bound } = await listenOn(address);
          servers.push(server);
          addresses.push(bound);
          logger.info({ ...bound, tls: modeOf(address) }, "SMTP listener started");
        }
      } catch (error) {
        await Promise.all(servers.map(closeServer));
        servers = [];
        throw error;
      }
      return addresses;
    },

    async reload(next) {
      if (next.auth !== null && auth !== null) await auth.reload(next.auth);
      if (next.tls !== null && tls !== null) {
        const fresh = loadTlsMaterial(next.tls);
        if (fresh.cert !== tls.cert || fresh.key !== tls.key) {
          tls = fresh;
          for (const server of servers) server.updateSecureContext({ key: fresh.key, cert: fresh.cert });
          logger.info({ cert: next.tls.certFile }, "TLS certificate reloaded");
        }
      }
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
