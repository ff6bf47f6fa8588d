/**
 * Finds, reads and validates the config file. Which file: the given path (missing = error), else
 * mailfleet.yaml in the working directory, else the built-in default. Failures come back as data
 * (ConfigError[] with file:line:col), never as exceptions, so `mailfleet check` can list them all
 * and start-up can print them and exit.
 */

import { existsSync, readFileSync } from "node:fs";
import { hostname as osHostname } from "node:os";
import { dirname, join, resolve } from "node:path";

import { LineCounter, parseDocument } from "yaml";

import type { ConfigError } from "./errors.ts";
import { foundExpected } from "./errors.ts";
import { issueToErrors } from "./issues.ts";
import type { SchemaContext } from "./schema.ts";
import { createFleetSchema, createSingleInstanceSchema } from "./schema-fleet.ts";
import type { Config, FleetConfig } from "./types.ts";

/**
 * `fleet` is the whole file. `config` is its primary instance, for commands that act on one
 * instance by default: the only one of a single-instance file, else the first delivering one.
 */
export type LoadResult =
  | { ok: true; config: Config; fleet: FleetConfig }
  | { ok: false; errors: ConfigError[] };

export const DEFAULT_CONFIG_FILE = "mailfleet.yaml";
export const BUILTIN_SOURCE = "<built-in default>";

export interface ParseOptions {
  /** Hostname used when the file sets none; os.hostname() unless given. */
  defaultHostname?: string;
}

/** The built-in fleet when there is no file: the submission -> output pipeline plus input. */
export const BUILTIN_FLEET = {
  // A file, so `mailfleet log -f` can follow it from another terminal.
  log: { file: "./var/log/mailfleet.log" },
  instances: {
    submission: { role: "submission" },
    input: { role: "input" },
    output: { role: "output" },
  },
} as const;

/** The fleet used when there is no file; relative paths resolve against `cwd`. */
export function builtinFleet(cwd: string = process.cwd()): FleetConfig {
  return createFleetSchema(schemaContext(cwd, BUILTIN_SOURCE)).parse(BUILTIN_FLEET);
}

/** The defaults of a single-instance file (an empty file): one instance "main" that does it all. */
export function builtinConfig(cwd: string = process.cwd()): Config {
  return primaryInstance(createSingleInstanceSchema(schemaContext(cwd, BUILTIN_SOURCE)).parse({}));
}

/** The instance commands act on by default: the first delivering one, else the first. */
export function primaryInstance(fleet: FleetConfig): Config {
  const all = Object.values(fleet.instances);
  return all.find((c) => c.instance.role === "output" || c.instance.role === "all") ?? all[0]!;
}

function schemaContext(baseDir: string, source: string, defaultHostname = osHostname()): SchemaContext {
  return { baseDir, defaultHostname, source };
}

/** A file with an `instances:` key is a fleet; any other is a single instance. */
function isFleetForm(data: unknown): boolean {
  return (
    typeof data === "object" && data !== null && !Array.isArray(data) && Object.hasOwn(data, "instances")
  );
}

/**
 * Validates config text. `file` is what errors (and Config.source) name; `baseDir` is what relative
 * paths in the file resolve against. Pure apart from reading os.hostname() for the default.
 */
export function parseConfig(
  text: string,
  file: string,
  baseDir: string,
  options: ParseOptions = {},
): LoadResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const errors = doc.errors.map((error): ConfigError => {
      const { line, col } = lineCounter.linePos(error.pos[0]);
      const found = `invalid YAML (${error.code})`;
      const expected = "valid YAML";
      return { code: "CONFIG_SYNTAX", file, line, col, key: "", found, expected, message: error.message };
    });
    return { ok: false, errors };
  }

  let data: unknown;
  try {
    data = doc.toJS() ?? {};
  } catch (error) {
    // e.g. excessive alias expansion (a "billion laughs" file).
    const message = `invalid YAML: ${(error as Error).message}`;
    return { ok: false, errors: [syntaxErrorAtStart(file, message)] };
  }

  const ctx = schemaContext(baseDir, file, options.defaultHostname);
  const schema = isFleetForm(data) ? createFleetSchema(ctx) : createSingleInstanceSchema(ctx);
  const result = schema.safeParse(data);
  if (result.success) return { ok: true, config: primaryInstance(result.data), fleet: result.data };

  const context = { file, doc, lineCounter, data, schema };
  const errors = result.error.issues.flatMap((issue) => issueToErrors(issue, context));
  errors.sort((a, b) => a.line - b.line || a.col - b.col);
  return { ok: false, errors };
}

function syntaxErrorAtStart(file: string, message: string): ConfigError {
  return {
    code: "CONFIG_SYNTAX",
    file,
    line: 1,
    col: 1,
    key: "",
    found: "invalid YAML",
    expected: "valid YAML",
    message,
  };
}

export interface LoadOptions {
  /** Config file; relative to cwd. When absent, mailfleet.yaml in cwd, else the built-in default. */
  path?: string;
  /** Defaults to process.cwd(). */
  cwd?: string;
}

/** Loads the config as described in the header. On success Config.source is the absolute path. */
export function loadConfig(options: LoadOptions): LoadResult {
  const cwd = options.cwd ?? process.cwd();
  let displayName: string;
  if (options.path !== undefined) {
    displayName = options.path;
  } else if (existsSync(join(cwd, DEFAULT_CONFIG_FILE))) {
    displayName = options.cwd === undefined ? DEFAULT_CONFIG_FILE : join(cwd, DEFAULT_CONFIG_FILE);
  } else {
    const fleet = builtinFleet(cwd);
    return { ok: true, config: primaryInstance(fleet), fleet };
  }

  const absolutePath = resolve(cwd, displayName);
  let text: string;
  try {
    text = readFileSync(absolutePath, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    const found = `no readable file (${reason})`;
    const expected = "a readable config file";
    const notFound: ConfigError = {
      code: "CONFIG_NOT_FOUND",
      file: displayName,
      line: 0,
      col: 0,
      key: "",
      found,
      expected,
      message: foundExpected(found, expected),
    };
    return { ok: false, errors: [notFound] };
  }

  const result = parseConfig(text, displayName, dirname(absolutePath));
  if (!result.ok) return result;
  const instances = Object.fromEntries(
    Object.entries(result.fleet.instances).map(([name, c]) => [name, { ...c, source: absolutePath }]),
  );
  const fleet = { ...result.fleet, source: absolutePath, instances };
  return { ok: true, config: primaryInstance(fleet), fleet };
}
