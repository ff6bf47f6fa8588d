/**
 * Test-only helpers for the delivery tests: a transport and job with sensible defaults, a Site
 * builder, Postfix's smtp-sink started on a free loopback port, and an smtp-server receiver that
 * records connections, sessions and messages. Real sockets everywhere; nothing is mocked.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import { after } from "node:test";
import pino from "pino";
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from "smtp-server";
import { freePort } from "../../test/support/ports.ts";
import { postfixTool } from "../../test/support/postfix-tools.ts";
import type { TransportConfig } from "../config/types.ts";
import type { RecipientOutcome } from "../message/types.ts";
import { createSiteConnector } from "./smtp-session.ts";
import type { DeliveryJob, OpenResult, Site, SiteConnector, SiteSession } from "./types.ts";

/** A transport for tests; `concurrency` alone also sets `limits.concurrency` (they are one number). */
export function testTransport(overrides: Partial<TransportConfig> = {}): TransportConfig {
  const concurrency = overrides.concurrency ?? overrides.limits?.concurrency ?? 2;
  return {
    name: "out",
    pool: null,
    nexthop: { kind: "mx", port: 25 },
    tls: "none",
    bindAddress: null,
    helo: "mta.test",
    maxMessagesPerConnection: 100,
    retryScheduleMs: [60_000],
    maxQueueLifetimeMs: 86_400_000,
    timeouts: { connectMs: 2000, greetingMs: 3000, commandMs: 3000, dataMs: 3000 },
    idleTimeoutMs: 1000,
    ...overrides,
    concurrency,
    limits: { rateDelayMs: 0, maxPerHour: 0, ...overrides.limits, concurrency },
  };
}

export function testJob(recipients: string[], overrides: Partial<DeliveryJob> = {}): DeliveryJob {
  return {
    id: "TESTQUEUEID000000001",
    sender: "sender@origin.test",
    recipients: recipients.map((address, index) => ({ index, address, notify: null, orcpt: null })),
    ret: null,
    envid: null,
    bodyType: "7BIT",
    smtpUtf8: false,
    body: Buffer.from("From: sender@origin.test\r\nSubject: test\r\n\r\nHello.\r\n.leading dot\r\n"),
    ...overrides,
  };
}

/** A site of hosts (each a list of addresses) on one port. */
export function testSite(port: number, hosts: string[][], transport = testTransport()): Site {
  return {
    key: `${transport.name}|test`,
    transport,
    port,
    hosts: hosts.map((addresses, i) => ({ name: `mx${i + 1}.test`, preference: (i + 1) * 10, addresses })),
  };
}

async function waitForListener(host: string, port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`smtp-sink exited with ${child.exitCode}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`smtp-sink did not listen on ${host}:${port} within 5s`);
}

export interface Sink {
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts smtp-sink with the given fault flags on host:port (a free port when none given). */
export async function startSmtpSink(flags: string[], host = "127.0.0.1", givenPort?: number): Promise<Sink> {
  const tool = postfixTool("smtp-sink");
  const port = givenPort ?? (await freePort(host));
  const asRoot = process.getuid?.() === 0 ? ["-u", "nobody"] : [];
  const child = spawn(tool.path, [...asRoot, ...flags, `${host}:${port}`, "50"], {
    env: tool.env,
    stdio: "ignore",
  });
  await waitForListener(host, port, child);
  return {
    host,
    port,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

export interface ReceivedMessage {
  from: string;
  to: string[];
  body: string;
  remoteAddress: string;
  secure: boolean;
}

export interface Receiver {
  port: number;
  connections: number;
  messages: ReceivedMessage[];
  sessions: SMTPServerSession[];
  close(): Promise<void>;
}

/** An smtp-server that accepts everything unless the given callbacks say otherwise. */
export async function startReceiver(
  options: SMTPServerOptions = {},
  host = "127.0.0.1",
  port = 0,
): Promise<Receiver> {
  const receiver: Receiver = {
    port: 0,
    connections: 0,
    messages: [],
    sessions: [],
    close: async () => {},
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH"],
    logger: false,
    closeTimeout: 500,
    ...options,
    onConnect(session, callback) {
      receiver.connections++;
      receiver.sessions.push(session);
      if (options.onConnect) options.onConnect(session, callback);
      else callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        receiver.messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          body: Buffer.concat(chunks).toString("utf8"),
          remoteAddress: session.remoteAddress,
          secure: session.secure,
        });
        if (options.onData) options.onData(stream, session, callback);
        else callback();
      });
    },
  });
  server.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    server.server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  receiver.port = (server.server.address() as net.AddressInfo).port;
  receiver.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return receiver;
}

/** Opens a session and registers its closing, failing the test when open fails. */
export function openedSession(r: OpenResult, cleanups: (() => Promise<unknown>)[]): SiteSession {
  assert.equal(r.ok, true, `open failed: ${JSON.stringify(r)}`);
  const session = (r as Extract<OpenResult, { ok: true }>).session;
  cleanups.push(() => session.close());
  return session;
}

/** [index, kind, code, scope] per outcome, for compact assertions. */
export function outcomeSummary(outcomes: RecipientOutcome[]) {
  return outcomes.map((o) => [
    o.recipientIndex,
    o.kind,
    o.reply.code,
    o.kind === "delivered" ? null : o.scope,
  ]);
}

/**
 * A silent connector for a test file, plus `opened` (asserts a session opened and closes it at
 * the end) and `cleanups` (run in reverse order after the file's tests).
 */
export function connectorFixture(): {
  connector: SiteConnector;
  opened: (r: OpenResult) => SiteSession;
  cleanups: (() => Promise<unknown>)[];
} {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  return {
    connector: createSiteConnector({ logger: pino({ level: "silent" }) }),
    opened: (r) => openedSession(r, cleanups),
    cleanups,
  };
}
