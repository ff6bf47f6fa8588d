/**
 * The submission users file: one line per login, managed by `mailfleet user add|remove|list`.
 *
 *   # comment
 *   NAME:$scrypt$N=16384,r=8,p=1$SALT$KEY:SENDER,SENDER,...
 *
 * NAME is the login (case-insensitive, stored lower-case). SENDER patterns say which MAIL FROM
 * addresses the login may use: an exact address, "@domain" for any address at that domain, or
 * "*" for any sender. A plain text format like htpasswd keeps the file greppable and diffable.
 *
 * Writes are atomic (a temp file in the same directory, fsync, rename) with mode 0600, so a
 * running instance that re-reads the file never sees half of it, and the hashes stay private.
 */
import { randomBytes } from "node:crypto";
import { open, readFile, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type PasswordHash, parseHash } from "./password.ts";

export interface UserEntry {
  /** Lower-case login name. */
  name: string;
  /** The hash as written in the file. */
  hash: string;
  /** Sender patterns: "user@example.com", "@example.com" or "*". */
  allowedSenders: string[];
}

export interface ParsedUser extends UserEntry {
  parsedHash: PasswordHash;
}

export class UsersFileError extends Error {
  override name = "UsersFileError";
}

/** 1-256 characters: no whitespace (which covers the control characters), ':' or ','. */
const NAME_RE = /^[^\s:,]{1,256}$/;
const PATTERN_RE = /^(\*|@[^\s@,:]+|[^\s@,:]+@[^\s@,:]+)$/;

const HEADER = [
  "# mailfleet users file (mailfleet user add|remove|list). One login per line:",
  "# NAME:SCRYPT_HASH:ALLOWED_SENDERS (comma-separated: an address, @domain, or * for any)",
];

/** Normalises a login name; null when it cannot be stored. */
export function normalizeName(name: string): string | null {
  const control = [...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  return NAME_RE.test(name) && !control ? name.toLowerCase() : null;
}

/** Normalises a sender pattern (lower-case); null when it is not an address, @domain or *. */
export function normalizePattern(pattern: string): string | null {
  const trimmed = pattern.trim();
  return PATTERN_RE.test(trimmed) ? trimmed.toLowerCase() : null;
}

/** Parses the file's text; errors name `source:line`. */
export function parseUsersFile(text: string, source: string): ParsedUser[] {
  const users: ParsedUser[] = [];
  const seen = new Set<string>();
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.replace(/\r$/, "").trim();
    if (line === "" || line.startsWith("#")) continue;
    const where = `${source}:${index + 1}`;
    const first = line.indexOf(":");
    const last = line.lastIndexOf(":");
    if (first <= 0 || last === first) throw new UsersFileError(`${where}: expected NAME:HASH:SENDERS`);
    const name = normalizeName(line.slice(0, first));
    if (name === null) throw new UsersFileError(`${where}: bad login name`);
    if (seen.has(name)) throw new UsersFileError(`${where}: login ${name} appears twice`);
    const hash = line.slice(first + 1, last);
    const parsedHash = parseHash(hash);
    if (parsedHash === null) throw new UsersFileError(`${where}: expected a $scrypt$ password hash`);
    const allowedSenders: string[] = [];
    for (const item of line.slice(last + 1).split(",")) {
      if (item.trim() === "") continue;
      const pattern = normalizePattern(item);
      if (pattern === null) throw new UsersFileError(`${where}: bad sender pattern ${JSON.stringify(item)}`);
      allowedSenders.push(pattern);
    }
    seen.add(name);
    users.push({ name, hash, allowedSenders, parsedHash });
  }
  return users;
}

export function formatUsersFile(users: readonly UserEntry[]): string {
  const lines = users.map((u) => `${u.name}:${u.hash}:${u.allowedSenders.join(",")}`);
  return `${[...HEADER, ...lines].join("\n")}\n`;
}

/** Reads the file; a missing file is an empty list. */
export async function readUsersFile(path: string): Promise<ParsedUser[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new UsersFileError(`cannot read users file ${path}: ${(error as Error).message}`);
  }
  return parseUsersFile(text, path);
}

/** Replaces the file atomically: temp file (mode 0600) + fsync + rename. */
export async function writeUsersFile(path: string, users: readonly UserEntry[]): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}`);
  const handle = await open(temp, "wx", 0o600);
  try {
    await handle.writeFile(formatUsersFile(users));
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => {});
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
}

/** True when `sender` (a MAIL FROM address, "" for the null sender) matches one of the patterns. */
export function senderAllowed(patterns: readonly string[], sender: string): boolean {
  const address = sender.toLowerCase();
  const at = address.lastIndexOf("@");
  const domain = at < 0 ? null : address.slice(at);
  return patterns.some((p) => p === "*" || p === address || (domain !== null && p === domain));
}
