/**
 * Who may relay through this listener: clients whose address is inside one of the configured
 * trusted networks (`relay.trusted_networks`). Everyone else is refused at RCPT TO, because
 * mailfleet has no local domains, so an untrusted client has nothing it may send to.
 *
 * Addresses arrive from a dual-stack socket as IPv4-mapped IPv6 (`::ffff:127.0.0.1`); we
 * unwrap those so an IPv4 network matches them and logs show the plain IPv4 address.
 */
import { BlockList, isIP } from "node:net";

export interface RelayAccess {
  isTrusted(address: string): boolean;
}

const MAPPED_IPV4 = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** `::ffff:192.0.2.1` -> `192.0.2.1`; anything else unchanged. */
export function plainAddress(address: string): string {
  const mapped = MAPPED_IPV4.exec(address);
  return mapped ? mapped[1]! : address;
}

/** Throws on a malformed network: that is a start-up configuration error. */
export function createRelayAccess(trustedNetworks: readonly string[]): RelayAccess {
  const trusted = new BlockList();
  for (const network of trustedNetworks) {
    const [rawAddress = "", prefixText, ...extra] = network.trim().split("/");
    const address = plainAddress(rawAddress);
    const family = isIP(address);
    if (family === 0 || extra.length > 0) {
      throw new Error(`relay.trusted_networks: "${network}" is not an address or CIDR network`);
    }
    const maxPrefix = family === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText ?? "0") || prefix > maxPrefix) {
      throw new Error(`relay.trusted_networks: "${network}" has a bad prefix length`);
    }
    trusted.addSubnet(address, prefix, family === 4 ? "ipv4" : "ipv6");
  }
  return {
    isTrusted(address: string): boolean {
      const plain = plainAddress(address);
      const family = isIP(plain);
      if (family === 0) return false;
      return trusted.check(plain, family === 4 ? "ipv4" : "ipv6");
    },
  };
}
