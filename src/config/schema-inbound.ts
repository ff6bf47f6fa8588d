/**
 * The YAML schema of an instance's inbound-protection keys (issue #5) that are not plain limits:
 * `tls` (certificate and key for STARTTLS and implicit-TLS listeners), `auth` (the submission
 * users file and the failed-AUTH limit) and the object form of a `listen` item
 * (`{ address: "127.0.0.1:2465", tls: implicit }`). Kept apart from schema.ts, one job per file.
 *
 * Files named here are checked when the config is loaded (`checkInboundFiles`), so a missing or
 * unreadable certificate, or a key that does not belong to the certificate, is reported at its
 * line in the file by `mailfleet check` and at start-up, not at the first STARTTLS. The users
 * file may be missing (no logins yet): `mailfleet user add` creates it.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { createSecureContext } from "node:tls";

import { z } from "zod";
import { addExpected, type IssueSink, value } from "./schema-value.ts";

import type { AuthConfig, InstanceRole, ListenerConfig, ListenerTls, TlsFiles } from "./types.ts";
import { EXPECTED, parseDuration, parseHostPort } from "./values.ts";

export const LISTENER_TLS_MODES = ["implicit", "starttls", "none"] as const satisfies readonly ListenerTls[];

const path = () => value(EXPECTED.path, (v) => (typeof v === "string" && v !== "" ? v : undefined));
const hostPort = (v: unknown) => parseHostPort(v, { minPort: 0 });

/** A `listen` item: "host:port", or { address: "host:port", tls: implicit | starttls | none }. */
export const listenItemSchema = z.union([
  value(EXPECTED.listen, hostPort),
  z
    .strictObject({
      address: value(EXPECTED.listen, hostPort),
      tls: z.enum(LISTENER_TLS_MODES).optional(),
    })
    .transform((l): ListenerConfig => (l.tls === undefined ? l.address : { ...l.address, tls: l.tls })),
]);

export const tlsSchema = z
  .strictObject({ cert: path(), key: path() })
  .nullable()
  .prefault(null)
  .transform((t) => (t === null ? null : { certFile: t.cert, keyFile: t.key }));

export const authSchema = z
  .strictObject({
    users_file: path(),
    max_failures: value("an integer >= 0 (0 = no limit)", (v) =>
      Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : undefined,
    ).prefault(5),
    failure_window: value(`${EXPECTED.duration}, greater than 0`, (v) => {
      const ms = parseDuration(v);
      return ms !== undefined && ms > 0 ? ms : undefined;
    }).prefault("5m"),
  })
  .nullable()
  .prefault(null)
  .transform((a) =>
    a === null
      ? null
      : { usersFile: a.users_file, maxFailures: a.max_failures, failureWindowMs: a.failure_window },
  );

function resolveIn(baseDir: string, file: string): string {
  return isAbsolute(file) ? file : resolve(baseDir, file);
}

/** TLS and AUTH settings of one instance, their paths resolved against the config directory. */
export function finishInbound(
  baseDir: string,
  section: { tls: TlsFiles | null; auth: AuthConfig | null },
): { tls: TlsFiles | null; auth: AuthConfig | null } {
  return {
    tls:
      section.tls === null
        ? null
        : {
            certFile: resolveIn(baseDir, section.tls.certFile),
            keyFile: resolveIn(baseDir, section.tls.keyFile),
          },
    auth:
      section.auth === null
        ? null
        : { ...section.auth, usersFile: resolveIn(baseDir, section.auth.usersFile) },
  };
}

/** The greet pause when the file gives none: the internet-facing role waits, the others do not. */
export function defaultGreetPauseMs(role: InstanceRole): number {
  return role === "input" ? 1000 : 0;
}

function readable(file: string): { text: string } | { error: string } {
  try {
    return { text: readFileSync(file, "utf8") };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/**
 * Checks what the inbound keys refer to: the certificate and key files exist, are readable and
 * belong together; `auth` comes with `tls` (AUTH is only offered over TLS); an implicit-TLS or
 * STARTTLS listener has a certificate. `at` is where the section sits in the file.
 */
export function checkInboundFiles(
  baseDir: string,
  section: {
    tls: TlsFiles | null;
    auth: AuthConfig | null;
    listen?: ListenerConfig[] | undefined;
  },
  at: (string | number)[],
  check: IssueSink,
): void {
  const { tls } = section;
  if (tls !== null) {
    const cert = readable(resolveIn(baseDir, tls.certFile));
    const key = readable(resolveIn(baseDir, tls.keyFile));
    if ("error" in cert)
      addExpected(check, [...at, "tls", "cert"], tls.certFile, `a readable certificate file (${cert.error})`);
    if ("error" in key)
      addExpected(check, [...at, "tls", "key"], tls.keyFile, `a readable private key file (${key.error})`);
    if ("text" in cert && "text" in key) {
      try {
        createSecureContext({ cert: cert.text, key: key.text });
      } catch (error) {
        const why = (error as Error).message;
        addExpected(
          check,
          [...at, "tls", "cert"],
          tls.certFile,
          `a PEM certificate that matches tls.key (${why})`,
        );
      }
    }
  }
  if (section.auth !== null && tls === null) {
    addExpected(
      check,
      [...at, "auth"],
      section.auth,
      "a tls: { cert, key } section as well (AUTH is only offered over TLS)",
    );
  }
  for (const [i, listener] of (section.listen ?? []).entries()) {
    if (tls === null && (listener.tls === "implicit" || listener.tls === "starttls")) {
      const kind = listener.tls === "implicit" ? "an implicit-TLS" : "a STARTTLS";
      addExpected(
        check,
        [...at, "listen", i, "tls"],
        listener.tls,
        `a tls: { cert, key } section for ${kind} listener`,
      );
    }
  }
}
