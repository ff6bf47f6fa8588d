/**
 * `mailfleet import postfix DIR [-o FILE]`: turns a Postfix configuration directory into a
 * mailfleet.yaml. Warnings (settings Postfix ignored, routes it overrode, settings not carried
 * over) go to stderr, one line each, and into the file as comments. The result is validated with
 * the real config parser before anything is written, so a file we write always loads.
 */
import { writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";

import { formatConfigError } from "../config/errors.ts";
import { parseConfig } from "../config/load.ts";
import { formatWarning, importPostfixDir } from "../config/postfix-import/index.ts";
import { CliError, EXIT } from "./exit-codes.ts";

export const IMPORT_USAGE = "mailfleet import postfix DIR [-o FILE]";

export async function runImport(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { output: { type: "string", short: "o" } },
  });
  const [kind, dir, ...extra] = positionals;
  if (kind !== "postfix" || dir === undefined || extra.length > 0) {
    throw new CliError(`usage: ${IMPORT_USAGE}`, EXIT.usage);
  }
  const imported = importPostfixDir(dir);
  if (!imported.ok) throw new CliError(imported.message, EXIT.noInput);
  for (const w of imported.warnings) console.error(`warning: ${formatWarning(w)}`);

  const output = values.output === undefined ? null : resolve(values.output);
  const shownName = values.output ?? "<imported config>";
  const checked = parseConfig(imported.yaml, shownName, output === null ? process.cwd() : dirname(output));
  if (!checked.ok) {
    const errors = checked.errors.map(formatConfigError).join("\n");
    throw new CliError(
      `the imported config does not validate:\n${errors}\n--- imported config ---\n${imported.yaml}`,
      EXIT.config,
    );
  }
  if (output === null) {
    process.stdout.write(imported.yaml);
  } else {
    writeFileSync(output, imported.yaml);
    console.error(`wrote ${values.output} (${imported.warnings.length} warning(s))`);
  }
  return EXIT.ok;
}
