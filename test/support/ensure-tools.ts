/**
 * Fetches Postfix's smtp-sink/smtp-source for the e2e tests and the benchmark: downloads the
 * Debian postfix package and unpacks it into tools/postfix. Idempotent; needs apt (Debian).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { toolsRoot } from "./postfix-tools.ts";

const sink = join(toolsRoot, "usr/sbin/smtp-sink");
if (!existsSync(sink)) {
  const dir = join(toolsRoot, "..");
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync("apt-get", ["download", "postfix"], { cwd: dir, stdio: "inherit" });
  } catch {
    // A fresh machine may have no package lists yet.
    execFileSync("apt-get", ["update", "-q"], { stdio: "inherit" });
    execFileSync("apt-get", ["download", "postfix"], { cwd: dir, stdio: "inherit" });
  }
  const deb = readdirSync(dir).find((f) => f.startsWith("postfix_") && f.endsWith(".deb"));
  if (!deb) throw new Error("apt-get download postfix produced no .deb");
  execFileSync("dpkg", ["-x", join(dir, deb), toolsRoot], { stdio: "inherit" });
}
console.log(`postfix tools ready in ${toolsRoot}`);
