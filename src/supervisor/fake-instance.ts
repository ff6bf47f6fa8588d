/**
 * Stand-in instance process for the supervisor's unit tests (not production code): speaks the
 * IPC protocol of ipc.ts without opening a spool or a port. argv[2] is its behaviour:
 *   ok          ready at once, answers stats (queued = 7), exits 0 on stop or disconnect
 *   crash:MS    like ok, but exits 1 after MS milliseconds
 *   fail        exits 75 before becoming ready (as on a locked spool)
 *   stubborn    ready, but ignores stop and SIGTERM (only SIGKILL ends it)
 * Every message it receives is printed to stdout as one JSON line.
 */
import type { FromInstance } from "./ipc.ts";
import { isToInstance } from "./ipc.ts";

const mode = process.argv[2] ?? "ok";
const send = (message: FromInstance) => process.send?.(message);

if (mode === "fail") {
  process.exitCode = 75;
  process.disconnect?.();
} else {
  const stop = () => {
    if (mode === "stubborn") return;
    process.disconnect?.();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("disconnect", stop);
  process.on("message", (message: unknown) => {
    if (!isToInstance(message)) return;
    process.stdout.write(`${JSON.stringify(message)}\n`);
    if (message.type === "stop") stop();
    else if (message.type === "stats") send({ type: "stats", id: message.id, queued: 7 });
  });
  send({ type: "ready", listeners: [`127.0.0.1:${process.pid}`], admin: null });
  if (mode.startsWith("crash:")) setTimeout(() => process.exit(1), Number(mode.slice(6)));
}
