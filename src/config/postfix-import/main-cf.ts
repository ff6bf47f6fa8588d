/**
 * main.cf reader: "name = value" logical lines, later settings override earlier ones (as in
 * Postfix), and Postfix's lazy $variable expansion: $name, ${name}, $(name), ${name?text} (text
 * when name is non-empty), ${name:text} (text when name is empty), and $$ for a literal "$".
 * Values are expanded when asked for, so the order of settings in the file does not matter, and a
 * reference loop is reported instead of recursing forever.
 */
import { readLogicalLines } from "./lines.ts";

export interface MainCfProblem {
  line: number;
  message: string;
}

export interface MainCf {
  /** Parameter names set in the file, in file order. */
  names(): string[];
  has(name: string): boolean;
  /** The value as written (not expanded), or undefined when the file does not set it. */
  raw(name: string): string | undefined;
  /** Physical line of the (last) setting, for messages. */
  lineOf(name: string): number | undefined;
  /**
   * The expanded value; undefined when neither the file nor `scope`/the defaults set it. `scope`
   * overrides file settings (master.cf `-o` values, $service_name).
   */
  get(name: string, scope?: Record<string, string>): string | undefined;
  /** Expands $variables in `text` against the file, `scope` and the defaults. */
  expand(text: string, scope?: Record<string, string>): string;
  /** Lines that are not "name = value", and reference loops met while expanding. */
  problems: MainCfProblem[];
}

export interface MainCfOptions {
  /** Values used for parameters the file does not set (Postfix's built-in defaults). */
  defaults?: Record<string, string>;
}

const NAME_RE = /^[A-Za-z0-9_]+$/;

export function parseMainCf(text: string, options: MainCfOptions = {}): MainCf {
  const settings = new Map<string, { value: string; line: number }>();
  const problems: MainCfProblem[] = [];
  for (const { text: logical, line } of readLogicalLines(text)) {
    const eq = logical.indexOf("=");
    const name = eq === -1 ? "" : logical.slice(0, eq).trim();
    if (!NAME_RE.test(name)) {
      problems.push({ line, message: `not a "name = value" line: ${logical}` });
      continue;
    }
    settings.delete(name); // keep file order of the last setting
    settings.set(name, { value: logical.slice(eq + 1).trim(), line });
  }
  const defaults = options.defaults ?? {};

  function lookup(name: string, scope: Record<string, string>, active: Set<string>): string | undefined {
    const value = Object.hasOwn(scope, name)
      ? scope[name]
      : (settings.get(name)?.value ?? (Object.hasOwn(defaults, name) ? defaults[name] : undefined));
    if (value === undefined) return undefined;
    if (active.has(name)) {
      problems.push({ line: settings.get(name)?.line ?? 0, message: `$${name} refers to itself` });
      return "";
    }
    active.add(name);
    try {
      return expandWith(value, scope, active);
    } finally {
      active.delete(name);
    }
  }

  function expandWith(input: string, scope: Record<string, string>, active: Set<string>): string {
    let out = "";
    let i = 0;
    while (i < input.length) {
      const ch = input[i];
      if (ch !== "$") {
        out += ch;
        i++;
        continue;
      }
      const next = input[i + 1];
      if (next === "$") {
        out += "$";
        i += 2;
        continue;
      }
      if (next === "{" || next === "(") {
        const close = next === "{" ? "}" : ")";
        const end = findClose(input, i + 2, next, close);
        if (end === -1) {
          out += input.slice(i);
          break;
        }
        const body = input.slice(i + 2, end);
        out += expandBraced(body, scope, active);
        i = end + 1;
        continue;
      }
      const match = /^[A-Za-z0-9_]+/.exec(input.slice(i + 1));
      if (!match) {
        out += "$";
        i++;
        continue;
      }
      out += lookup(match[0], scope, active) ?? "";
      i += 1 + match[0].length;
    }
    return out;
  }

  function expandBraced(body: string, scope: Record<string, string>, active: Set<string>): string {
    const match = /^([A-Za-z0-9_]+)(?:([?:])([\s\S]*))?$/.exec(body);
    if (!match?.[1]) return "";
    const value = lookup(match[1], scope, active) ?? "";
    if (match[2] === "?") return value !== "" ? expandWith(match[3] ?? "", scope, active) : "";
    if (match[2] === ":") return value === "" ? expandWith(match[3] ?? "", scope, active) : "";
    return value;
  }

  return {
    names: () => [...settings.keys()],
    has: (name) => settings.has(name),
    raw: (name) => settings.get(name)?.value,
    lineOf: (name) => settings.get(name)?.line,
    get: (name, scope = {}) => lookup(name, scope, new Set()),
    expand: (input, scope = {}) => expandWith(input, scope, new Set()),
    problems,
  };
}

/** Index of the bracket closing the one opened just before `from`, allowing nesting. */
function findClose(text: string, from: number, open: string, close: string): number {
  let depth = 1;
  for (let i = from; i < text.length; i++) {
    if (text[i] === open) depth++;
    else if (text[i] === close && --depth === 0) return i;
  }
  return -1;
}

/** Postfix list values: items separated by commas and/or whitespace. */
export function splitList(value: string): string[] {
  return value.split(/[\s,]+/).filter((item) => item !== "");
}
