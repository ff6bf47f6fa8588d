/**
 * smtp-sink on a port the test chooses. Every MX delivery of an instance goes to one port (the
 * transport's), so scenarios with several receiving MTAs run them on different loopback
 * addresses (127.0.0.1, 127.0.0.2, ...) with the same port, and a sink "replaced" mid-test must
 * come back on the same port. `startSink` (smtp-sink.ts) always picks a fresh port, hence this.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmod, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { postfixTool } from "./postfix-tools.ts";
import type { Sink, SinkMessage } from "./smtp-sink.ts";

export interface SinkAtOptions {
  host: string;
  port: number;
  /** smtp-sink fault flags, e.g. ["-r", "RCPT"]. */
  flags?: string[];
}

export interface SinkAt extends Sink {
  /** Stops the sink and removes its dump directory. */
  destroy(): Promise<void>;
}

export async function startSinkAt(options: SinkAtOptions): Promise<SinkAt> {
  const { host, port } = options;
  const dumpDir = await mkdtemp(join(tmpdir(), "mailfleet-sink-"));
  await chmod(dumpDir, 0o777); // smtp-sink drops privileges to nobody before writing
  const args = [
    "-u",
    "nobody",
    ...(options.flags ?? []),
    "-d",
    `${dumpDir}/%Y%m%d%H%M%S.`,
    `${host}:${port}`,
    "256",
  ];
  const tool = postfixTool("smtp-sink");
  const child: ChildProcess = spawn(tool.path, args, { env: tool.env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  await waitForPort(host, port, child, () => stderr);
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  return {
    host,
    port,
    dumpDir,
    async messages() {
      const files = (await readdir(dumpDir)).sort();
      return Promise.all(
        files.map(async (f) => parseDump(join(dumpDir, f), await readFile(join(dumpDir, f), "utf8"))),
      );
    },
    stop,
    async destroy() {
      await stop();
      await rm(dumpDir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(
  host: string,
  port: number,
  child: ChildProcess,
  stderr: () => string,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`smtp-sink exited: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, host, () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`smtp-sink did not listen on ${host}:${port}: ${stderr()}`);
}

/** Same dump format as smtp-sink.ts parses: X-* envelope lines, smtp-sink's Received, content. */
function parseDump(file: string, text: string): SinkMessage {
  const lines = text.split("\n");
  const rcptArgs: string[] = [];
  let clientAddr = "";
  let helo: string | null = null;
  let mailArgs = "";
  let i = 0;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith("X-Client-Addr: ")) clientAddr = line.slice(15);
    else if (line.startsWith("X-Helo-Args: ")) helo = line.slice(13);
    else if (line.startsWith("X-Mail-Args: ")) mailArgs = line.slice(13);
    else if (line.startsWith("X-Rcpt-Args: ")) rcptArgs.push(line.slice(13));
    else if (line.startsWith("Received: from ")) {
      i += 3;
      break;
    }
  }
  const content = lines.slice(i).join("\n").replace(/\n$/, "");
  return { file, clientAddr, helo, mailArgs, rcptArgs, content };
}
