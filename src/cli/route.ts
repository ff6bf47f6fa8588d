/**
 * `mailfleet route explain --from A --to B`: why mail from A to B goes where it goes. Gathers the
 * facts (MX names and the destination site through the configured DNS resolver, with the same
 * private-address guard as delivery; source health from the running instance's admin API when
 * one is up) and hands them to the pure explainer in src/routing/explain.ts.
 */
import { parseArgs } from "node:util";
import pino from "pino";
import type { SourcesListing } from "../api-types/sources.ts";
import type { Config } from "../config/types.ts";
import { createDnsResolver } from "../delivery/dns-resolver.ts";
import { createDestinationResolver } from "../delivery/mx-resolver.ts";
import type { BackoffListing } from "../reputation/backoff.ts";
import type { WarmupReport } from "../reputation/warmup.ts";
import { type ExplainFacts, explainRoute, formatExplanation } from "../routing/explain.ts";
import { recipientDomain, routeRecipient } from "../routing/router.ts";
import { adminCall } from "./admin-client.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { loadInstanceOrExit } from "./load-config.ts";

export const ROUTE_USAGE =
  "mailfleet route explain --from ADDR --to ADDR [--tenant T] [--instance NAME] [-c FILE] [--json]";

export async function runRoute(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      from: { type: "string" },
      to: { type: "string" },
      tenant: { type: "string" },
      json: { type: "boolean", default: false },
      instance: { type: "string" },
    },
  });
  if (positionals[0] !== "explain" || positionals.length !== 1) {
    throw new CliError(`expected "explain"\nusage: ${ROUTE_USAGE}`, EXIT.usage);
  }
  if (values.from === undefined || values.to === undefined) {
    throw new CliError(
      `--from and --to are required ("--from '<>'" is the null sender)\nusage: ${ROUTE_USAGE}`,
      EXIT.usage,
    );
  }
  // The delivering instance by default: it is the one whose routes decide.
  const config = loadInstanceOrExit(values.config, values.instance);
  const facts = await gatherFacts(config, values.from, values.to, values.tenant ?? null);
  const explanation = explainRoute(config, facts);
  console.log(values.json ? JSON.stringify(explanation, null, 2) : formatExplanation(explanation));
  return explanation.error === null ? EXIT.ok : EXIT.dataError;
}

/** DNS and health, the way the instance itself would see them. Failures become facts. */
export async function gatherFacts(
  config: Config,
  sender: string,
  recipient: string,
  tenant: string | null = null,
): Promise<ExplainFacts> {
  const resolver = createDestinationResolver({
    dns: createDnsResolver(config.dns),
    allowPrivateDestinations: config.delivery.allowPrivateDestinations,
    logger: pino({ level: "silent" }),
    cacheMaxMs: 0,
  });
  const domain = recipientDomain(recipient);
  const healthPromise = sourceHealth(config);
  // Adaptive backoff states (src/reputation/backoff.ts); none when the instance does not answer.
  const backoffPromise = adminCall<BackoffListing>(config, "GET", "/v1/backoff").then((a) =>
    a.ok ? a.value.entries : null,
  );
  // IP warm-up rows (src/reputation/warmup.ts): today's use; from the config alone when none.
  const warmupPromise = adminCall<WarmupReport>(config, "GET", "/v1/warmup").then((a) =>
    a.ok ? a.value.rows : null,
  );
  let mx: ExplainFacts["mx"] = { ok: false, reason: "the recipient has no domain" };
  let site: ExplainFacts["site"] = null;
  if (domain !== null) {
    const names = resolver.mxHostNames ? await resolver.mxHostNames(domain) : null;
    mx =
      names === null
        ? { ok: false, reason: `DNS lookup of ${domain} MX failed` }
        : { ok: true, hosts: names };
    const routed = routeRecipient(config, { sender, recipient, mxHosts: mx.ok ? mx.hosts : null, tenant });
    if (routed.ok) site = await resolver.resolve(domain, routed.route.transport);
  }
  const backoff = await backoffPromise;
  const warmup = await warmupPromise;
  return {
    sender,
    recipient,
    tenant,
    mx,
    site,
    health: await healthPromise,
    ...(backoff ? { backoff } : {}),
    ...(warmup ? { warmup } : {}),
  };
}

async function sourceHealth(config: Config): Promise<ExplainFacts["health"]> {
  const answer = await adminCall<SourcesListing>(config, "GET", "/v1/sources");
  if (answer.ok) return { known: true, sources: answer.value.sources };
  return { known: false, reason: answer.running ? answer.reason : "instance not running" };
}
