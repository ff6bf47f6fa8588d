/**
 * The `feedback:` section of an instance: VERP return paths for outbound mail, and the
 * addresses and bounce domains whose mail is taken as reports (DSN, ARF) instead of being
 * queued. Validated here, normalised into FeedbackConfig (Config.feedback).
 *
 *   feedback:
 *     verp: { domain: bounces.example.com, local_part: b, secret_file: verp.key }
 *     addresses: [fbl@example.com]
 *     bounce_domains: [bounces.example.com]
 */
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { value } from "./schema-value.ts";
import { EXPECTED, isEmailAddress, isHostname } from "./values.ts";

export interface VerpConfig {
  domain: string;
  localPart: string;
  /** Inline secret, or null. */
  secret: string | null;
  /** Absolute path of a file holding the secret, or null; neither: one is generated in the spool. */
  secretFile: string | null;
}

export interface FeedbackConfig {
  verp: VerpConfig | null;
  /** Lower-case addresses whose mail is a report to ingest. */
  addresses: string[];
  /** Lower-case domains: every address there is a report address (VERP returns land there). */
  bounceDomains: string[];
  /** Absolute path of the bounce classification rules; null = rules/bounce-classes.yaml. */
  bounceRules?: string | null;
}

const LOCAL_PART_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$/;
const LOCAL_PART_EXPECTED = "a short local part of letters, digits, '.', '_' and '-' (at most 20)";

/** A value accepted by `ok` and normalised by `map` (the shared value() with a predicate). */
function check<T>(expected: string, ok: (v: unknown) => boolean, map: (v: unknown) => T) {
  return value(expected, (v) => (ok(v) ? map(v) : undefined));
}

const domain = () =>
  check(
    EXPECTED.hostname,
    (v) => isHostname(v),
    (v) => (v as string).toLowerCase().replace(/\.$/, ""),
  );

const verpSchema = z.strictObject({
  domain: domain(),
  local_part: check(
    LOCAL_PART_EXPECTED,
    (v) => typeof v === "string" && LOCAL_PART_RE.test(v),
    (v) => v as string,
  ).prefault("b"),
  secret: check(
    "a secret of at least 16 characters",
    (v) => typeof v === "string" && v.length >= 16,
    (v) => v as string,
  ).optional(),
  secret_file: check(
    EXPECTED.path,
    (v) => typeof v === "string" && v !== "",
    (v) => v as string,
  ).optional(),
});

export const feedbackSchema = z.strictObject({
  verp: verpSchema.optional(),
  addresses: z.array(check(EXPECTED.email, isEmailAddress, (v) => (v as string).toLowerCase())).prefault([]),
  bounce_domains: z.array(domain()).prefault([]),
  /** Bounce classification rules file (src/feedback/classify-bounce.ts). */
  bounce_rules: check(
    EXPECTED.path,
    (v) => typeof v === "string" && v !== "",
    (v) => v as string,
  ).optional(),
});

export type FeedbackSection = z.output<typeof feedbackSchema>;

export function finishFeedback(baseDir: string, section: FeedbackSection | undefined): FeedbackConfig {
  const verp = section?.verp;
  return {
    verp: verp
      ? {
          domain: verp.domain,
          localPart: verp.local_part,
          secret: verp.secret ?? null,
          secretFile:
            verp.secret_file === undefined
              ? null
              : isAbsolute(verp.secret_file)
                ? verp.secret_file
                : resolve(baseDir, verp.secret_file),
        }
      : null,
    addresses: section?.addresses ?? [],
    bounceDomains: section?.bounce_domains ?? [],
    bounceRules:
      section?.bounce_rules === undefined
        ? null
        : isAbsolute(section.bounce_rules)
          ? section.bounce_rules
          : resolve(baseDir, section.bounce_rules),
  };
}
