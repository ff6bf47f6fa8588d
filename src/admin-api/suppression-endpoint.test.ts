import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, describe, it } from "node:test";
import { openSuppressionList } from "../feedback/suppression.ts";
import { HttpError } from "./http.ts";
import { suppressionChangeEndpoint, suppressionListEndpoint } from "./suppression-endpoint.ts";

function request(url: string, body?: unknown): IncomingMessage {
  const stream = Readable.from(body === undefined ? [] : [Buffer.from(JSON.stringify(body))]);
  return Object.assign(stream, { url, headers: {} }) as unknown as IncomingMessage;
}

describe("suppression endpoints", async () => {
  const dir = await mkdtemp(join(tmpdir(), "mf-suppression-api-"));
  const list = await openSuppressionList(join(dir, "s.jsonl"));
  after(async () => {
    await list.close();
    await rm(dir, { recursive: true, force: true });
  });
  const add = suppressionChangeEndpoint("main", list, "add", () => Date.UTC(2026, 10, 23));
  const remove = suppressionChangeEndpoint("main", list, "remove");
  const listing = suppressionListEndpoint("main", list);

  it("adds, lists per tenant and removes", async () => {
    assert.deepEqual((await add(request("/", { tenant: "Acme", address: "X@dest.test" }))).body, {
      instance: "main",
      changed: true,
    });
    assert.deepEqual((await add(request("/", { tenant: "acme", address: "x@dest.test" }))).body, {
      instance: "main",
      changed: false,
    });
    await add(request("/", { tenant: null, address: "y@dest.test", detail: "asked to" }));
    const acme = (await listing(request("/v1/suppression?tenant=acme"))).body as { entries: unknown[] };
    assert.deepEqual(acme.entries, [
      {
        tenant: "acme",
        address: "x@dest.test",
        reason: "manual",
        addedAt: "2026-11-23T00:00:00.000Z",
        detail: "",
      },
    ]);
    const untenanted = (await listing(request("/v1/suppression?tenant=-"))).body as {
      entries: { address: string }[];
    };
    assert.deepEqual(
      untenanted.entries.map((e) => e.address),
      ["y@dest.test"],
    );
    assert.equal(
      ((await listing(request("/v1/suppression"))).body as { entries: unknown[] }).entries.length,
      2,
    );
    assert.deepEqual((await remove(request("/", { tenant: "acme", address: "x@dest.test" }))).body, {
      instance: "main",
      changed: true,
    });
    assert.equal(list.has("acme", "x@dest.test"), false);
  });

  it("refuses bad input with 400", async () => {
    for (const body of [
      { tenant: "a b", address: "x@dest.test" },
      { tenant: null, address: "nope" },
      { address: "x@dest.test" },
    ]) {
      await assert.rejects(
        async () => add(request("/", body)),
        (err: unknown) => err instanceof HttpError && err.status === 400,
      );
    }
    await assert.rejects(
      async () => listing(request("/v1/suppression?tenant=a%20b")),
      (err: unknown) => err instanceof HttpError && err.status === 400,
    );
  });
});
