/**
 * The few file-system operations the spool uses, as an interface, so tests can count fsyncs or
 * inject ENOSPC/EIO on real files. `nodeSpoolFs` is the real thing (node:fs/promises).
 */
import * as fsp from "node:fs/promises";

export interface SpoolFileHandle {
  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }>;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface SpoolFs {
  open(path: string, flags: string): Promise<SpoolFileHandle>;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: Buffer): Promise<void>;
  mkdir(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  unlink(path: string): Promise<void>;
  truncate(path: string, length: number): Promise<void>;
  /** Bytes available to unprivileged users in the file system holding `path`. */
  freeBytes(path: string): Promise<number>;
}

export const nodeSpoolFs: SpoolFs = {
  open: (path, flags) => fsp.open(path, flags),
  readFile: (path) => fsp.readFile(path),
  writeFile: (path, data) => fsp.writeFile(path, data),
  mkdir: async (path) => {
    await fsp.mkdir(path, { recursive: true });
  },
  readdir: (path) => fsp.readdir(path),
  unlink: (path) => fsp.unlink(path),
  truncate: (path, length) => fsp.truncate(path, length),
  freeBytes: async (path) => {
    const stats = await fsp.statfs(path);
    return Number(stats.bavail) * Number(stats.bsize);
  },
};

/** fsyncs a directory so that file creations/removals in it are durable. */
export async function syncDirectory(fs: SpoolFs, path: string): Promise<void> {
  const handle = await fs.open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes all buffers at `position`, looping over short writes and the iovec limit. */
export async function writeAll(
  handle: SpoolFileHandle,
  buffers: Buffer[],
  position: number,
): Promise<number> {
  const MAX_IOV = 1024;
  let pending = buffers.filter((b) => b.length > 0);
  let at = position;
  while (pending.length > 0) {
    const chunk = pending.slice(0, MAX_IOV);
    const { bytesWritten } = await handle.writev(chunk, at);
    if (bytesWritten <= 0) throw new Error("writev wrote 0 bytes");
    at += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const buffer of pending) {
      if (skip >= buffer.length) {
        skip -= buffer.length;
      } else {
        rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
        skip = 0;
      }
    }
    pending = rest;
  }
  return at - position;
}
