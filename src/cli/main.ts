/**
 * `mailfleet` command line: dispatches to one module per command through a fixed table.
 */
import { CliError, EXIT } from "./exit-codes.ts";

export interface Command {
  summary: string;
  /** Loads the command's module on use: one command never loads the code of all the others. */
  load(): Promise<{ usage: string; run(args: string[]): Promise<number> }>;
}

const commands: Record<string, Command> = {
  start: {
    summary: "run the fleet in the foreground: one supervised process per enabled instance",
    load: async () => ({ usage: "mailfleet start [-c FILE]", run: (await import("./start.ts")).runStart }),
  },
  stop: {
    summary: "stop the running fleet gracefully (in-flight sessions finish)",
    load: async () => ({ usage: "mailfleet stop [-c FILE]", run: (await import("./stop.ts")).runStop }),
  },
  reload: {
    summary: "re-read the config: start, stop, restart or reload instances as it changed",
    load: async () => ({ usage: "mailfleet reload [-c FILE]", run: (await import("./reload.ts")).runReload }),
  },
  status: {
    summary: "each instance of the running fleet: state, pid, uptime, listeners, queue size",
    load: async () => ({
      usage: "mailfleet status [-c FILE] [--json]",
      run: (await import("./status.ts")).runStatus,
    }),
  },
  instance: {
    summary: "list, start, stop, run, create, enable, disable or destroy instances",
    load: async () => {
      const m = await import("./instance.ts");
      return { usage: m.INSTANCE_USAGE, run: m.runInstance };
    },
  },
  mailq: {
    summary: "list the queue of every running instance, grouped by instance",
    load: async () => ({
      usage: "mailfleet mailq [-c FILE] [--instance NAME] [-n N] [--json]",
      run: (await import("./mailq.ts")).runMailq,
    }),
  },
  queue: {
    summary: "hold, release, delete, requeue or flush queued mail; summary: pending mail by domain and age",
    load: async () => {
      const m = await import("./queue.ts");
      return { usage: m.QUEUE_USAGE, run: m.runQueue };
    },
  },
  send: {
    summary: "inject a message like sendmail (reads FILE or standard input)",
    load: async () => ({
      usage: "mailfleet send --from ADDR --to ADDR [--to ADDR ...] [-c FILE] [FILE|-]",
      run: (await import("./send.ts")).runSend,
    }),
  },
  route: {
    summary: "explain which rule, transport, source IPs and MX site mail from A to B takes",
    load: async () => {
      const m = await import("./route.ts");
      return { usage: m.ROUTE_USAGE, run: m.runRoute };
    },
  },
  import: {
    summary: "convert a Postfix configuration directory into mailfleet.yaml",
    load: async () => ({
      usage: "mailfleet import postfix DIR [-o FILE]",
      run: (await import("./import.ts")).runImport,
    }),
  },
  log: {
    summary: "print the fleet's shared delivery log (-f follows, --instance filters)",
    load: async () => ({
      usage: "mailfleet log [-f] [-n LINES] [--instance NAME] [-c FILE]",
      run: (await import("./log.ts")).runLog,
    }),
  },
  check: {
    summary: "validate the configuration and print where it came from",
    load: async () => ({ usage: "mailfleet check [-c FILE]", run: (await import("./check.ts")).runCheck }),
  },
  user: {
    summary: "add, remove or list the submission logins (AUTH) of an instance's users file",
    load: async () => {
      const m = await import("./user.ts");
      return { usage: m.USER_USAGE, run: m.runUser };
    },
  },
  suppression: {
    summary: "add, remove or list suppressed recipient addresses, per tenant",
    load: async () => {
      const m = await import("./suppression.ts");
      return { usage: m.SUPPRESSION_USAGE, run: m.runSuppression };
    },
  },
  tenant: {
    summary: "list tenants isolated for their reputation, or release one (back on the shared pools)",
    load: async () => {
      const m = await import("./tenant.ts");
      return { usage: m.TENANT_USAGE, run: m.runTenant };
    },
  },
  reputation: {
    summary: "delivered, deferred, bounced and complaints per source IP, tenant and provider (1h/24h/7d)",
    load: async () => {
      const m = await import("./reputation.ts");
      return { usage: m.REPUTATION_USAGE, run: m.runReputation };
    },
  },
  warmup: {
    summary: "IP warm-up per source and provider: day, today's cap, used, remaining, warm",
    load: async () => {
      const m = await import("./warmup.ts");
      return { usage: m.WARMUP_USAGE, run: m.runWarmup };
    },
  },
  feedback: {
    summary: "import DSN and ARF (feedback-loop) report files into a running instance",
    load: async () => {
      const m = await import("./feedback.ts");
      return { usage: m.FEEDBACK_USAGE, run: m.runFeedback };
    },
  },
  tls: {
    summary: "write a self-signed development certificate and key for the listeners",
    load: async () => {
      const m = await import("./tls.ts");
      return { usage: m.TLS_USAGE, run: m.runTls };
    },
  },
  dkim: {
    summary: "write a DKIM signing key and print its DNS TXT record and config lines",
    load: async () => {
      const m = await import("./dkim.ts");
      return { usage: m.DKIM_USAGE, run: m.runDkim };
    },
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
  const { usage: commandUsage, run } = await command.load();
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(`usage: ${commandUsage}\n\n${command.summary}`);
    return EXIT.ok;
  }
  return run(rest);
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
