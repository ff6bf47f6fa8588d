/**
 * Builds an instance's adaptive backoff controller: loads the rules file the config names (or
 * the shipped rules/backoff.yaml), and writes each step both to the operational log and, as a
 * `backoff` line, to the delivery log (text or JSON, like the delivery log's own lines).
 */
import type { Logger } from "pino";
import type { Config } from "../config/types.ts";
import type { Clock } from "../instance/clock.ts";
import { BackoffController, backoffLogLine } from "./backoff.ts";
import { loadBackoffRulesFile } from "./backoff-rules.ts";

export function createInstanceBackoff(deps: {
  config: Config;
  clock: Clock;
  logger: Logger;
  instance: string;
  writeDeliveryLog: (line: string) => void;
}): BackoffController {
  const loaded = loadBackoffRulesFile(deps.config.reputation?.backoffRules ?? undefined);
  if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
  const format = deps.config.log.format;
  return new BackoffController({
    rules: loaded.rules,
    clock: deps.clock,
    logger: deps.logger,
    record: (event) => deps.writeDeliveryLog(backoffLogLine(event, format, deps.instance, new Date())),
  });
}
