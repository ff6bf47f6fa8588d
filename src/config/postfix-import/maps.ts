/**
 * Postfix lookup tables as the importer sees them: a parameter's list of "type:name" tables, and
 * the text source of the indexed ones (hash:, texthash:, btree:, lmdb:, cdb:, dbm:, sdbm:). We
 * read the file the table names (the postmap(1) input), never the compiled .db, so the import
 * needs no Berkeley DB and sees comments and line numbers. Keys fold to lower case, as postmap
 * does by default; a duplicate key keeps its first value, as postmap does.
 */
import { readLogicalLines } from "./lines.ts";

export interface MapSpec {
  /** Table type, "proxy:" unwrapped: "hash", "regexp", ... */
  type: string;
  /** What follows the type: a path for file-based tables. */
  name: string;
  /** The spec as written, for messages. */
  text: string;
}

export interface MapEntry {
  key: string;
  value: string;
  /** Where the entry is: "file:line". */
  at: string;
}

/** Table types whose source is a "key value" text file we can read. */
export const TEXT_SOURCE_TYPES = new Set(["hash", "texthash", "btree", "lmdb", "cdb", "dbm", "sdbm"]);

/** Splits a table-list parameter ("hash:/a, regexp:/b") into table specs. */
export function parseMapList(value: string): MapSpec[] {
  const specs: MapSpec[] = [];
  for (const item of splitOutsideBraces(value)) {
    let rest = item;
    while (rest.startsWith("proxy:")) rest = rest.slice("proxy:".length);
    const colon = rest.indexOf(":");
    if (colon <= 0) {
      specs.push({ type: "", name: rest, text: item });
      continue;
    }
    specs.push({ type: rest.slice(0, colon).toLowerCase(), name: rest.slice(colon + 1), text: item });
  }
  return specs;
}

export interface MapTextResult {
  entries: MapEntry[];
  problems: string[];
}

/** "key value" logical lines of a postmap source file; `file` names it in `at` and problems. */
export function parseMapText(text: string, file: string): MapTextResult {
  const entries: MapEntry[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const { text: logical, line } of readLogicalLines(text)) {
    const match = /^(\S+)\s+(.*)$/.exec(logical);
    const at = `${file}:${line}`;
    if (!match?.[1] || match[2] === undefined) {
      problems.push(`${at}: expected "key value", found: ${logical}`);
      continue;
    }
    const key = match[1].toLowerCase();
    if (seen.has(key)) {
      problems.push(`${at}: duplicate entry "${key}" ignored (postmap keeps the first)`);
      continue;
    }
    seen.add(key);
    entries.push({ key, value: match[2].trim(), at });
  }
  return { entries, problems };
}

/** Reads a table's source text; null when it cannot be found. `file` is the path to report. */
export type MapSourceReader = (name: string) => { text: string; file: string } | null;

export interface LoadedMaps {
  /** Entries of all readable tables, in lookup order (an earlier table wins for a key). */
  entries: MapEntry[];
  /** One line per table or entry that could not be used. */
  problems: string[];
}

/** Loads every table of a table-list parameter whose text source we can read. */
export function loadMaps(parameter: string, value: string, read: MapSourceReader): LoadedMaps {
  const entries: MapEntry[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const spec of parseMapList(value)) {
    if (!TEXT_SOURCE_TYPES.has(spec.type)) {
      problems.push(
        `${parameter}: table "${spec.text}" is not carried over (only ${[...TEXT_SOURCE_TYPES].join(":, ")}: tables are read); add its entries to routes by hand`,
      );
      continue;
    }
    const source = read(spec.name);
    if (source === null) {
      problems.push(
        `${parameter}: cannot read the source file of "${spec.text}"; its entries are not carried over`,
      );
      continue;
    }
    const parsed = parseMapText(source.text, source.file);
    problems.push(...parsed.problems.map((p) => `${parameter}: ${p}`));
    for (const entry of parsed.entries) {
      if (seen.has(entry.key)) continue; // an earlier table answers this key first
      seen.add(entry.key);
      entries.push(entry);
    }
  }
  return { entries, problems };
}

function splitOutsideBraces(value: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of value) {
    if (ch === "{") depth++;
    if (ch === "}") depth = Math.max(0, depth - 1);
    if (depth === 0 && (ch === "," || /\s/.test(ch))) {
      if (current !== "") items.push(current);
      current = "";
      continue;
    }
    current += ch;
  }
  if (current !== "") items.push(current);
  return items;
}
