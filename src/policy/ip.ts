/**
 * Client address helpers shared by the policy checks: IPv4-mapped IPv6 unwrapped, IPv6 expanded
 * into its eight groups (for DNSBL nibbles and per-/64 rate-limit keys).
 */
import { isIPv6 } from "node:net";

/** "::ffff:192.0.2.1" -> "192.0.2.1"; other addresses unchanged. */
export function plainIp(address: string): string {
  return address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");
}

/** The eight 16-bit groups of an IPv6 address, as lower-case hex without leading zeros. */
export function expandIPv6(address: string): string[] {
  let text = address.toLowerCase().replace(/%.*$/, "");
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill("0");
  return [...left, ...zeros, ...right].map((g) => Number.parseInt(g, 16).toString(16));
}

/** The rate-limit key of a client: the address itself for IPv4, its /64 for IPv6. */
export function clientKey(address: string): string {
  const plain = plainIp(address);
  if (!isIPv6(plain)) return plain;
  return `${expandIPv6(plain).slice(0, 4).join(":")}::/64`;
}
