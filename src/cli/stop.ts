/**
 * `mailfleet stop`: asks the supervisor to stop the fleet gracefully (in-flight sessions finish,
 * spools are closed cleanly) and waits until it has, so a `start` right after finds it gone.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { controlRequest, supervisorAnswers } from "./control-client.ts";
import { EXIT } from "./exit-codes.ts";
import { loadFleetOrExit } from "./load-config.ts";

/** Past the supervisor's own deadline (30 s graceful, then SIGKILL) with room to spare. */
const WAIT_MS = 90_000;

export async function runStop(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: "string", short: "c" } } });
  const fleet = loadFleetOrExit(values.config);
  await controlRequest<{ ok: true }>(fleet, "POST", "/v1/stop");
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    // The supervisor removes its socket as the very last step.
    if (!(await supervisorAnswers(fleet))) {
      console.error("mailfleet: stopped");
      return EXIT.ok;
    }
    await sleep(200);
  }
  console.error(`mailfleet: stop requested, but the fleet is still stopping after ${WAIT_MS / 1000} s`);
  return EXIT.tempFail;
}
