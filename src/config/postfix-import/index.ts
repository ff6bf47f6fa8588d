/**
 * `importPostfixDir(dir)`: reads a Postfix configuration directory (main.cf, master.cf and the
 * source files of the maps main.cf names) and returns the mailfleet.yaml text with its warnings.
 * Map paths are absolute in main.cf (hash:/etc/postfix/transport); they are looked up inside
 * `dir` first (relative to config_directory, then by base name), so a copied directory imports
 * the same as the live one.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, isAbsolute, join, relative } from "node:path";

import { convertPostfix } from "./convert.ts";
import { renderImportedConfig } from "./emit.ts";
import { parseMainCf } from "./main-cf.ts";
import type { MapSourceReader } from "./maps.ts";
import type { ImportWarning } from "./warnings.ts";

export { convertPostfix, type ImportResult, type PostfixInput } from "./convert.ts";
export { renderImportedConfig } from "./emit.ts";
export { formatWarning, type ImportWarning, type ImportWarningCode } from "./warnings.ts";

export type ImportDirResult =
  | { ok: true; yaml: string; config: Record<string, unknown>; warnings: ImportWarning[] }
  | { ok: false; code: "POSTFIX_MAIN_CF_MISSING"; message: string };

export function importPostfixDir(dir: string): ImportDirResult {
  const mainPath = join(dir, "main.cf");
  const mainCf = readText(mainPath);
  if (mainCf === null) {
    return { ok: false, code: "POSTFIX_MAIN_CF_MISSING", message: `cannot read ${mainPath}` };
  }
  const configDirectory = parseMainCf(mainCf).get("config_directory") || "/etc/postfix";
  const readMap: MapSourceReader = (name) => {
    for (const candidate of mapCandidates(dir, configDirectory, name)) {
      const text = readText(candidate);
      if (text !== null) return { text, file: candidate };
    }
    return null;
  };
  const result = convertPostfix({ mainCf, masterCf: readText(join(dir, "master.cf")), readMap });
  return { ok: true, yaml: renderImportedConfig(result.config, result.warnings), ...result };
}

/** Where a map named `name` in main.cf may be, best first. */
function mapCandidates(dir: string, configDirectory: string, name: string): string[] {
  const candidates: string[] = [];
  if (!isAbsolute(name)) candidates.push(join(dir, name));
  else {
    const inside = relative(configDirectory, name);
    if (!inside.startsWith("..") && !isAbsolute(inside)) candidates.push(join(dir, inside));
    candidates.push(join(dir, basename(name)), name);
  }
  return [...new Set(candidates)];
}

function readText(path: string): string | null {
  if (!existsSync(path)) return null;
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}
