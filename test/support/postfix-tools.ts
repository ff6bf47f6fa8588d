/**
 * Locates Postfix's smtp-sink and smtp-source, unpacked (not installed: no daemon needed) from
 * Debian's postfix package into tools/postfix by `ensure-tools.ts`.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const toolsRoot = resolve(import.meta.dirname, "../../tools/postfix");

export interface PostfixTool {
  path: string;
  env: NodeJS.ProcessEnv;
}

export function postfixTool(name: "smtp-sink" | "smtp-source"): PostfixTool {
  const path = join(toolsRoot, "usr/sbin", name);
  if (!existsSync(path)) {
    throw new Error(`${name} not found at ${path}: run "node test/support/ensure-tools.ts"`);
  }
  return { path, env: { ...process.env, LD_LIBRARY_PATH: join(toolsRoot, "usr/lib/postfix") } };
}
