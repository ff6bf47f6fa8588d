/**
 * Exclusive lock on a spool directory, so two processes never write the same spool.
 *
 * The lock is a listening Unix socket `<spool>/lock.sock`. A process that dies (even kill -9)
 * stops listening, so its lock goes stale on its own: a newcomer gets EADDRINUSE, tries to connect,
 * gets ECONNREFUSED, removes the stale socket and binds again. A successful connect means the lock
 * is held; the holder answers with its PID, which goes into the SPOOL_LOCKED error.
 * `<spool>/pid` is also written for operators.
 *
 * Known limit: two processes taking over the same stale lock within microseconds could both win;
 * the supervisor starts one instance per spool, so this is not guarded further.
 */
import { unlink, writeFile } from "node:fs/promises";
import { createConnection, createServer, type Server } from "node:net";
import { join } from "node:path";
import type { Logger } from "pino";
import { SpoolError } from "./types.ts";

/** sun_path is 108 bytes on Linux, including the terminating NUL. */
const MAX_SOCKET_PATH = 107;
const PROBE_TIMEOUT_MS = 2000;

export interface SpoolLock {
  readonly socketPath: string;
  release(): Promise<void>;
}

type Probe = { held: true; pid: string } | { held: false };

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function listen(server: Server, path: string): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException) => resolve(err);
    server.once("error", onError);
    server.listen(path, () => {
      server.off("error", onError);
      resolve(null);
    });
  });
}

/** Connects to an existing lock socket: a live holder answers with its PID. */
function probe(path: string): Promise<Probe> {
  return new Promise((resolve, reject) => {
    let answer = "";
    let connected = false;
    const socket = createConnection(path);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ held: true, pid: "unknown (no answer)" });
    }, PROBE_TIMEOUT_MS);
    socket.setEncoding("utf8");
    socket.on("connect", () => {
      connected = true;
    });
    socket.on("data", (chunk: string) => {
      answer += chunk;
    });
    socket.on("end", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ held: true, pid: answer.trim() || "unknown" });
    });
    socket.on("error", (err) => {
      clearTimeout(timer);
      socket.destroy();
      if (connected) resolve({ held: true, pid: answer.trim() || "unknown" });
      else if (errorCode(err) === "ECONNREFUSED" || errorCode(err) === "ENOENT") resolve({ held: false });
      else reject(err);
    });
  });
}

export async function acquireSpoolLock(options: { dir: string; logger: Logger }): Promise<SpoolLock> {
  const socketPath = join(options.dir, "lock.sock");
  const bytes = Buffer.byteLength(socketPath);
  if (bytes > MAX_SOCKET_PATH) {
    throw new Error(
      `spool lock socket path is ${bytes} bytes, over the ${MAX_SOCKET_PATH}-byte Unix socket limit: ` +
        `${socketPath} (use a shorter spool directory path)`,
    );
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    const server = createServer((socket) => {
      socket.on("error", () => {});
      socket.end(`${process.pid}\n`);
    });
    const err = await listen(server, socketPath);
    if (err === null) {
      server.unref();
      await writeFile(join(options.dir, "pid"), `${process.pid}\n`);
      return {
        socketPath,
        release: async () => {
          await new Promise<void>((resolve) => server.close(() => resolve()));
          await unlink(join(options.dir, "pid")).catch(() => {});
        },
      };
    }
    if (err.code !== "EADDRINUSE") throw err;
    const holder = await probe(socketPath);
    if (holder.held) {
      throw new SpoolError("SPOOL_LOCKED", `spool ${options.dir} is locked by process ${holder.pid}`);
    }
    options.logger.warn({ socketPath }, "removing stale spool lock left by a dead process");
    await unlink(socketPath).catch((e: unknown) => {
      if (errorCode(e) !== "ENOENT") throw e;
    });
  }
  throw new SpoolError("SPOOL_LOCKED", `spool ${options.dir}: could not take the lock (contended)`);
}
