/**
 * The direct path: smtp-source talks straight to smtp-sink, no MTA in between. It is the most
 * the load generator, the sink and loopback can do on this machine, so every MTA is compared
 * against it as well as against Postfix.
 */
import type { SetupFactory } from "./measure.ts";

export const directSetup: SetupFactory = async (sinkPort) => ({
  port: sinkPort,
  pids: () => [],
  peakRssBytes: () => null,
  stop: async () => {},
});
