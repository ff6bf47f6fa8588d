/**
 * Config errors as data: where (file:line:col and the dotted key), what we found, what we
 * expected, and a stable code. `formatConfigError` renders the one-line form operators see, e.g.
 *   mailfleet.yaml:12:5: transports.mx.tls: found "maybe", expected one of none, opportunistic, required
 * Also holds the "did you mean" helper used for unknown keys.
 */

export type ConfigErrorCode = "CONFIG_SYNTAX" | "CONFIG_INVALID" | "CONFIG_UNKNOWN_KEY" | "CONFIG_NOT_FOUND";

export interface ConfigError {
  code: ConfigErrorCode;
  file: string;
  /** 1-based; 0 when the error has no position (file not found). */
  line: number;
  /** 1-based; 0 when the error has no position. */
  col: number;
  /** Dotted path of the offending key, e.g. "transports.mx.tls"; "" for the whole file. */
  key: string;
  found: string;
  expected: string;
  /** Human sentence without the location, e.g. `found "maybe", expected one of ...`. */
  message: string;
}

export function formatConfigError(error: ConfigError): string {
  const where = error.line > 0 ? `${error.file}:${error.line}:${error.col}` : error.file;
  const key = error.key === "" ? "" : `${error.key}: `;
  return `${where}: ${key}${error.message}`;
}

/** The standard message: `found X, expected Y`. */
export function foundExpected(found: string, expected: string): string {
  return `found ${found}, expected ${expected}`;
}

/** How a YAML value is shown in "found ...": strings quoted, collections by kind. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null (empty value)";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  return String(value);
}

/** "one of a, b, c", or just the one choice. */
export function oneOf(choices: readonly string[]): string {
  if (choices.length === 1) return choices[0] ?? "";
  return `one of ${choices.join(", ")}`;
}

/** Edit distance (insert, delete, substitute), for short keys only. */
export function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * The closest known key to an unknown one: edit distance <= 2, or one is a prefix of the other
 * (e.g. "timeout" for "timeouts"). Ties go to the smaller distance, then to the first listed.
 */
export function didYouMean(unknown: string, known: readonly string[]): string | undefined {
  const needle = unknown.toLowerCase();
  let best: { key: string; distance: number } | undefined;
  for (const key of known) {
    const candidate = key.toLowerCase();
    const distance = levenshtein(needle, candidate);
    const isPrefix = needle.length >= 3 && (candidate.startsWith(needle) || needle.startsWith(candidate));
    if (distance > 2 && !isPrefix) continue;
    if (!best || distance < best.distance) best = { key, distance };
  }
  return best?.key;
}
