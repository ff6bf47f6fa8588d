import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { lineFromInstance } from "./log.ts";

describe("lineFromInstance", () => {
  it("reads the instance from text and JSON delivery-log lines", () => {
    const text = "2026-11-23T12:00:00.000Z output 01JD3FABCDEFGHJKMNPQ delivered to=<a@b.example>";
    assert.equal(lineFromInstance(text, "output"), true);
    assert.equal(lineFromInstance(text, "out"), false);
    const json = JSON.stringify({ time: "t", instance: "submission", event: "received", id: "X" });
    assert.equal(lineFromInstance(json, "submission"), true);
    assert.equal(lineFromInstance(json, "output"), false);
    assert.equal(lineFromInstance("{broken", "output"), false);
  });
});
