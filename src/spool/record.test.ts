import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  checkRecordAt,
  decodeJsonPayload,
  decodeMessagePayload,
  encodeJsonRecord,
  encodeMessageRecord,
  encodeRecord,
  HEADER_SIZE,
  RecordType,
  scanRecords,
} from "./record.ts";
import type { QueuedMessage } from "./types.ts";

const meta: QueuedMessage = {
  id: "01M84400000000000000",
  sender: "",
  recipients: [
    {
      address: "b@example.com",
      dsn: { notify: ["FAILURE"], orcpt: "rfc822;b@example.com" },
      state: "pending",
    },
  ],
  dsn: { ret: "HDRS", envid: "env-1" },
  bodyType: "8BITMIME",
  smtpUtf8: true,
  clientAddress: "127.0.0.1",
  clientHelo: "client",
  arrivedAt: 1_700_000_000_000,
  isBounce: true,
  tenant: null,
  size: 5,
  deferral: null,
  held: false,
};

describe("spool record format", () => {
  it("round-trips a message record and points at its body", () => {
    const body = Buffer.from("hello");
    const encoded = encodeMessageRecord(RecordType.message, meta, body);
    const bytes = Buffer.concat(encoded.buffers);
    assert.equal(bytes.length, encoded.length);
    assert.deepEqual(bytes.subarray(encoded.bodyOffset, encoded.bodyOffset + 5), body);
    const [item] = [...scanRecords(bytes)];
    assert.equal(item?.kind, "record");
    if (item?.kind !== "record") return;
    assert.equal(item.type, RecordType.message);
    const decoded = decodeMessagePayload(item.payload);
    assert.deepEqual(decoded.meta, meta);
    assert.equal(HEADER_SIZE + decoded.bodyOffset, encoded.bodyOffset);
  });

  it("detects a flipped bit in header or payload", () => {
    const bytes = Buffer.concat(encodeJsonRecord(RecordType.deferral, { id: "X", deferral: {} }).buffers);
    assert.ok(checkRecordAt(bytes, 0).ok);
    for (const at of [5, 7, HEADER_SIZE + 2]) {
      const damaged = Buffer.from(bytes);
      damaged[at]! ^= 0x01;
      assert.equal(checkRecordAt(damaged, 0).ok, false, `flip at ${at} undetected`);
    }
  });

  it("resynchronises after garbage and reports a torn tail", () => {
    const one = Buffer.concat(encodeJsonRecord(RecordType.deferral, { id: "1" }).buffers);
    const two = Buffer.concat(encodeJsonRecord(RecordType.deferral, { id: "2" }).buffers);
    const garbage = Buffer.from("MFSP-not-a-record");
    const bytes = Buffer.concat([one, garbage, two, two.subarray(0, 9)]);
    const items = [...scanRecords(bytes)];
    assert.deepEqual(
      items.map((i) => [i.kind, i.offset, i.length]),
      [
        ["record", 0, one.length],
        ["corrupt", one.length, garbage.length],
        ["record", one.length + garbage.length, two.length],
        ["tail", one.length + garbage.length + two.length, 9],
      ],
    );
    const second = items[2];
    assert.ok(second?.kind === "record");
    assert.deepEqual(decodeJsonPayload(second.payload), { id: "2" });
  });

  it("rejects message metadata of the wrong shape or size", () => {
    const wrongSize = encodeMessageRecord(RecordType.message, { ...meta, size: 99 }, Buffer.from("hello"));
    const payload = Buffer.concat(wrongSize.buffers).subarray(HEADER_SIZE);
    assert.throws(() => decodeMessagePayload(payload), /size/);
    const notMeta = Buffer.concat(
      encodeRecord(RecordType.message, [Buffer.from([0, 0, 0, 2]), Buffer.from("{}")]).buffers,
    );
    assert.throws(() => decodeMessagePayload(notMeta.subarray(HEADER_SIZE)), /shape/);
  });

  it("keeps a tenant, and reads a record written before tenants as tenant null", () => {
    const body = Buffer.from("hello");
    const withTenant = Buffer.concat(
      encodeMessageRecord(RecordType.message, { ...meta, tenant: "acme" }, body).buffers,
    );
    assert.equal(decodeMessagePayload(withTenant.subarray(HEADER_SIZE)).meta.tenant, "acme");
    const { tenant: _dropped, ...old } = meta;
    const oldBytes = Buffer.concat(encodeMessageRecord(RecordType.message, old as typeof meta, body).buffers);
    assert.equal(decodeMessagePayload(oldBytes.subarray(HEADER_SIZE)).meta.tenant, null);
  });
});
