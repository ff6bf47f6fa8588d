/**
 * `mailfleet tls self-signed`: writes a development key and self-signed certificate
 * (src/smtp-server/self-signed.ts) for STARTTLS and implicit-TLS listeners, and prints the
 * config lines that use them. Clients must be told to accept it (swaks --tls, nodemailer's
 * `tls.rejectUnauthorized: false`); real deployments use a certificate from a CA.
 */
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { hostname as osHostname } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { isHostname } from "../config/values.ts";
import { createSelfSigned } from "../smtp-server/self-signed.ts";
import { CliError, EXIT } from "./exit-codes.ts";

export const TLS_USAGE = "mailfleet tls self-signed [--out DIR] [--hostname NAME] [--days N] [--force]";

export async function runTls(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: "string", default: "tls" },
      hostname: { type: "string" },
      days: { type: "string", default: "365" },
      force: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1 || positionals[0] !== "self-signed")
    throw new CliError(`usage: ${TLS_USAGE}`, EXIT.usage);
  const hostname = values.hostname ?? osHostname();
  if (!isHostname(hostname))
    throw new CliError(`--hostname ${JSON.stringify(hostname)} is not a host name`, EXIT.usage);
  const days = Number(values.days);
  if (!Number.isInteger(days) || days < 1)
    throw new CliError(`--days wants a whole number of days >= 1`, EXIT.usage);

  const { keyPem, certPem } = createSelfSigned({ hostname, days });
  await mkdir(values.out, { recursive: true, mode: 0o755 });
  const certFile = join(values.out, "cert.pem");
  const keyFile = join(values.out, "key.pem");
  if (!values.force) {
    const existing = [certFile, keyFile].filter((file) => existsSync(file));
    if (existing.length > 0)
      throw new CliError(`${existing.join(" and ")} exist: use --force to replace`, EXIT.tempFail);
  }
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  chmodSync(keyFile, 0o600); // also when --force replaced an older, more open file
  writeFileSync(certFile, certPem, { mode: 0o644 });
  console.log(
    `wrote ${certFile} and ${keyFile} (self-signed for ${hostname}, localhost, 127.0.0.1, ::1; ${days} days)`,
  );
  console.log(`config:\n  tls: { cert: ${certFile}, key: ${keyFile} }`);
  return EXIT.ok;
}
