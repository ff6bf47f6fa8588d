/**
 * Edits of mailfleet.yaml made by `mailfleet instance create|enable|disable|destroy`. They work on
 * the YAML document (not on the parsed config), so the operator's comments, order and layout
 * survive; the caller validates the result with parseConfig before writing it.
 */
import { type Document, isMap, parseDocument, type YAMLMap } from "yaml";
import type { InstanceRole } from "./types.ts";

/** Keys that stay at top level in the fleet form; every other key belongs to an instance. */
const FLEET_WIDE_KEYS = new Set(["hostname", "run_dir", "dns", "sources", "pools", "log"]);

export class ConfigEditError extends Error {}

export function openDocument(text: string): Document {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new ConfigEditError(`cannot edit invalid YAML: ${doc.errors[0]!.message}`);
  if (doc.contents === null) doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
  if (!isMap(doc.contents)) throw new ConfigEditError("cannot edit: the file's top level is not a map");
  return doc;
}

export function isFleetDocument(doc: Document): boolean {
  return doc.has("instances");
}

/**
 * Turns a single-instance file into the fleet form: its instance keys move under
 * `instances.main` (role all). The spool stays where it was, so queued mail is kept.
 */
export function convertToFleet(doc: Document): void {
  if (isFleetDocument(doc)) return;
  const top = doc.contents as YAMLMap;
  const main = doc.createNode({ role: "all" }) as YAMLMap;
  for (const pair of [...top.items]) {
    const key = String((pair.key as { value?: unknown })?.value ?? pair.key);
    if (FLEET_WIDE_KEYS.has(key)) continue;
    main.items.push(pair);
    top.items.splice(top.items.indexOf(pair), 1);
  }
  if (!main.has("spool_dir")) main.set("spool_dir", "./var/spool");
  top.set("instances", doc.createNode({ main }));
}

export interface NewInstance {
  name: string;
  role: InstanceRole;
  listen: string[];
  /** Source IPs the instance delivers from (delivering roles): a pool named after the instance. */
  sources: string[];
  relayTo: string | null;
}

export function addInstance(doc: Document, spec: NewInstance): void {
  convertToFleet(doc);
  if (doc.hasIn(["instances", spec.name])) throw new ConfigEditError(`instance ${spec.name} already exists`);
  const section: Record<string, unknown> = { role: spec.role };
  if (spec.listen.length > 0) section.listen = spec.listen;
  if (spec.relayTo !== null) section.relay_to = spec.relayTo;
  if (spec.sources.length > 0) {
    const names = spec.sources.map((address, i) => {
      const name = `${spec.name}-${i + 1}`;
      if (doc.hasIn(["sources", name])) throw new ConfigEditError(`source ${name} already exists`);
      doc.setIn(["sources", name], doc.createNode({ address }));
      return name;
    });
    if (doc.hasIn(["pools", spec.name])) throw new ConfigEditError(`pool ${spec.name} already exists`);
    doc.setIn(["pools", spec.name], doc.createNode({ sources: names }));
    section.transports = { mx: { pool: spec.name } };
  }
  doc.setIn(["instances", spec.name], doc.createNode(section));
}

export function setEnabled(doc: Document, name: string, enabled: boolean): void {
  requireInstance(doc, name);
  if (enabled) doc.deleteIn(["instances", name, "enabled"]);
  else doc.setIn(["instances", name, "enabled"], false);
}

export function removeInstance(doc: Document, name: string): void {
  requireInstance(doc, name);
  doc.deleteIn(["instances", name]);
}

function requireInstance(doc: Document, name: string): void {
  if (!isFleetDocument(doc) && name === "main") convertToFleet(doc);
  if (!doc.hasIn(["instances", name])) {
    const known = doc.getIn(["instances"]);
    const names = isMap(known) ? known.items.map((p) => String((p.key as { value?: unknown })?.value)) : [];
    throw new ConfigEditError(`no instance ${name} (instances: ${names.join(", ") || "none"})`);
  }
}
