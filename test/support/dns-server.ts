/**
 * A small authoritative DNS server for tests, on loopback: answers from an in-memory zone over
 * UDP and TCP (length-prefixed, for when c-ares retries a truncated answer over TCP). Each name
 * can also be told to misbehave (SERVFAIL, NXDOMAIN, never answer), so MX resolution and its
 * failure classification are tested against real DNS packets instead of a mocked resolver.
 */
import dgram from "node:dgram";
import net from "node:net";
import * as dnsPacket from "dns-packet";

export interface ZoneEntry {
  /** `{ preference: 0, exchange: "." }` alone is a Null MX (RFC 7505). */
  mx?: { preference: number; exchange: string }[];
  a?: string[];
  aaaa?: string[];
  /** One record per item; an array item is one record of several character-strings (each <= 255). */
  txt?: (string | string[])[];
  /** The name is an alias; A/AAAA/MX/TXT questions get the CNAME plus the target's records. */
  cname?: string;
  /** servfail / nxdomain: that rcode for every question; timeout: never answer. */
  behaviour?: "servfail" | "nxdomain" | "timeout";
  /** TTL of the records, seconds (default 60). */
  ttl?: number;
}

/** Names (case-insensitive, no trailing dot) to their records. Names absent answer NXDOMAIN. */
export type ZoneSpec = Record<string, ZoneEntry>;

export interface DnsServer {
  host: "127.0.0.1";
  port: number;
  setZone(zone: ZoneSpec): void;
  close(): Promise<void>;
  /** Questions received so far (UDP and TCP). */
  readonly queries: number;
}

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;
/** Classic DNS limit for a UDP answer when the query carries no EDNS OPT record. */
const PLAIN_UDP_LIMIT = 512;
const MAX_CNAME_CHAIN = 8;

type Answer = dnsPacket.Answer;

function normalise(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

function normaliseZone(zone: ZoneSpec): Map<string, ZoneEntry> {
  return new Map(Object.entries(zone).map(([name, entry]) => [normalise(name), entry]));
}

function recordsOf(name: string, entry: ZoneEntry, type: string): Answer[] {
  const ttl = entry.ttl ?? 60;
  switch (type) {
    case "A":
      return (entry.a ?? []).map((data) => ({ type: "A", name, ttl, data }));
    case "AAAA":
      return (entry.aaaa ?? []).map((data) => ({ type: "AAAA", name, ttl, data }));
    case "MX":
      return (entry.mx ?? []).map((mx) => ({
        type: "MX",
        name,
        ttl,
        data: { preference: mx.preference, exchange: mx.exchange === "." ? "" : mx.exchange },
      }));
    case "TXT":
      return (entry.txt ?? []).map((data) => ({ type: "TXT", name, ttl, data }));
    default:
      return [];
  }
}

interface Lookup {
  rcode: number;
  answers: Answer[];
  /** Never answer this question. */
  silent: boolean;
}

/** Resolves one question in the zone, following CNAMEs inside the zone. */
function lookup(zone: Map<string, ZoneEntry>, question: dnsPacket.Question): Lookup {
  const answers: Answer[] = [];
  let name = normalise(question.name);
  for (let hop = 0; hop < MAX_CNAME_CHAIN; hop++) {
    const entry = zone.get(name);
    if (!entry) return { rcode: hop === 0 ? RCODE.NXDOMAIN : RCODE.NOERROR, answers, silent: false };
    if (entry.behaviour === "timeout") return { rcode: RCODE.NOERROR, answers, silent: true };
    if (entry.behaviour === "servfail") return { rcode: RCODE.SERVFAIL, answers, silent: false };
    if (entry.behaviour === "nxdomain") return { rcode: RCODE.NXDOMAIN, answers, silent: false };
    if (entry.cname && question.type !== "CNAME") {
      answers.push({ type: "CNAME", name, ttl: entry.ttl ?? 60, data: entry.cname });
      name = normalise(entry.cname);
      continue;
    }
    if (question.type === "CNAME" && entry.cname) {
      answers.push({ type: "CNAME", name, ttl: entry.ttl ?? 60, data: entry.cname });
      return { rcode: RCODE.NOERROR, answers, silent: false };
    }
    answers.push(...recordsOf(name, entry, question.type));
    return { rcode: RCODE.NOERROR, answers, silent: false };
  }
  return { rcode: RCODE.SERVFAIL, answers: [], silent: false };
}

/** Builds the response to a query packet, or null when it must go unanswered. */
function respond(zone: Map<string, ZoneEntry>, query: dnsPacket.DecodedPacket, udpLimit: number | null) {
  const question = query.questions?.[0];
  const base = { type: "response" as const, id: query.id ?? 0, questions: query.questions ?? [] };
  if (!question) return dnsPacket.encode({ ...base, flags: RCODE.NOTIMP });
  const result = lookup(zone, question);
  if (result.silent) return null;
  const flags =
    dnsPacket.AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | result.rcode;
  const full = dnsPacket.encode({ ...base, flags, answers: result.answers });
  if (udpLimit === null || full.length <= udpLimit) return full;
  return dnsPacket.encode({ ...base, flags: flags | dnsPacket.TRUNCATED_RESPONSE, answers: [] });
}

function udpLimitOf(query: dnsPacket.DecodedPacket): number {
  const opt = query.additionals?.find((a) => a.type === "OPT");
  return opt && "udpPayloadSize" in opt ? Math.max(opt.udpPayloadSize, PLAIN_UDP_LIMIT) : PLAIN_UDP_LIMIT;
}

function decodeOrNull(buf: Buffer): dnsPacket.DecodedPacket | null {
  try {
    return dnsPacket.decode(buf);
  } catch {
    return null;
  }
}

/** Starts UDP and TCP listeners on the same ephemeral port of 127.0.0.1. */
export async function startDnsServer(initialZone: ZoneSpec): Promise<DnsServer> {
  let zone = normaliseZone(initialZone);
  let queries = 0;
  const tcpSockets = new Set<net.Socket>();

  const tcp = net.createServer((socket) => {
    tcpSockets.add(socket);
    socket.on("close", () => tcpSockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on("data", (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const query = decodeOrNull(pending.subarray(2, 2 + length));
        pending = pending.subarray(2 + length);
        if (!query) continue;
        queries++;
        const answer = respond(zone, query, null);
        if (!answer) continue;
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(answer.length);
        socket.write(Buffer.concat([prefix, answer]));
      }
    });
  });

  const onQuery = (udp: dgram.Socket) => (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    const query = decodeOrNull(msg);
    if (!query) return;
    queries++;
    const answer = respond(zone, query, udpLimitOf(query));
    if (answer) udp.send(answer, rinfo.port, rinfo.address);
  };

  // UDP and TCP must share a port number: bind TCP first on an ephemeral port, then take the
  // same number for UDP, retrying a few times if another process holds it on UDP.
  let udp: dgram.Socket | null = null;
  for (let attempt = 0; udp === null; attempt++) {
    if (attempt >= 10) throw new Error("dns-server: could not bind UDP and TCP on one port");
    const port = await new Promise<number>((resolve, reject) => {
      tcp.once("error", reject);
      tcp.listen(0, "127.0.0.1", () => {
        tcp.off("error", reject);
        resolve((tcp.address() as net.AddressInfo).port);
      });
    });
    const socket = dgram.createSocket("udp4");
    const bound = await new Promise<boolean>((resolve) => {
      const onError = () => resolve(false);
      socket.once("error", onError);
      socket.bind(port, "127.0.0.1", () => {
        socket.off("error", onError);
        resolve(true);
      });
    });
    if (bound) {
      socket.on("message", onQuery(socket));
      udp = socket;
    } else {
      try {
        socket.close();
      } catch {
        // never bound: nothing to close
      }
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    }
  }
  const udpSocket = udp;

  const port = (tcp.address() as net.AddressInfo).port;
  return {
    host: "127.0.0.1",
    port,
    setZone(next) {
      zone = normaliseZone(next);
    },
    get queries() {
      return queries;
    },
    async close() {
      for (const socket of tcpSockets) socket.destroy();
      await Promise.all([
        new Promise<void>((resolve) => tcp.close(() => resolve())),
        new Promise<void>((resolve) => udpSocket.close(() => resolve())),
      ]);
    },
  };
}
