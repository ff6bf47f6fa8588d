/**
 * Test helpers for the spool's tests (not used by production code): temp spool directories, a
 * silent logger, sample messages, and a SpoolFs wrapper over the real file system that counts
 * datasyncs and can inject ENOSPC into writes or EIO into truncates.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Logger, pino } from "pino";
import type { NewMessage } from "../message/types.ts";
import { nodeSpoolFs, type SpoolFileHandle, type SpoolFs } from "./spool-fs.ts";

export const silentLogger: Logger = pino({ level: "silent" });

/** Creates a temp directory; call the returned cleanup in `after`/`finally`. */
export async function tempDir(prefix = "mf-spool-"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function sampleMessage(recipientCount = 2, overrides: Partial<NewMessage> = {}): NewMessage {
  return {
    sender: "sender@example.org",
    recipients: Array.from({ length: recipientCount }, (_, i) => ({
      address: `rcpt${i}@example.com`,
      dsn: { notify: null, orcpt: null },
    })),
    dsn: { ret: null, envid: null },
    bodyType: "8BITMIME",
    smtpUtf8: false,
    clientAddress: "127.0.0.1",
    clientHelo: "client.test",
    arrivedAt: 1_700_000_000_000,
    isBounce: false,
    tenant: null,
    ...overrides,
  };
}

/** A body whose first line carries the sha256 of the rest, so integrity can be checked later. */
export function checksummedBody(size = 2000): Buffer {
  const rest = Buffer.from(`\r\n${randomBytes(size).toString("base64")}\r\n`);
  const sum = createHash("sha256").update(rest).digest("hex");
  return Buffer.concat([Buffer.from(`X-Sha256: ${sum}`), rest]);
}

export function bodyIsIntact(body: Buffer): boolean {
  const text = body.toString("latin1");
  const match = /^X-Sha256: ([0-9a-f]{64})/.exec(text);
  if (match?.[1] === undefined) return false;
  const rest = body.subarray(match[0].length);
  return createHash("sha256").update(rest).digest("hex") === match[1];
}

export interface InstrumentedFs {
  fs: SpoolFs;
  datasyncs: number;
  /** The next N writev calls write half their bytes, then fail with ENOSPC. */
  failWrites: number;
  /** The next N truncate calls (on handles) fail with EIO. */
  failTruncates: number;
  /** While set, datasync waits for it: holds a batch in flight so the next one fills up. */
  syncGate: Promise<void> | null;
}

function errnoError(code: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: injected failure`);
  err.code = code;
  return err;
}

export function instrumentedFs(base: SpoolFs = nodeSpoolFs): InstrumentedFs {
  const state: InstrumentedFs = {
    fs: base,
    datasyncs: 0,
    failWrites: 0,
    failTruncates: 0,
    syncGate: null,
  };
  const wrap = (handle: SpoolFileHandle): SpoolFileHandle => ({
    writev: async (buffers, position) => {
      if (state.failWrites > 0) {
        state.failWrites--;
        const all = Buffer.concat(buffers);
        await handle.writev([all.subarray(0, Math.floor(all.length / 2))], position);
        throw errnoError("ENOSPC");
      }
      return handle.writev(buffers, position);
    },
    read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
    datasync: async () => {
      state.datasyncs++;
      if (state.syncGate !== null) await state.syncGate;
      return handle.datasync();
    },
    sync: () => handle.sync(),
    truncate: (length) => {
      if (state.failTruncates > 0) {
        state.failTruncates--;
        return Promise.reject(errnoError("EIO"));
      }
      return handle.truncate(length);
    },
    close: () => handle.close(),
  });
  state.fs = { ...base, open: async (path, flags) => wrap(await base.open(path, flags)) };
  return state;
}
