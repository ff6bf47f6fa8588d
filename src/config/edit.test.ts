import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { addInstance, ConfigEditError, openDocument, removeInstance, setEnabled } from "./edit.ts";
import { formatConfigError } from "./errors.ts";
import { parseConfig } from "./load.ts";

function parse(text: string) {
  const result = parseConfig(text, "m.yaml", "/srv/mf", { defaultHostname: "mx.example" });
  if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
  return result.fleet;
}

describe("config edits", () => {
  test("adding to a single-instance file moves its instance keys under instances.main", () => {
    const doc = openDocument(
      "# our relay\nhostname: mx.example\nlisten: ['127.0.0.1:2600'] # the only port\nroutes: []\n",
    );
    addInstance(doc, {
      name: "sub",
      role: "submission",
      listen: ["127.0.0.1:2601"],
      sources: [],
      relayTo: null,
    });
    const text = doc.toString();
    assert.match(text, /# our relay/);
    assert.match(text, /# the only port/);
    const fleet = parse(text);
    assert.deepEqual(Object.keys(fleet.instances), ["main", "sub"]);
    assert.equal(fleet.instances.main?.instance.role, "all");
    assert.equal(fleet.instances.main?.spoolDir, "/srv/mf/var/spool", "queued mail stays where it was");
    assert.deepEqual(fleet.instances.main?.listen, [{ host: "127.0.0.1", port: 2600 }]);
    assert.equal(fleet.instances.sub?.instance.relayTo, "main");
    assert.equal(fleet.instances.main?.hostname, "mx.example");
  });

  test("--source IPs become sources, a pool named after the instance, and its mx transport", () => {
    const doc = openDocument("instances:\n  sub: { role: submission }\n");
    addInstance(doc, {
      name: "out",
      role: "output",
      listen: [],
      sources: ["127.0.0.2", "127.0.0.3"],
      relayTo: null,
    });
    const out = parse(doc.toString()).instances.out!;
    assert.deepEqual(
      out.pools.out?.members.map((m) => out.sources[m.source]?.address),
      ["127.0.0.2", "127.0.0.3"],
    );
    assert.equal(out.transports.mx?.pool, "out");
  });

  test("an existing name is refused", () => {
    const doc = openDocument("instances:\n  out: { role: output }\n");
    const spec = { name: "out", role: "all" as const, listen: [], sources: [], relayTo: null };
    assert.throws(() => addInstance(doc, spec), ConfigEditError);
  });

  test("disable writes enabled: false; enable removes it again", () => {
    const doc = openDocument(
      "instances:\n  out: { role: output }\n  spare: { role: all, listen: ['127.0.0.1:4000'] }\n",
    );
    setEnabled(doc, "spare", false);
    assert.equal(parse(doc.toString()).instances.spare?.instance.enabled, false);
    setEnabled(doc, "spare", true);
    assert.equal(parse(doc.toString()).instances.spare?.instance.enabled, true);
    assert.doesNotMatch(doc.toString(), /enabled/);
    assert.throws(() => setEnabled(doc, "nope", true), /no instance nope \(instances: out, spare\)/);
  });

  test("remove drops the section and keeps the rest", () => {
    const doc = openDocument(
      "instances:\n  # delivers\n  out: { role: output }\n  sub: { role: submission }\n",
    );
    removeInstance(doc, "sub");
    assert.deepEqual(Object.keys(parse(doc.toString()).instances), ["out"]);
    assert.match(doc.toString(), /# delivers/);
  });

  test("an empty file is the default instance main: it is kept beside the new one", () => {
    const doc = openDocument("");
    addInstance(doc, { name: "box", role: "all", listen: ["127.0.0.1:4100"], sources: [], relayTo: null });
    const fleet = parse(doc.toString());
    assert.deepEqual(Object.keys(fleet.instances), ["main", "box"]);
    assert.equal(fleet.instances.main?.spoolDir, "/srv/mf/var/spool");
  });
});
