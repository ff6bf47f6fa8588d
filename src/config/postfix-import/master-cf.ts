/**
 * master.cf reader: one service per logical line, "service type private unpriv chroot wakeup
 * maxproc command [args]", with the command's `-o name=value` overrides of main.cf parameters.
 * Both override forms are understood: `-o name=value` and Postfix 3's `-o { name = value }`, whose
 * braces protect whitespace in the value. Values are kept unexpanded; the converter expands them
 * against main.cf (with $service_name) when it uses them.
 */
import { readLogicalLines } from "./lines.ts";

export interface MasterOverride {
  name: string;
  value: string;
}

export interface MasterService {
  /** First field: the transport name maps refer to (or [host:]port for inet services). */
  name: string;
  /** "inet", "unix", "unix-dgram", "fifo" or "pass". */
  type: string;
  /** Command name, e.g. "smtp", "smtpd", "lmtp", "pipe". */
  command: string;
  /** `-o` overrides, in order; a later one for the same name wins. */
  overrides: MasterOverride[];
  /** Command arguments other than the `-o` overrides. */
  args: string[];
  line: number;
}

export interface MasterCfProblem {
  line: number;
  message: string;
}

export interface MasterCf {
  services: MasterService[];
  problems: MasterCfProblem[];
}

export function parseMasterCf(text: string): MasterCf {
  const services: MasterService[] = [];
  const problems: MasterCfProblem[] = [];
  for (const { text: logical, line } of readLogicalLines(text)) {
    const tokens = tokenize(logical);
    if (tokens === null) {
      problems.push({ line, message: `unbalanced "{" in: ${logical}` });
      continue;
    }
    const [name, type, , , , , , command, ...rest] = tokens;
    if (name === undefined || type === undefined || command === undefined) {
      problems.push({ line, message: `a service line needs at least 8 fields: ${logical}` });
      continue;
    }
    const overrides: MasterOverride[] = [];
    const args: string[] = [];
    for (let i = 0; i < rest.length; i++) {
      const token = rest[i] ?? "";
      if (token !== "-o") {
        args.push(token);
        continue;
      }
      const setting = rest[i + 1];
      i++;
      const override = setting === undefined ? undefined : parseOverride(setting);
      if (override === undefined) {
        problems.push({
          line,
          message: `service ${name}: "-o" needs name=value, found ${setting ?? "nothing"}`,
        });
        continue;
      }
      overrides.push(override);
    }
    services.push({ name, type, command, overrides, args, line });
  }
  return { services, problems };
}

/** The last `-o` value for `name` on a service, or undefined. */
export function overrideOf(service: MasterService, name: string): string | undefined {
  let value: string | undefined;
  for (const o of service.overrides) if (o.name === name) value = o.value;
  return value;
}

/** "name=value" or "{ name = value }" (braces already kept together by tokenize). */
function parseOverride(token: string): MasterOverride | undefined {
  const inner = token.startsWith("{") && token.endsWith("}") ? token.slice(1, -1).trim() : token;
  const eq = inner.indexOf("=");
  if (eq <= 0) return undefined;
  const name = inner.slice(0, eq).trim();
  if (!/^[A-Za-z0-9_]+$/.test(name)) return undefined;
  return { name, value: inner.slice(eq + 1).trim() };
}

/** Whitespace-separated fields, except that "{ ... }" (balanced) is one field. Null if unbalanced. */
function tokenize(text: string): string[] | null {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (/\s/.test(text[i] ?? "")) {
      i++;
      continue;
    }
    if (text[i] === "{") {
      let depth = 0;
      let j = i;
      for (; j < text.length; j++) {
        if (text[j] === "{") depth++;
        else if (text[j] === "}" && --depth === 0) break;
      }
      if (j >= text.length) return null;
      tokens.push(text.slice(i, j + 1));
      i = j + 1;
      continue;
    }
    const start = i;
    while (i < text.length && !/\s/.test(text[i] ?? "")) i++;
    tokens.push(text.slice(start, i));
  }
  return tokens;
}
