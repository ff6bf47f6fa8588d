/**
 * Surroundings of the inbound-protection e2e scenarios (issue #5): an e2e world whose mailfleet
 * has a TLS certificate made by `mailfleet tls self-signed`, logins added with `mailfleet user
 * add`, a plain listener (STARTTLS) and an implicit-TLS one, and a real receiving MTA
 * (smtp-sink) behind the MX of `dest.test` and `mailfleet.test`.
 *
 * 127.0.0.1 is the only trusted network, so clients bound to 127.0.0.2 and up are strangers.
 */
import { join } from "node:path";
import { type CliResult, startWorld, type World } from "./e2e-world.ts";
import { runCli } from "./mailfleet-process.ts";
import { freePort } from "./ports.ts";
import { type Sink, startSink } from "./smtp-sink.ts";

export interface Login {
  name: string;
  password: string;
  allow: string[];
}

export interface InboundWorld {
  world: World;
  sink: Sink;
  /** The plain listener (STARTTLS when TLS is on). */
  port: number;
  /** The implicit-TLS listener, or 0 without TLS. */
  tlsPort: number;
  /** The pid of the process that runs the instance (the supervisor's child). */
  instancePid(): number;
  /** `mailfleet user ...` against this world's config. */
  user(args: string[], input?: string): Promise<CliResult>;
  close(): Promise<void>;
}

export async function startInboundWorld(options: {
  config?: Record<string, unknown>;
  logins?: Login[];
  tls?: boolean;
}): Promise<InboundWorld> {
  const mxPort = await freePort();
  const sink = await startSink({ host: "127.0.0.1", port: mxPort, dump: true });
  const tls = options.tls ?? false;
  const port = await freePort();
  const tlsPort = tls ? await freePort() : 0;
  const listen: unknown[] = [`127.0.0.1:${port}`];
  if (tls) listen.push({ address: `127.0.0.1:${tlsPort}`, tls: "implicit" });
  let world: World;
  try {
    world = await startWorld({
      mxPort,
      start: false,
      zone: {
        "dest.test": { mx: [{ preference: 10, exchange: "mx.dest.test" }] },
        "mailfleet.test": { mx: [{ preference: 10, exchange: "mx.dest.test" }] },
        "mx.dest.test": { a: ["127.0.0.1"] },
      },
      config: {
        listen,
        relay: { trusted_networks: ["127.0.0.1/32"] },
        ...(tls ? { tls: { cert: "tls/cert.pem", key: "tls/key.pem" } } : {}),
        ...(options.logins ? { auth: { users_file: "users" } } : {}),
        ...options.config,
      },
    });
  } catch (error) {
    await sink.destroy();
    throw error;
  }
  const user = (args: string[], input?: string) =>
    runCli(["user", ...args, "-c", world.configPath], input === undefined ? {} : { input });
  try {
    if (tls) {
      const made = await runCli([
        "tls",
        "self-signed",
        "--out",
        join(world.dir, "tls"),
        "--hostname",
        "mailfleet.test",
      ]);
      if (made.code !== 0) throw new Error(`tls self-signed failed: ${made.stderr}`);
    }
    for (const login of options.logins ?? []) {
      const args = ["add", login.name, "--password-stdin", ...login.allow.flatMap((a) => ["--allow", a])];
      const added = await user(args, `${login.password}\n`);
      if (added.code !== 0) throw new Error(`user add ${login.name} failed: ${added.stderr}`);
    }
    await world.start();
  } catch (error) {
    await world.close();
    await sink.destroy();
    throw error;
  }
  return {
    world,
    sink,
    port,
    tlsPort,
    instancePid() {
      // The supervisor says "fleet started: main (pid N)"; a single process says nothing.
      const match = /\bmain \(pid (\d+)\)/.exec(world.mailfleet.stderr());
      return match ? Number(match[1]) : (world.mailfleet.child.pid ?? 0);
    },
    user,
    async close() {
      await world.close();
      await sink.destroy();
    },
  };
}
