/**
 * The Postfix -> mailfleet conversion, pure: main.cf and master.cf text plus a reader for map
 * source files in, the mailfleet config (as the plain object mailfleet.yaml holds) and the
 * warnings out. It reads only what shapes outbound delivery: listeners and trusted networks,
 * the default transport and relayhost, transport_maps, sender_dependent_default_transport_maps,
 * and the smtp(8) services they name (see transports.ts and routes.ts for the rules).
 */
import { isIP } from "node:net";

import { parseMainCf, splitList } from "./main-cf.ts";
import { type LoadedMaps, loadMaps, type MapSourceReader } from "./maps.ts";
import { type MasterService, parseMasterCf } from "./master-cf.ts";
import { inetServicePort, listenHost, splitTransportResult } from "./postfix-values.ts";
import { convertRoutes } from "./routes.ts";
import { createTransportBuilder, type ImportedTransport } from "./transports.ts";
import { createWarningList, type ImportWarning, type WarningSink } from "./warnings.ts";

export interface PostfixInput {
  mainCf: string;
  /** master.cf text, or null when the directory has none (then only the stock smtp service exists). */
  masterCf: string | null;
  readMap: MapSourceReader;
}

export interface ImportResult {
  /** The mailfleet.yaml content as a plain object (snake_case keys). */
  config: Record<string, unknown>;
  warnings: ImportWarning[];
}

/** main.cf parameters that matter for delivery but have no mailfleet equivalent (yet). */
const NOT_CARRIED_PARAMETERS = [
  "bounce_queue_lifetime",
  "sender_dependent_relayhost_maps",
  "smtp_fallback_relay",
  "fallback_relay",
  "smtp_sasl_auth_enable",
  "smtp_tls_policy_maps",
  "relay_domains",
  "relay_transport",
  "virtual_alias_maps",
  "content_filter",
  "smtpd_milters",
  "non_smtpd_milters",
  "default_destination_recipient_limit",
];

/** Commands of master.cf services that are part of every Postfix and mean nothing to mailfleet. */
const INTERNAL_COMMANDS = new Set([
  "pickup",
  "cleanup",
  "qmgr",
  "oqmgr",
  "tlsmgr",
  "trivial-rewrite",
  "bounce",
  "flush",
  "proxymap",
  "verify",
  "showq",
  "error",
  "discard",
  "local",
  "virtual",
  "anvil",
  "scache",
  "postlogd",
  "postscreen",
  "dnsblog",
  "tlsproxy",
]);
const STOCK_DELIVERY_SERVICES = new Set(["smtp", "relay", "lmtp"]);

export function convertPostfix(input: PostfixInput): ImportResult {
  const warnings = createWarningList();
  const main = parseMainCf(input.mainCf);
  const master = parseMasterCf(input.masterCf ?? "");
  if (input.masterCf === null) {
    warnings.warn("INPUT_PROBLEM", "no master.cf: only the stock smtp service is assumed");
  }
  for (const p of main.problems) warnings.warn("INPUT_PROBLEM", `main.cf:${p.line}: ${p.message}`);
  for (const p of master.problems) warnings.warn("INPUT_PROBLEM", `master.cf:${p.line}: ${p.message}`);

  const config: Record<string, unknown> = {};
  const hostname = main.get("myhostname") || undefined;
  if (hostname !== undefined) config.hostname = hostname;
  const listen = convertListeners(main.get("inet_interfaces") ?? "all", master.services, warnings);
  if (listen.length > 0) config.listen = listen;
  const trusted = convertNetworks(main.get("mynetworks"), warnings);
  if (trusted !== null) config.relay = { trusted_networks: trusted };

  const builder = createTransportBuilder(main, master.services, hostname, warnings);
  const defaultResult = splitTransportResult(main.get("default_transport") ?? "smtp");
  const defaultService = defaultResult.transport || "smtp";
  const defaultNexthop = defaultResult.nexthop || (main.get("relayhost") ?? "");
  let defaultTransport = builder.resolve(defaultService, defaultNexthop, "default_transport") ?? "mx";

  const readTable = (parameter: string): LoadedMaps => {
    const value = main.get(parameter);
    const loaded = value ? loadMaps(parameter, value, input.readMap) : { entries: [], problems: [] };
    for (const p of loaded.problems) warnings.warn("NOT_CARRIED", p);
    return loaded;
  };
  const routes = convertRoutes({
    transportMap: readTable("transport_maps").entries,
    senderMap: readTable("sender_dependent_default_transport_maps").entries,
    defaultService,
    senderDefaultNexthop: defaultNexthop,
    transports: builder,
    warnings,
  });
  if (routes.catchAll !== null) defaultTransport = routes.catchAll;

  warnUnusedServices(master.services, builder.transports(), warnings);
  for (const name of NOT_CARRIED_PARAMETERS) {
    const value = main.get(name);
    if (value)
      warnings.warn("NOT_CARRIED", `main.cf:${main.lineOf(name)}: ${name} = ${value} is not carried over`);
  }

  config.delivery = { default_transport: defaultTransport };
  const transports = builder.transports();
  const sources = sourcesOf(transports, hostname);
  if (Object.keys(sources).length > 0) config.sources = sources;
  config.transports = Object.fromEntries(transports.map((t) => [t.name, transportYaml(t, hostname)]));
  if (routes.routes.length > 0) config.routes = routes.routes;
  return { config, warnings: warnings.list };
}

/** One source per distinct bind address, named after it ("ip-127-0-0-2"), HELO of its first user. */
function sourcesOf(transports: ImportedTransport[], hostname: string | undefined) {
  const sources: Record<string, { address: string; helo?: string }> = {};
  for (const t of transports) {
    const address = t.settings.bindAddress;
    if (address === null) continue;
    const name = sourceName(address);
    if (Object.hasOwn(sources, name)) continue;
    const helo = t.settings.helo ?? hostname;
    sources[name] = helo === undefined ? { address } : { address, helo };
  }
  return sources;
}

export function sourceName(address: string): string {
  return `ip-${address.toLowerCase().replace(/[.:]/g, "-").replace(/-+/g, "-").replace(/^-|-$/g, "")}`;
}

function transportYaml(t: ImportedTransport, hostname: string | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { nexthop: t.nexthop };
  if (t.settings.bindAddress !== null) out.bind_address = t.settings.bindAddress;
  if (t.settings.helo !== undefined && t.settings.helo !== hostname) out.helo = t.settings.helo;
  out.concurrency = t.settings.concurrency;
  out.rate_delay = t.settings.rateDelay;
  out.max_queue_lifetime = t.settings.maxQueueLifetime;
  out.tls = t.settings.tls;
  return out;
}

/** smtpd inet services x inet_interfaces -> listen addresses; their -o settings are warned about. */
function convertListeners(interfaces: string, services: MasterService[], warnings: WarningSink): string[] {
  const hosts: string[] = [];
  for (const item of splitList(interfaces)) {
    const host = listenHost(item);
    if (host === undefined) {
      warnings.warn("NOT_CARRIED", `inet_interfaces entry "${item}" is not an address; not carried over`);
    } else {
      hosts.push(host);
    }
  }
  const listen: string[] = [];
  for (const service of services) {
    if (service.type !== "inet" || service.command !== "smtpd") continue;
    const where = `master.cf service "${service.name}" (line ${service.line})`;
    const port = inetServicePort(service.name);
    if (port === undefined) {
      warnings.warn("NOT_CARRIED", `${where}: cannot tell its port; not carried over`);
      continue;
    }
    const serviceHosts = port.host === null ? hosts : [listenHost(port.host) ?? port.host];
    for (const host of serviceHosts) listen.push(`${host}:${port.port}`);
    for (const o of service.overrides) {
      if (o.name === "syslog_name") continue;
      warnings.warn(
        "NOT_CARRIED",
        `${where}: -o ${o.name}=${o.value} (SMTP server setting) is not carried over`,
      );
    }
  }
  return [...new Set(listen)];
}

function convertNetworks(value: string | undefined, warnings: WarningSink): string[] | null {
  if (value === undefined) return null;
  const out: string[] = [];
  for (const item of splitList(value)) {
    const cidr = item.replace(/^\[([^\]]+)\]/, "$1");
    const [address = "", prefix] = cidr.split("/");
    if (isIP(address) !== 0 && (prefix === undefined || /^\d{1,3}$/.test(prefix))) {
      out.push(cidr);
    } else {
      warnings.warn("NOT_CARRIED", `mynetworks entry "${item}" is not an address or CIDR; not carried over`);
    }
  }
  return out;
}

function warnUnusedServices(
  services: MasterService[],
  used: ImportedTransport[],
  warnings: WarningSink,
): void {
  const usedNames = new Set(used.map((t) => t.service));
  for (const s of services) {
    if (s.type === "inet" || INTERNAL_COMMANDS.has(s.command) || usedNames.has(s.name)) continue;
    if (STOCK_DELIVERY_SERVICES.has(s.name) && s.overrides.every((o) => o.name === "syslog_name")) continue;
    if (s.command !== "smtp" && s.command !== "lmtp") continue; // pipe etc. matter only when routed to
    warnings.warn(
      "NOT_CARRIED",
      `master.cf service "${s.name}" (line ${s.line}) is not used by default_transport or any map read here; not imported`,
    );
  }
}
