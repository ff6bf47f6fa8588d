/**
 * The settings a running instance cannot change in place, in one table for both readers: an
 * instance reloading its config keeps the old values and warns, and the supervisor restarts the
 * instance's process instead of asking it to reload. Each is read once at start: sockets
 * (listeners, admin API), spool, DNS client, log destination, what the listener was built with
 * (limits, relay trust, policy, tenants, TLS and AUTH on or off, our hostname), the role and
 * relay target, the delivery threads and the VERP secret.
 */
import type { Config } from "./types.ts";

/** Sections kept whole: any difference inside them needs a restart. */
const KEPT_SECTIONS = [
  "hostname",
  "listen",
  "spoolDir",
  "limits",
  "relay",
  "dns",
  "admin",
  "log",
  "policy",
  "tenants",
] as const satisfies readonly (keyof Config)[];

/** Single settings inside sections whose other settings apply live. */
const KEPT_SETTINGS: readonly { name: string; differs(current: Config, next: Config): boolean }[] = [
  { name: "role", differs: (a, b) => a.instance.role !== b.instance.role },
  { name: "relayTo", differs: (a, b) => a.instance.relayTo !== b.instance.relayTo },
  {
    name: "delivery.allowPrivateDestinations",
    differs: (a, b) => a.delivery.allowPrivateDestinations !== b.delivery.allowPrivateDestinations,
  },
  { name: "delivery.threads", differs: (a, b) => a.delivery.threads !== b.delivery.threads },
  // Certificates and the users file are re-read live; switching TLS or AUTH on or off is not.
  { name: "tls", differs: (a, b) => (a.tls === null) !== (b.tls === null) },
  { name: "auth", differs: (a, b) => (a.auth === null) !== (b.auth === null) },
  { name: "feedback.verp", differs: (a, b) => !sameJson(a.feedback?.verp, b.feedback?.verp) },
];

/** Names of the restart-only settings that differ between two configs of one instance. */
export function restartOnlyChanges(current: Config, next: Config): string[] {
  const changed: string[] = KEPT_SECTIONS.filter((key) => !sameJson(current[key], next[key]));
  for (const setting of KEPT_SETTINGS) if (setting.differs(current, next)) changed.push(setting.name);
  return changed;
}

/**
 * The config a running instance goes on with after a reload: the new one, with the sections it
 * cannot change taken from the one it started with. (The single settings are read only at start,
 * so their new values are simply not looked at.)
 */
export function keepRestartOnly(current: Config, next: Config): Config {
  const kept: Partial<Record<keyof Config, unknown>> = {};
  for (const key of KEPT_SECTIONS) kept[key] = current[key];
  // The instance section too: its role and relay target are restart-only, and its name and
  // enabled flag are the supervisor's business.
  return { ...next, ...kept, instance: current.instance } as Config;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
