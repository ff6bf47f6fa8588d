/**
 * Architecture rules, checked on the source (STYLE.md: "checked in CI, not in review"): no
 * import cycles, and the data path stays one-way. Only runtime imports count; `import type`
 * is erased before the code runs and may point anywhere.
 *
 *   smtp-server -> spool -> scheduler -> routing (pure) -> delivery -> results
 *
 * Each folder under src/ is a layer. The composition roots (instance, cli, supervisor) may
 * import anything; nothing else imports them.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";

const SRC = dirname(new URL(import.meta.url).pathname);

/** Layers each layer must never import at run time. */
const FORBIDDEN: Record<string, readonly string[]> = {
  // Routing decides where to, from the envelope and the config alone.
  routing: ["scheduler", "spool", "smtp-server", "delivery", "results", "policy"],
  // Delivery returns outcomes; it never reaches into the scheduler or the queue.
  delivery: ["scheduler", "spool", "smtp-server", "routing", "policy"],
  spool: ["scheduler", "delivery", "routing", "smtp-server", "results", "policy"],
  // The listener hands messages to a Receiver; it does not know the queue behind it.
  "smtp-server": ["scheduler", "delivery", "routing", "spool", "results"],
  scheduler: ["smtp-server", "policy", "admin-api"],
  results: ["scheduler", "smtp-server", "routing", "delivery"],
  policy: ["scheduler", "delivery", "spool", "routing", "results"],
};
const ROOTS = new Set(["instance", "cli", "supervisor"]);

interface Import {
  from: string;
  to: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

/** Relative runtime imports of one file: static (not `import type`) and dynamic. */
function runtimeImports(file: string): Import[] {
  const text = readFileSync(file, "utf8");
  const targets: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?[^"';]*?from\s+"(\.[^"]+)"/gm)) {
    if (!m[1]) targets.push(m[2] ?? "");
  }
  for (const m of text.matchAll(/\bimport\(\s*"(\.[^"]+)"\s*\)/g)) targets.push(m[1] ?? "");
  return targets.map((to) => ({ from: file, to: resolve(dirname(file), to) }));
}

const layerOf = (file: string) => relative(SRC, file).split("/")[0] ?? "";
const files = sourceFiles(SRC);
const imports = files.flatMap(runtimeImports);

test("the rules see the source tree", () => {
  assert.ok(files.length > 100, `${files.length} files`);
  assert.ok(imports.length > 300, `${imports.length} imports`);
  assert.ok(
    imports.some((i) => layerOf(i.from) === "scheduler" && layerOf(i.to) === "routing"),
    "a known import (scheduler -> routing) is found",
  );
});

test("the data path is one-way: no layer imports one it must not", () => {
  const broken = imports
    .filter((i) => FORBIDDEN[layerOf(i.from)]?.includes(layerOf(i.to)))
    .map((i) => `${relative(SRC, i.from)} imports ${relative(SRC, i.to)}`);
  assert.deepEqual(broken, []);
});

test("only the composition roots import instance, cli or supervisor", () => {
  const broken = imports
    .filter((i) => ROOTS.has(layerOf(i.to)) && !ROOTS.has(layerOf(i.from)))
    .map((i) => `${relative(SRC, i.from)} imports ${relative(SRC, i.to)}`);
  assert.deepEqual(broken, []);
});

test("api-types holds types only: no runtime imports of our code", () => {
  const broken = imports.filter((i) => layerOf(i.from) === "api-types").map((i) => relative(SRC, i.from));
  assert.deepEqual(broken, []);
});

test("no import cycles between files", () => {
  const graph = new Map<string, string[]>();
  for (const i of imports) graph.set(i.from, [...(graph.get(i.from) ?? []), i.to]);
  const state = new Map<string, "visiting" | "done">();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "visiting") {
      cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(SRC, f)).join(" -> "));
      return;
    }
    state.set(file, "visiting");
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, "done");
  };
  for (const file of files) visit(file, []);
  assert.deepEqual(cycles, []);
});
