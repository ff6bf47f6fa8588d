/**
 * The YAML schema of an instance's `dkim` section: the keys outgoing mail is signed with.
 *
 *   dkim:
 *     signers:
 *       - { domain: example.com, selector: s1, key_file: keys/s1.pem }
 *       - { domain: example.com, selector: e1, key_file: keys/e1.pem, algorithm: ed25519-sha256 }
 *       - { domain: esp.example, selector: s1, key_file: keys/esp.pem, match: all }
 *
 * `match` names the author (From:) domains a signer signs for: "all", or domains (exact, or
 * ".example.com" for its subdomains); by default the signer's own domain and its subdomains.
 * Key files are read and checked when the config is loaded (`checkDkim`), so `mailfleet check`
 * and start-up report a missing or bad key at its line in the file.
 */
import { isAbsolute, resolve } from "node:path";

import { z } from "zod";
import { DkimKeyError, loadSigners } from "../dkim/keys.ts";
import { addExpected, type IssueSink, value } from "./schema-value.ts";
import type { DkimAlgorithm, DkimConfig, DkimSignerConfig, InstanceRole } from "./types.ts";
import { EXPECTED, isHostname } from "./values.ts";

export const DKIM_ALGORITHMS = ["rsa-sha256", "ed25519-sha256"] as const satisfies readonly DkimAlgorithm[];

const DOMAIN_EXPECTED = "a domain such as example.com";
const MATCH_EXPECTED = 'a domain such as example.com, or ".example.com" for its subdomains';
const SELECTOR_EXPECTED = "a selector of letters, digits, '-' and '.' (e.g. s1 or 2026a)";
const HEADER_EXPECTED = "a header field name such as From or List-Unsubscribe";
const SELECTOR_RE =
  /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const FIELD_NAME_RE = /^[!-9;-~]+$/;

function parseDomain(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  const domain = v.trim().toLowerCase().replace(/\.$/, "");
  return isHostname(domain) && domain.includes(".") ? domain : undefined;
}

function parseMatchDomain(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  const text = v.trim().toLowerCase();
  if (!text.startsWith(".")) return parseDomain(text);
  const inner = parseDomain(text.slice(1));
  return inner === undefined ? undefined : `.${inner}`;
}

const signerSchema = z.strictObject({
  domain: value(DOMAIN_EXPECTED, parseDomain),
  selector: value(SELECTOR_EXPECTED, (v) => (typeof v === "string" && SELECTOR_RE.test(v) ? v : undefined)),
  key_file: value(EXPECTED.path, (v) => (typeof v === "string" && v !== "" ? v : undefined)),
  algorithm: z.enum(DKIM_ALGORITHMS).optional(),
  headers: z
    .array(value(HEADER_EXPECTED, (v) => (typeof v === "string" && FIELD_NAME_RE.test(v) ? v : undefined)))
    .min(1)
    .optional(),
  match: z
    .union([
      z.literal("all"),
      value(MATCH_EXPECTED, parseMatchDomain).transform((d) => [d]),
      z.array(value(MATCH_EXPECTED, parseMatchDomain)).min(1),
    ])
    .optional(),
});

export const dkimSchema = z
  .strictObject({ signers: z.array(signerSchema).prefault([]) })
  .prefault({})
  .transform(
    (d): DkimConfig => ({
      signers: d.signers.map(
        (s): DkimSignerConfig => ({
          domain: s.domain,
          selector: s.selector,
          keyFile: s.key_file,
          algorithm: s.algorithm ?? null,
          headers: s.headers ?? null,
          match: s.match ?? [s.domain, `.${s.domain}`],
        }),
      ),
    }),
  );

function resolveIn(baseDir: string, file: string): string {
  return isAbsolute(file) ? file : resolve(baseDir, file);
}

/** The section with its key paths resolved against the config file's directory. */
export function finishDkim(baseDir: string, dkim: DkimConfig): DkimConfig {
  return { signers: dkim.signers.map((s) => ({ ...s, keyFile: resolveIn(baseDir, s.keyFile) })) };
}

/**
 * Checks what a `dkim` section refers to: each key file is readable, a PEM RSA (>= 1024 bits)
 * or Ed25519 private key, and fits the algorithm given. Only delivering roles sign: a relaying
 * instance hands its mail on unsigned, so a `dkim` section there is a mistake.
 */
export function checkDkim(
  baseDir: string,
  section: { dkim: DkimConfig },
  role: InstanceRole,
  at: (string | number)[],
  check: IssueSink,
): void {
  const { signers } = section.dkim;
  if (signers.length === 0) return;
  if (role !== "output" && role !== "all") {
    const expected = `no dkim in a ${role} instance (it relays its mail; the delivering instance signs)`;
    addExpected(check, [...at, "dkim"], section.dkim, expected);
    return;
  }
  for (const [i, signer] of signers.entries()) {
    try {
      loadSigners([{ ...signer, keyFile: resolveIn(baseDir, signer.keyFile) }]);
    } catch (err) {
      if (!(err instanceof DkimKeyError)) throw err;
      const why = err.message.slice(err.message.indexOf(": ") + 2);
      const expected = `a readable DKIM private key file (${why})`;
      addExpected(check, [...at, "dkim", "signers", i, "key_file"], signer.keyFile, expected);
    }
  }
}
