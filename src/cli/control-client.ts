/**
 * The CLI side of the supervisor's control API: typed requests over <run_dir>/control.sock, with
 * transport and HTTP errors turned into CliError and the exit code operators' scripts expect
 * (EX_UNAVAILABLE when the fleet is not running).
 */
import type { FleetConfig } from "../config/types.ts";
import { controlCall, errorText } from "../supervisor/control-call.ts";
import { controlSocketPath } from "../supervisor/run-dir.ts";
import { CliError, EXIT } from "./exit-codes.ts";

/** Long enough for a reload or instance action that waits for graceful stops and starts. */
const ACTION_TIMEOUT_MS = 180_000;

export async function controlRequest<T>(
  fleet: FleetConfig,
  method: "GET" | "POST",
  path: string,
  timeoutMs = method === "GET" ? 15_000 : ACTION_TIMEOUT_MS,
): Promise<T> {
  const socketPath = controlSocketPath(fleet.runDir);
  const result = await controlCall(socketPath, method, path, timeoutMs);
  if (result.kind === "absent") {
    throw new CliError(`mailfleet is not running (no control socket at ${socketPath})`, EXIT.unavailable);
  }
  if (result.kind === "error") {
    throw new CliError(
      `the supervisor at ${socketPath} is not answering: ${result.message}`,
      EXIT.unavailable,
    );
  }
  if (result.status >= 200 && result.status < 300) return result.body as T;
  const exitCode = result.status === 404 ? EXIT.usage : result.status === 409 ? EXIT.tempFail : EXIT.software;
  throw new CliError(errorText(result.body, result.status), exitCode);
}

/** True while something answers on the control socket (used to wait for a stop to finish). */
export async function supervisorAnswers(fleet: FleetConfig): Promise<boolean> {
  const result = await controlCall(controlSocketPath(fleet.runDir), "GET", "/v1/status", 5000);
  return result.kind !== "absent";
}
