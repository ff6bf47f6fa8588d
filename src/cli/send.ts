/**
 * `mailfleet send`: injects one message through an instance's own SMTP listener (the fleet's
 * submission instance unless --instance names another), like sendmail. Reading the message from FILE or standard input; the reply decides the exit code.
 */
import { readFile } from "node:fs/promises";
import { text } from "node:stream/consumers";
import { parseArgs } from "node:util";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { CliError, EXIT } from "./exit-codes.ts";
import { INSTANCE_OPTIONS } from "./fleet-options.ts";
import { loadFleetOrExit, loadInstanceOrExit } from "./load-config.ts";

export async function runSend(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...INSTANCE_OPTIONS,
      from: { type: "string", short: "f" },
      to: { type: "string", short: "t", multiple: true },
    },
  });
  if (values.from === undefined || !values.to || values.to.length === 0) {
    throw new CliError("send needs --from ADDR and at least one --to ADDR", EXIT.usage);
  }
  if (positionals.length > 1) throw new CliError("send takes at most one FILE", EXIT.usage);
  // Mail enters a fleet at its submission instance, like a local sendmail; --instance overrides.
  const submission = Object.values(loadFleetOrExit(values.config).instances).find(
    (c) => c.instance.role === "submission" && c.instance.enabled,
  );
  const config = loadInstanceOrExit(values.config, values.instance ?? submission?.instance.name);
  const listener = config.listen[0];
  if (!listener) throw new CliError("the config has no listener to inject into", EXIT.config);
  const file = positionals[0];
  let message: string;
  try {
    message = file === undefined || file === "-" ? await text(process.stdin) : await readFile(file, "utf8");
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, EXIT.noInput);
  }
  // Messages from files usually have LF line ends; SMTP needs CRLF.
  const body = message.replace(/\r?\n/g, "\r\n");
  const host = listener.host === "0.0.0.0" ? "127.0.0.1" : listener.host === "::" ? "::1" : listener.host;
  const connection = new SMTPConnection({
    host,
    port: listener.port,
    ignoreTLS: true,
    name: config.hostname,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      connection.once("error", reject);
      connection.connect(() => resolve());
    });
    const info = await new Promise<{ response: string }>((resolve, reject) => {
      connection.send({ from: values.from!, to: values.to! }, body, (err, sent) =>
        err ? reject(err) : resolve(sent),
      );
    });
    console.log(info.response);
    return EXIT.ok;
  } catch (err) {
    const code = (err as { responseCode?: number }).responseCode;
    const response = (err as { response?: string }).response ?? (err as Error).message;
    if (code === undefined)
      throw new CliError(`cannot reach ${host}:${listener.port}: ${response}`, EXIT.unavailable);
    console.error(response);
    return code >= 500 ? EXIT.dataError : EXIT.tempFail;
  } finally {
    connection.close();
  }
}
