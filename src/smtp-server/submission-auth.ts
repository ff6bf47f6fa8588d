/**
 * SMTP AUTH for the listener (PLAIN and LOGIN, over TLS only; see connection.ts for when AUTH is
 * offered): checks logins against the users file, limits failed attempts per client IP, and says
 * which senders a login may use at MAIL FROM.
 *
 * Unknown login and wrong password get the identical `535 5.7.8` after the same scrypt work
 * (user-store.ts). A client with too many recent failures gets `450 4.7.1` without its password
 * being checked. An authenticated session carries an `AuthUser` as smtp-server's `session.user`.
 */
import type { Logger } from "pino";
import type {
  SMTPServerAuthentication,
  SMTPServerAuthenticationResponse,
  SMTPServerSession,
} from "smtp-server";
import { type AuthFailureLimiter, createMemoryFailureLimiter } from "../auth/failure-limiter.ts";
import { type AuthUser, createUserStore, type UserStore } from "../auth/user-store.ts";
import { senderAllowed } from "../auth/users-file.ts";
import type { AuthConfig } from "../config/types.ts";
import type { Reply } from "../message/types.ts";
import { plainAddress } from "./relay-access.ts";
import { replyError } from "./replies.ts";

export const AUTH_INVALID: Reply = {
  code: 535,
  enhanced: "5.7.8",
  text: "Authentication credentials invalid",
};
export const AUTH_LIMITED: Reply = {
  code: 450,
  enhanced: "4.7.1",
  text: "Too many failed authentication attempts, try again later",
};
const AUTH_UNAVAILABLE: Reply = { code: 454, enhanced: "4.7.0", text: "Temporary authentication failure" };

type AuthCallback = (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void;

export interface SubmissionAuth {
  /** smtp-server's onAuth. */
  onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, done: AuthCallback): void;
  /** A refusal for a client that may not try now, or null (asked before the exchange starts). */
  gate(client: string): Reply | null;
  /** A refusal when the authenticated user may not use this sender, else null. */
  checkSender(session: SMTPServerSession, sender: string): Reply | null;
  /** Follows a reloaded config: another users file, or the same one read again. */
  reload(next: AuthConfig): Promise<void>;
}

/** The authenticated user of a session, or null. */
export function sessionUser(session: SMTPServerSession): AuthUser | null {
  const user: unknown = session.user;
  return typeof user === "object" && user !== null && "name" in user ? (user as AuthUser) : null;
}

export async function createSubmissionAuth(config: AuthConfig, logger: Logger): Promise<SubmissionAuth> {
  const store: UserStore = await createUserStore({ path: config.usersFile, logger });
  let limiter: AuthFailureLimiter = createMemoryFailureLimiter({
    maxFailures: config.maxFailures,
    windowMs: config.failureWindowMs,
  });
  let current = config;

  return {
    gate(client) {
      return limiter.isBlocked(plainAddress(client)) ? AUTH_LIMITED : null;
    },

    onAuth(auth, session, done) {
      const client = plainAddress(session.remoteAddress);
      const log = logger.child({ session: session.id, client, method: auth.method });
      if (limiter.isBlocked(client)) {
        log.warn("AUTH refused: too many failures from this client");
        return done(replyError(AUTH_LIMITED));
      }
      // PLAIN may carry an authorization identity; acting as someone else is not supported.
      const { authzid = "", authcid = "" } = auth;
      const proxied = authzid !== "" && authcid !== "" && authzid.toLowerCase() !== authcid.toLowerCase();
      store.authenticate(auth.username ?? "", proxied ? "" : (auth.password ?? "")).then(
        (user) => {
          if (user === null || proxied) {
            limiter.recordFailure(client);
            log.info({ user: auth.username }, "AUTH failed");
            return done(replyError(AUTH_INVALID));
          }
          log.info({ user: user.name }, "AUTH succeeded");
          done(null, { user });
        },
        (error: unknown) => {
          log.error({ err: error }, "AUTH check failed");
          done(replyError(AUTH_UNAVAILABLE));
        },
      );
    },

    checkSender(session, sender) {
      const user = sessionUser(session);
      if (user === null || senderAllowed(user.allowedSenders, sender)) return null;
      return {
        code: 553,
        enhanced: "5.7.1",
        text: `<${sender}>: Sender address rejected: not owned by user ${user.name}`,
      };
    },

    async reload(next) {
      if (next.maxFailures !== current.maxFailures || next.failureWindowMs !== current.failureWindowMs) {
        limiter = createMemoryFailureLimiter({
          maxFailures: next.maxFailures,
          windowMs: next.failureWindowMs,
        });
      }
      current = next;
      await store.setPath(next.usersFile);
    },
  };
}
