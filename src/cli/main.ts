/**
 * `mailfleet` command line: dispatches to one module per command through a fixed table.
 */
import { runCheck } from "./check.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { runImport } from "./import.ts";
import { runLog } from "./log.ts";
import { runMailq } from "./mailq.ts";
import { ROUTE_USAGE, runRoute } from "./route.ts";
import { runSend } from "./send.ts";
import { runStart } from "./start.ts";

export interface Command {
  summary: string;
  usage: string;
  run(args: string[]): Promise<number>;
}

const commands: Record<string, Command> = {
  start: {
    summary: "run the instance in the foreground",
    usage: "mailfleet start [-c FILE]",
    run: runStart,
  },
  mailq: {
    summary: "list the queue of the running instance",
    usage: "mailfleet mailq [-c FILE] [--json]",
    run: runMailq,
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
