/**
 * `mailfleet user add|remove|list`: manages the submission logins in an instance's
 * `auth.users_file` (scrypt hashes, allowed senders; format in src/auth/users-file.ts). The file
 * is replaced atomically with mode 0600; a running instance picks the change up at the next AUTH.
 *
 * The password is read from standard input with --password-stdin (first line), or asked for
 * twice without echo on a terminal. It never appears on the command line, where `ps` shows it.
 */
import { parseArgs } from "node:util";
import { hashPassword } from "../auth/password.ts";
import {
  normalizeName,
  normalizePattern,
  readUsersFile,
  type UserEntry,
  UsersFileError,
  writeUsersFile,
} from "../auth/users-file.ts";
import type { Config } from "../config/types.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { INSTANCE_OPTIONS } from "./fleet-options.ts";
import { loadFleetOrExit } from "./load-config.ts";

export const USER_USAGE = [
  "mailfleet user add NAME [--password-stdin] [--allow SENDER ...] [--instance NAME] [-c FILE]",
  "       mailfleet user remove NAME [--instance NAME] [-c FILE]",
  "       mailfleet user list [--instance NAME] [-c FILE]",
  "SENDER: an address, @domain (any address there) or * (any sender); default: NAME if it is an address",
].join("\n");

const MIN_PASSWORD = 8;

export async function runUser(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...INSTANCE_OPTIONS,
      allow: { type: "string", multiple: true },
      "password-stdin": { type: "boolean", default: false },
    },
  });
  const [action, name, ...extra] = positionals;
  const wantsName = action === "add" || action === "remove";
  if (
    !(wantsName || action === "list") ||
    (wantsName && name === undefined) ||
    extra.length > 0 ||
    (!wantsName && name !== undefined)
  ) {
    throw new CliError(`usage: ${USER_USAGE}`, EXIT.usage);
  }
  const usersFile = usersFileOf(values.config, values.instance);
  const users = await readOrExit(usersFile);

  if (action === "list") {
    for (const user of users) console.log(`${user.name}\t${user.allowedSenders.join(",")}`);
    return EXIT.ok;
  }
  const login = normalizeName(name ?? "");
  if (login === null)
    throw new CliError(`bad login name ${JSON.stringify(name)} (no spaces, ':' or ',')`, EXIT.usage);
  if (action === "remove") {
    const rest = users.filter((u) => u.name !== login);
    if (rest.length === users.length) throw new CliError(`no login ${login} in ${usersFile}`, EXIT.dataError);
    await writeUsersFile(usersFile, rest.map(entry));
    console.log(`removed ${login} from ${usersFile}`);
    return EXIT.ok;
  }

  const allowedSenders = senderPatterns(login, values.allow ?? []);
  const password = values["password-stdin"] ? await passwordFromStdin() : await passwordFromTerminal();
  if (password.length < MIN_PASSWORD)
    throw new CliError(`the password needs at least ${MIN_PASSWORD} characters`, EXIT.usage);
  const added: UserEntry = { name: login, hash: await hashPassword(password), allowedSenders };
  const exists = users.some((u) => u.name === login);
  await writeUsersFile(
    usersFile,
    exists ? users.map((u) => (u.name === login ? added : entry(u))) : [...users.map(entry), added],
  );
  console.log(
    `${exists ? "updated" : "added"} ${login} (senders: ${allowedSenders.join(", ")}) in ${usersFile}`,
  );
  return EXIT.ok;
}

function entry(user: UserEntry): UserEntry {
  return { name: user.name, hash: user.hash, allowedSenders: user.allowedSenders };
}

/** The users file of the named instance, or of the only instance with `auth`. */
function usersFileOf(configPath: string | undefined, instance: string | undefined): string {
  const fleet = loadFleetOrExit(configPath);
  const all: [string, Config][] = Object.entries(fleet.instances);
  if (instance !== undefined) {
    const config = fleet.instances[instance];
    if (config === undefined) {
      throw new CliError(
        `no instance ${instance} in ${fleet.source} (instances: ${all.map(([n]) => n).join(", ")})`,
        EXIT.usage,
      );
    }
    if (config.auth === null)
      throw new CliError(`instance ${instance} has no auth.users_file in ${fleet.source}`, EXIT.config);
    return config.auth.usersFile;
  }
  const withAuth = all.filter(([, c]) => c.auth !== null);
  if (withAuth.length === 1) return withAuth[0]![1].auth!.usersFile;
  if (withAuth.length === 0)
    throw new CliError(`no instance in ${fleet.source} has auth.users_file`, EXIT.config);
  throw new CliError(
    `several instances have auth (${withAuth.map(([n]) => n).join(", ")}): give --instance NAME`,
    EXIT.usage,
  );
}

async function readOrExit(path: string): Promise<UserEntry[]> {
  try {
    return await readUsersFile(path);
  } catch (error) {
    if (error instanceof UsersFileError) throw new CliError(error.message, EXIT.dataError);
    throw error;
  }
}

function senderPatterns(login: string, given: string[]): string[] {
  if (given.length === 0) {
    if (normalizePattern(login) !== null && login.includes("@") && login !== "*") return [login];
    throw new CliError(
      `give --allow SENDER for ${login} (an address, @domain, or * for any sender)`,
      EXIT.usage,
    );
  }
  return given.map((pattern) => {
    const normal = normalizePattern(pattern);
    if (normal === null)
      throw new CliError(
        `bad --allow ${JSON.stringify(pattern)}: expected an address, @domain or *`,
        EXIT.usage,
      );
    return normal;
  });
}

async function passwordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return (Buffer.concat(chunks).toString("utf8").split(/\r?\n/)[0] ?? "").trimEnd();
}

async function passwordFromTerminal(): Promise<string> {
  if (!process.stdin.isTTY)
    throw new CliError("no terminal to ask for the password: use --password-stdin", EXIT.usage);
  const first = await askHidden("Password: ");
  const second = await askHidden("Again: ");
  if (first !== second) throw new CliError("the passwords differ", EXIT.usage);
  return first;
}

/** Reads one line from the terminal without echoing it. */
function askHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let text = "";
    const done = (error?: Error) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(text);
    };
    const onData = (data: Buffer) => {
      for (const char of data.toString("utf8")) {
        if (char === "\r" || char === "\n") return done();
        if (char === "\u0003") return done(new CliError("cancelled", EXIT.usage));
        if (char === "\u007f" || char === "\b") text = text.slice(0, -1);
        else text += char;
      }
    };
    stdin.on("data", onData);
  });
}
