/**
 * `mailfleet instance SUBCOMMAND`: manage the instances of the fleet. start/stop/list go to the
 * running supervisor; run is what the supervisor starts for each instance; create, enable,
 * disable and destroy edit the config file (instance-edit.ts).
 */
import { parseArgs } from "node:util";
import type { FleetStatus, InstanceActionResult } from "../api-types/fleet.ts";
import { controlRequest } from "./control-client.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { formatFleetTable } from "./fleet-table.ts";
import {
  runInstanceCreate,
  runInstanceDestroy,
  runInstanceDisable,
  runInstanceEnable,
} from "./instance-edit.ts";
import { INSTANCE_RUN_USAGE, runInstanceRun } from "./instance-run.ts";
import { loadFleetOrExit } from "./load-config.ts";

interface Subcommand {
  usage: string;
  summary: string;
  run(args: string[]): Promise<number>;
}

const subcommands: Record<string, Subcommand> = {
  list: {
    usage: "mailfleet instance list [-c FILE] [--json]",
    summary: "every instance with role, state, pid, uptime, listeners and queue size",
    run: runList,
  },
  start: {
    usage: "mailfleet instance start NAME [-c FILE]",
    summary: "start a stopped instance of the running fleet",
    run: (args) => runAction(args, "start"),
  },
  stop: {
    usage: "mailfleet instance stop NAME [-c FILE]",
    summary: "stop one instance gracefully; it stays stopped until started again",
    run: (args) => runAction(args, "stop"),
  },
  create: {
    usage: "mailfleet instance create NAME --role ROLE [--listen ADDR:PORT ...] [--source IP ...] [-c FILE]",
    summary: "add an instance to the config (and start it if the fleet runs)",
    run: runInstanceCreate,
  },
  enable: {
    usage: "mailfleet instance enable NAME [-c FILE]",
    summary: "mark an instance enabled in the config (and start it if the fleet runs)",
    run: runInstanceEnable,
  },
  disable: {
    usage: "mailfleet instance disable NAME [-c FILE]",
    summary: "mark an instance disabled in the config (and stop it if the fleet runs)",
    run: runInstanceDisable,
  },
  destroy: {
    usage: "mailfleet instance destroy NAME [--force] [-c FILE]",
    summary: "remove an instance from the config; refused while its queue holds mail",
    run: runInstanceDestroy,
  },
  run: {
    usage: INSTANCE_RUN_USAGE,
    summary: "run one instance in the foreground (what the supervisor starts)",
    run: runInstanceRun,
  },
};

export const INSTANCE_USAGE = [
  "mailfleet instance SUBCOMMAND ...",
  "",
  ...Object.values(subcommands).map((s) => `  ${s.usage}\n      ${s.summary}`),
].join("\n");

export async function runInstance(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  const subcommand = name === undefined ? undefined : subcommands[name];
  if (!subcommand) {
    const what = name === undefined ? "missing subcommand" : `unknown subcommand "${name}"`;
    throw new CliError(`instance: ${what}\n\nusage: ${INSTANCE_USAGE}`, EXIT.usage);
  }
  return subcommand.run(rest);
}

async function runList(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: "string", short: "c" }, json: { type: "boolean" } },
  });
  const fleet = loadFleetOrExit(values.config);
  const status = await controlRequest<FleetStatus>(fleet, "GET", "/v1/status");
  console.log(values.json ? JSON.stringify(status.instances, null, 2) : formatFleetTable(status.instances));
  return EXIT.ok;
}

async function runAction(args: string[], action: "start" | "stop"): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: "string", short: "c" } },
  });
  const [name, ...extra] = positionals;
  if (name === undefined || extra.length > 0) {
    throw new CliError(`usage: ${subcommands[action]?.usage}`, EXIT.usage);
  }
  const fleet = loadFleetOrExit(values.config);
  const path = `/v1/instances/${encodeURIComponent(name)}/${action}`;
  const result = await controlRequest<InstanceActionResult>(fleet, "POST", path);
  const { instance } = result;
  if (!result.ok) {
    console.error(
      `mailfleet: instance ${name} did not start (${instance.lastExit ?? "not listening"}); state ${instance.state}`,
    );
    return EXIT.tempFail;
  }
  const pid = instance.pid === null ? "" : ` (pid ${instance.pid})`;
  console.error(`mailfleet: instance ${name}: ${instance.state}${pid}`);
  return EXIT.ok;
}
