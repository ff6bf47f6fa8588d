/**
 * The logins a submission listener accepts, read from the users file (users-file.ts).
 *
 * `authenticate` does the same scrypt work whether the login exists or not (an unknown login is
 * checked against a dummy hash), so neither the reply nor its timing tells an attacker which
 * logins exist. The file is re-read when it changes (checked by a stat per AUTH, which also
 * catches the rename of an atomic write) and on `reload()` (SIGHUP). A file that has become
 * unreadable or malformed keeps the logins last read, with an error in the log.
 */
import { randomBytes } from "node:crypto";
import { stat } from "node:fs/promises";
import type { Logger } from "pino";
import { DEFAULT_SCRYPT, hashPassword, type PasswordHash, parseHash, verifyPassword } from "./password.ts";
import { type ParsedUser, readUsersFile } from "./users-file.ts";

export interface AuthUser {
  name: string;
  allowedSenders: string[];
}

export interface UserStore {
  /** The user when login and password match, else null. */
  authenticate(name: string, password: string): Promise<AuthUser | null>;
  /** Re-reads the file (e.g. on SIGHUP); throws when it cannot be read or parsed. */
  reload(): Promise<void>;
  /** Points the store at another file (a reloaded config) and reads it. */
  setPath(path: string): Promise<void>;
}

interface FileStamp {
  ino: number;
  size: number;
  mtimeMs: number;
}

export async function createUserStore(options: { path: string; logger: Logger }): Promise<UserStore> {
  const { logger } = options;
  let path = options.path;
  let users = new Map<string, ParsedUser>();
  let stamp: FileStamp | null = null;
  // Checked instead of a missing login's hash: same parameters, so the same work.
  const dummy = parseHash(
    await hashPassword(randomBytes(16).toString("hex"), DEFAULT_SCRYPT),
  ) as PasswordHash;

  async function currentStamp(): Promise<FileStamp | null> {
    try {
      const s = await stat(path);
      return { ino: s.ino, size: s.size, mtimeMs: s.mtimeMs };
    } catch {
      return null;
    }
  }

  async function load(): Promise<void> {
    const next = await currentStamp();
    const list = await readUsersFile(path);
    users = new Map(list.map((u) => [u.name, u]));
    stamp = next;
    if (next === null) logger.warn({ usersFile: path }, "users file does not exist: no logins");
    else logger.info({ usersFile: path, users: users.size }, "users file loaded");
  }

  async function refreshIfChanged(): Promise<void> {
    const now = await currentStamp();
    const same =
      now === stamp ||
      (now !== null &&
        stamp !== null &&
        now.ino === stamp.ino &&
        now.size === stamp.size &&
        now.mtimeMs === stamp.mtimeMs);
    if (same) return;
    try {
      await load();
    } catch (error) {
      stamp = now; // do not retry on every AUTH; the next change is tried again
      logger.error(
        { err: error, usersFile: path },
        "users file not re-read: keeping the logins loaded before",
      );
    }
  }

  await load();

  return {
    async authenticate(name, password) {
      await refreshIfChanged();
      const user = users.get(name.toLowerCase());
      const ok = await verifyPassword(password, user?.parsedHash ?? dummy);
      if (!ok || user === undefined) return null;
      return { name: user.name, allowedSenders: user.allowedSenders };
    },
    reload: load,
    async setPath(next) {
      if (next === path) return load();
      const previous = path;
      path = next;
      try {
        await load();
      } catch (error) {
        path = previous;
        throw error;
      }
    },
  };
}
