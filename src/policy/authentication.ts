/**
 * SPF, DKIM, DMARC and ARC verification with mailauth (issue #5), run once the whole message has
 * arrived: SPF on the client IP, MAIL FROM and HELO; DKIM on the message; DMARC from both; ARC on
 * the chain. The result goes into the message as `Authentication-Results` (with our authserv-id)
 * and `Received-SPF`. When the config says so, mail failing DMARC for a domain that publishes
 * p=reject is refused with `550 5.7.1` and the DMARC result (pct= is honoured).
 *
 * Authentication-Results fields that carry our authserv-id but come from outside the trusted
 * networks are forged (RFC 8601 section 5): they are taken out before anything else, so that a
 * filter after us can trust every result under our name.
 *
 * Every lookup goes through the configured resolver. Authenticated sessions are our own users:
 * nothing to verify. A failure inside mailauth accepts the message without the headers (and logs):
 * it must not turn into lost mail.
 */
import { authenticate } from "mailauth";
import type { Logger } from "pino";
import type { PolicyConfig } from "../config/types.ts";
import { takeHeader } from "../message/header-fields.ts";
import type { DataVerdict, SessionFacts } from "../smtp-server/types.ts";
import type { PolicyResolver } from "./dns.ts";
import { plainIp } from "./ip.ts";

export interface AuthenticationCheck {
  check(
    session: SessionFacts,
    envelope: { sender: string; recipients: string[] },
    message: Buffer,
  ): Promise<DataVerdict>;
}

/** One line of printable ASCII for an SMTP reply (header values can hold anything). */
function printable(text: string): string {
  return text
    .replace(/\s+/g, " ")
    .replace(/[^\x20-\x7e]/g, "?")
    .slice(0, 400);
}

/** Splits "A: 1\r\n folded\r\nB: 2\r\n" into its fields, folding kept, without the final CRLF. */
export function splitHeaderFields(block: string): string[] {
  return block.split(/\r?\n(?![ \t])/).filter((field) => field.trim() !== "");
}

export function createAuthenticationCheck(deps: {
  config: PolicyConfig["authentication"];
  resolve: PolicyResolver;
  logger: Logger;
  /** [0, 1); picks the messages a DMARC pct below 100 applies to. */
  random?: () => number;
}): AuthenticationCheck {
  const { config, logger } = deps;
  const random = deps.random ?? Math.random;
  const resolver = deps.resolve as (name: string, rrtype: string) => Promise<string[][] | string[]>;

  return {
    async check(session, envelope, received) {
      if (session.user !== null) return { headers: [] };
      const forged = session.trusted ? null : takeHeader(received, "Authentication-Results", claimsOurs);
      const message = forged?.content ?? received;
      if (forged && forged.values.length > 0) {
        logger.info(
          { removed: forged.values.length, client: session.clientAddress },
          "forged Authentication-Results removed",
        );
      }
      const rewritten = message === received ? {} : { content: message };
      let result: Awaited<ReturnType<typeof authenticate>>;
      try {
        result = await authenticate(message, {
          ip: plainIp(session.clientAddress),
          ...(session.helo ? { helo: session.helo } : {}),
          sender: envelope.sender,
          mta: config.authservId,
          resolver,
          disableArc: !config.arc,
          disableBimi: true,
        });
      } catch (err) {
        logger.error(
          { err },
          "authentication checks failed: message accepted without Authentication-Results",
        );
        return { headers: [], ...rewritten };
      }
      const dmarc = result.dmarc;
      if (
        config.enforceDmarcReject &&
        dmarc &&
        dmarc.status.result === "fail" &&
        dmarc.policy === "reject" &&
        (dmarc.pct === undefined || dmarc.pct >= 100 || random() * 100 < dmarc.pct)
      ) {
        logger.info({ dmarc: dmarc.info, from: envelope.sender }, "message refused: DMARC p=reject");
        return {
          reply: {
            code: 550,
            enhanced: "5.7.1",
            text: printable(`Message rejected by the DMARC policy of ${dmarc.domain}: ${dmarc.info}`),
          },
        };
      }
      return { headers: splitHeaderFields(result.headers), ...rewritten };
    },
  };

  function claimsOurs(value: string): boolean {
    return authservIdOf(value) === config.authservId.toLowerCase();
  }
}

/**
 * The authserv-id of an Authentication-Results value: its first token, before the optional
 * version and the first ";", comments dropped (RFC 8601 section 2.2), lower-cased.
 */
export function authservIdOf(value: string): string {
  const plain = value.replace(/\([^()]*\)/g, " ").trim();
  return (plain.split(/[\s;]/, 1)[0] ?? "").toLowerCase();
}
