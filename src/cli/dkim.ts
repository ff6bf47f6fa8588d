/**
 * `mailfleet dkim keygen`: writes a new DKIM private key (PEM, mode 0600) and prints the DNS TXT
 * record that publishes its public half (split into 255-character strings, as one TXT record of
 * several strings) and the config lines that sign with it.
 */
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { isHostname } from "../config/values.ts";
import { type DkimKeyType, dkimRecord, generateDkimKey, txtStrings } from "../dkim/keys.ts";
import { CliError, EXIT } from "./exit-codes.ts";

export const DKIM_USAGE =
  "mailfleet dkim keygen --domain DOMAIN --selector SELECTOR [--algorithm rsa|ed25519] [--out DIR] [--force]";

const SELECTOR_RE =
  /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

export async function runDkim(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      domain: { type: "string" },
      selector: { type: "string" },
      algorithm: { type: "string", default: "rsa" },
      out: { type: "string", default: "dkim" },
      force: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1 || positionals[0] !== "keygen")
    throw new CliError(`usage: ${DKIM_USAGE}`, EXIT.usage);
  const domain = values.domain?.toLowerCase().replace(/\.$/, "");
  if (domain === undefined || !isHostname(domain) || !domain.includes("."))
    throw new CliError(`--domain wants a domain such as example.com\nusage: ${DKIM_USAGE}`, EXIT.usage);
  const selector = values.selector;
  if (selector === undefined || !SELECTOR_RE.test(selector))
    throw new CliError(
      `--selector wants letters, digits, '-' and '.' (e.g. s1)\nusage: ${DKIM_USAGE}`,
      EXIT.usage,
    );
  const type = values.algorithm.toLowerCase().replace(/-sha256$/, "");
  if (type !== "rsa" && type !== "ed25519")
    throw new CliError(`--algorithm is rsa (RSA-2048) or ed25519`, EXIT.usage);

  await mkdir(values.out, { recursive: true, mode: 0o755 });
  const keyFile = join(values.out, `${domain}.${selector}.pem`);
  if (!values.force && existsSync(keyFile))
    throw new CliError(`${keyFile} exists: use --force to replace`, EXIT.tempFail);
  const { pem, key } = generateDkimKey(type as DkimKeyType);
  writeFileSync(keyFile, pem, { mode: 0o600 });
  chmodSync(keyFile, 0o600); // also when --force replaced an older, more open file

  const record = txtStrings(dkimRecord(key))
    .map((s) => `"${s}"`)
    .join(" ");
  const algorithm = type === "rsa" ? "rsa-sha256" : "ed25519-sha256";
  console.log(`wrote ${keyFile} (${type === "rsa" ? "RSA-2048" : "Ed25519"} private key, mode 0600)`);
  console.log("");
  console.log("DNS record to publish:");
  console.log(`${selector}._domainkey.${domain}. IN TXT ${record}`);
  console.log("");
  console.log("config (the delivering instance):");
  console.log("  dkim:");
  console.log("    signers:");
  console.log(
    `      - { domain: ${domain}, selector: ${selector}, key_file: ${keyFile}, algorithm: ${algorithm} }`,
  );
  if (type === "ed25519")
    console.log("\nEd25519 (RFC 8463) is not verified by every receiver: sign with an RSA key as well.");
  return EXIT.ok;
}
