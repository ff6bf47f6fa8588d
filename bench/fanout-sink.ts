/**
 * S4's receiving side: one smtp-server per destination address (127.0.1.N, one per domain's MX
 * host), all on one port, that counts messages and records what the per-destination limits must
 * bound, keyed by (client source IP, destination): the most sessions open at once (counted from
 * connect, so a session still in its greeting counts too), messages, and the shortest gap between
 * two MAIL FROMs. It asserts nothing; `limitViolations()` in fanout.ts compares.
 */
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

export interface PairStats {
  sourceIp: string;
  /** The destination address the session came to (one per domain). */
  destination: string;
  maxOpen: number;
  messages: number;
  /** Shortest gap between consecutive MAIL FROMs on this pair, ms (null below 2 messages). */
  minGapMs: number | null;
}

export interface FanoutSink {
  port: number;
  /** Messages received (final dot seen) so far. */
  count(): number;
  /** Resolves with performance.now() when the count reached n, or null after timeoutMs. */
  waitForCount(n: number, timeoutMs: number): Promise<number | null>;
  pairs(): PairStats[];
  /** Recipients whose domain was not the one served at the address the session came to. */
  misrouted(): number;
  stop(): Promise<void>;
}

interface Pair extends PairStats {
  open: number;
  lastMailAt: number | null;
}

/** `destinations`: address -> the recipient domain expected there. */
export async function startFanoutSink(destinations: Map<string, string>): Promise<FanoutSink> {
  const pairs = new Map<string, Pair>();
  let count = 0;
  let misrouted = 0;
  const waiters = new Set<() => void>();
  const pairOf = (sourceIp: string, destination: string): Pair => {
    const key = `${sourceIp}>${destination}`;
    let pair = pairs.get(key);
    if (!pair) {
      pair = { sourceIp, destination, maxOpen: 0, messages: 0, minGapMs: null, open: 0, lastMailAt: null };
      pairs.set(key, pair);
    }
    return pair;
  };
  const clean = (address: string) => address.replace(/^::ffff:/, "");
  const servers: SMTPServer[] = [];
  let port = 0;
  for (const [address, domain] of destinations) {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["AUTH", "STARTTLS"],
      logger: false,
      maxClients: 10_000,
      size: 0,
      onConnect(session, callback) {
        const pair = pairOf(clean(session.remoteAddress), address);
        pair.open++;
        pair.maxOpen = Math.max(pair.maxOpen, pair.open);
        callback();
      },
      onClose(session) {
        pairOf(clean(session.remoteAddress), address).open--;
      },
      onMailFrom(_from, session, callback) {
        const pair = pairOf(clean(session.remoteAddress), address);
        const now = performance.now();
        if (pair.lastMailAt !== null) {
          const gap = now - pair.lastMailAt;
          pair.minGapMs = pair.minGapMs === null ? gap : Math.min(pair.minGapMs, gap);
        }
        pair.lastMailAt = now;
        callback();
      },
      onRcptTo(rcpt, _session, callback) {
        if (!rcpt.address.toLowerCase().endsWith(`@${domain}`)) misrouted++;
        callback();
      },
      onData(stream, session, callback) {
        stream.on("data", () => {});
        stream.on("end", () => {
          pairOf(clean(session.remoteAddress), address).messages++;
          count++;
          for (const w of waiters) w();
          callback();
        });
      },
    });
    servers.push(server);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, address, () => {
          server.removeListener("error", reject);
          resolve();
        });
      });
    } catch (err) {
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      throw err;
    }
    port = (server.server.address() as AddressInfo).port;
  }
  return {
    port,
    count: () => count,
    waitForCount: (n, timeoutMs) =>
      new Promise((resolve) => {
        const done = (at: number | null) => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(at);
        };
        const check = () => {
          if (count >= n) done(performance.now());
        };
        const timer = setTimeout(() => done(null), timeoutMs);
        waiters.add(check);
        check();
      }),
    pairs: () =>
      [...pairs.values()].map(({ sourceIp, destination, maxOpen, messages, minGapMs }) => ({
        sourceIp,
        destination,
        maxOpen,
        messages,
        minGapMs,
      })),
    misrouted: () => misrouted,
    async stop() {
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
