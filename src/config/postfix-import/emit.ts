/**
 * Writes the converted config as mailfleet.yaml text: a header saying where it came from, one
 * "# WARNING:" comment line per warning, then the config in a fixed key order.
 */
import { Document, isMap, isScalar, visit } from "yaml";

import { formatWarning, type ImportWarning } from "./warnings.ts";

const KEY_ORDER = ["hostname", "listen", "relay", "delivery", "sources", "pools", "transports", "routes"];

export function renderImportedConfig(config: Record<string, unknown>, warnings: ImportWarning[]): string {
  const ordered: Record<string, unknown> = {};
  for (const key of KEY_ORDER) if (Object.hasOwn(config, key)) ordered[key] = config[key];
  for (const [key, value] of Object.entries(config)) if (!Object.hasOwn(ordered, key)) ordered[key] = value;

  const doc = new Document(ordered);
  const header = [
    " mailfleet configuration imported from Postfix by `mailfleet import postfix`.",
    " Routes are in Postfix's precedence order: transport_maps first, then sender-dependent maps;",
    " the first matching route wins and delivery.default_transport takes the rest.",
  ];
  if (warnings.length === 0)
    header.push(" No warnings: every setting read was carried over as Postfix applied it.");
  else header.push(...warnings.map((w) => ` WARNING: ${formatWarning(w)}`));
  doc.commentBefore = header.join("\n");
  // Short lists of names and the small source records read best on one line.
  visit(doc, {
    Seq(_, node) {
      if (node.items.every((item) => isScalar(item))) node.flow = true;
    },
  });
  const sources = doc.get("sources");
  if (isMap(sources)) for (const pair of sources.items) if (isMap(pair.value)) pair.value.flow = true;
  return doc.toString({ lineWidth: 0 });
}
