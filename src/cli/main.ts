/**
 * `mailfleet` command line: dispatches to one module per command through a fixed table.
 */
import { runCheck } from "./check.ts";
import { DKIM_USAGE, runDkim } from "./dkim.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { FEEDBACK_USAGE, runFeedback } from "./feedback.ts";
import { runImport } from "./import.ts";
import { INSTANCE_USAGE, runInstance } from "./instance.ts";
import { runLog } from "./log.ts";
import { runMailq } from "./mailq.ts";
import { QUEUE_USAGE, runQueue } from "./queue.ts";
import { runReload } from "./reload.ts";
import { REPUTATION_USAGE, runReputation } from "./reputation.ts";
import { ROUTE_USAGE, runRoute } from "./route.ts";
import { runSend } from "./send.ts";
import { runStart } from "./start.ts";
import { runStatus } from "./status.ts";
import { runStop } from "./stop.ts";
import { runSuppression, SUPPRESSION_USAGE } from "./suppression.ts";
import { runTenant, TENANT_USAGE } from "./tenant.ts";
import { runTls, TLS_USAGE } from "./tls.ts";
import { runUser, USER_USAGE } from "./user.ts";
import { runWarmup, WARMUP_USAGE } from "./warmup.ts";

export interface Command {
  summary: string;
  usage: string;
  run(args: string[]): Promise<number>;
}

const commands: Record<string, Command> = {
  start: {
    summary: "run the fleet in the foreground: one supervised process per enabled instance",
    usage: "mailfleet start [-c FILE]",
    run: runStart,
  },
  stop: {
    summary: "stop the running fleet gracefully (in-flight sessions finish)",
    usage: "mailfleet stop [-c FILE]",
    run: runStop,
  },
  reload: {
    summary: "re-read the config: start, stop, restart or reload instances as it changed",
    usage: "mailfleet reload [-c FILE]",
    run: runReload,
  },
  status: {
    summary: "each instance of the running fleet: state, pid, uptime, listeners, queue size",
    usage: "mailfleet status [-c FILE] [--json]",
    run: runStatus,
  },
  instance: {
    summary: "list, start, stop, run, create, enable, disable or destroy instances",
    usage: INSTANCE_USAGE,
    run: runInstance,
  },
  mailq: {
    summary: "list the queue of every running instance, grouped by instance",
    usage: "mailfleet mailq [-c FILE] [--instance NAME] [-n N] [--json]",
    run: runMailq,
  },
  queue: {
    summary: "hold, release, delete, requeue or flush queued mail; summary: pending mail by domain and age",
    usage: QUEUE_USAGE,
    run: runQueue,
  },
  send: {
    summary: "inject a message like sendmail (reads FILE or standard input)",
    usage: "mailfleet send --from ADDR --to ADDR [--to ADDR ...] [-c FILE] [FILE|-]",
    run: runSend,
  },
  route: {
    summary: "explain which rule, transport, source IPs and MX site mail from A to B takes",
    usage: ROUTE_USAGE,
    run: runRoute,
  },
  import: {
    summary: "convert a Postfix configuration directory into mailfleet.yaml",
    usage: "mailfleet import postfix DIR [-o FILE]",
    run: runImport,
  },
  log: {
    summary: "print the fleet's shared delivery log (-f follows, --instance filters)",
    usage: "mailfleet log [-f] [-n LINES] [--instance NAME] [-c FILE]",
    run: runLog,
  },
  check: {
    summary: "validate the configuration and print where it came from",
    usage: "mailfleet check [-c FILE]",
    run: runCheck,
  },
  user: {
    summary: "add, remove or list the submission logins (AUTH) of an instance's users file",
    usage: USER_USAGE,
    run: runUser,
  },
  suppression: {
    summary: "add, remove or list suppressed recipient addresses, per tenant",
    usage: SUPPRESSION_USAGE,
    run: runSuppression,
  },
  tenant: {
    summary: "list tenants isolated for their reputation, or release one (back on the shared pools)",
    usage: TENANT_USAGE,
    run: runTenant,
  },
  reputation: {
    summary: "delivered, deferred, bounced and complaints per source IP, tenant and provider (1h/24h/7d)",
    usage: REPUTATION_USAGE,
    run: runReputation,
  },
  warmup: {
    summary: "IP warm-up per source and provider: day, today's cap, used, remaining, warm",
    usage: WARMUP_USAGE,
    run: runWarmup,
  },
  feedback: {
    summary: "import DSN and ARF (feedback-loop) report files into a running instance",
    usage: FEEDBACK_USAGE,
    run: runFeedback,
  },
  tls: {
    summary: "write a self-signed development certificate and key for the listeners",
    usage: TLS_USAGE,
    run: runTls,
  },
  dkim: {
    summary: "write a DKIM signing key and print its DNS TXT record and config lines",
    usage: DKIM_USAGE,
    run: runDkim,
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return [
    "usage: mailfleet COMMAND [options]",
    "",
    "commands:",
    ...lines,
    "",
    "Run 'mailfleet COMMAND --help' for a command's options.",
    "Exit codes: 0 ok, 64 usage, 65 refused, 66 no input, 69 unavailable, 75 try again, 78 bad config.",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = commands[name];
  if (!command) {
    console.error(`mailfleet: unknown command "${name}"\n\n${usage()}`);
    return EXIT.usage;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(`usage: ${command.usage}\n\n${command.summary}`);
    return EXIT.ok;
  }
  return command.run(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof CliError) {
    console.error(`mailfleet: ${err.message}`);
    process.exitCode = err.exitCode;
  } else if (err instanceof Error && "code" in err && err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    console.error(`mailfleet: ${err.message}`);
    process.exitCode = EXIT.usage;
  } else {
    console.error("mailfleet: internal error:", err);
    process.exitCode = EXIT.software;
  }
}
