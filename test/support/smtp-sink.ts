/**
 * Runs Postfix's smtp-sink as a real receiving MTA for e2e tests, optionally dumping every
 * message to a file (-d) so tests can check exactly what arrived, and with any fault flags.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmod, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canConnect, freePort } from "./ports.ts";
import { postfixTool } from "./postfix-tools.ts";

export interface SinkMessage {
  file: string;
  clientAddr: string;
  helo: string | null;
  mailArgs: string;
  rcptArgs: string[];
  /** Header + body as received (LF line ends, as smtp-sink writes them). */
  content: string;
}

export interface Sink {
  host: string;
  port: number;
  dumpDir: string | null;
  /** Parses every dumped message so far. */
  messages(): Promise<SinkMessage[]>;
  stop(): Promise<void>;
  /** Stops the sink and removes its dump directory. */
  destroy(): Promise<void>;
}

export interface SinkOptions {
  host?: string;
  /** A fixed port (to replace a sink in place, or share one port across 127.0.0.x); default: a free one. */
  port?: number;
  /** smtp-sink fault flags, e.g. ["-r", "RCPT"]. */
  flags?: string[];
  dump?: boolean;
}

export async function startSink(options: SinkOptions = {}): Promise<Sink> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? (await freePort(host));
  let dumpDir: string | null = null;
  const args = ["-u", "nobody", ...(options.flags ?? [])];
  if (options.dump !== false) {
    dumpDir = await mkdtemp(join(tmpdir(), "mailfleet-sink-"));
    await chmod(dumpDir, 0o777); // smtp-sink drops privileges to nobody before writing
    args.push("-d", `${dumpDir}/%Y%m%d%H%M%S.`);
  }
  args.push(`${host}:${port}`, "256");
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
      if (!dumpDir) return [];
      const files = (await readdir(dumpDir)).sort();
      // smtp-sink removes the dump of an aborted transaction, which can happen between the
      // readdir and the read: such a file was never a message.
      const read = await Promise.all(
        files.map((f) =>
          readFile(join(dumpDir!, f), "utf8").then(
            (text) => parseDump(join(dumpDir!, f), text),
            (err: NodeJS.ErrnoException) => {
              if (err.code === "ENOENT") return null;
              throw err;
            },
          ),
        ),
      );
      return read.filter((m) => m !== null);
    },
    stop,
    async destroy() {
      await stop();
      if (dumpDir) await rm(dumpDir, { recursive: true, force: true });
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
    const ok = await canConnect(host, port);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`smtp-sink did not listen on ${host}:${port}: ${stderr()}`);
}

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
      i += 3; // smtp-sink's own three-line Received header ends its part
      break;
    }
  }
  // Drop the empty line smtp-sink appends after the message.
  const content = lines.slice(i).join("\n").replace(/\n$/, "");
  return { file, clientAddr, helo, mailArgs, rcptArgs, content };
}
