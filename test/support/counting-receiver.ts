/**
 * A receiving MTA for e2e tests that measures rather than stores: for each message it records
 * the client address the connection came from (the source IP mailfleet bound), the HELO, the
 * envelope, and when MAIL FROM and the end of DATA arrived; across sessions it tracks how many
 * were open at once (the peak is what a concurrency limit must bound). Built on smtp-server,
 * so it can also answer RCPT with a chosen temporary failure.
 */
import type { AddressInfo } from "node:net";
import { SMTPServer, type SMTPServerSession } from "smtp-server";

export interface CountedMessage {
  clientAddress: string;
  helo: string;
  sender: string;
  recipients: string[];
  subject: string | null;
  /** Wall-clock ms (sub-ms precision) when MAIL FROM arrived. */
  mailAt: number;
  /** Wall-clock ms (sub-ms precision) when the final dot arrived. */
  dataEndAt: number;
}

export interface CountingReceiver {
  host: string;
  port: number;
  messages: CountedMessage[];
  /** Sessions open right now, and the most ever open at once. */
  readonly openSessions: number;
  readonly maxOpenSessions: number;
  close(): Promise<void>;
}

export interface CountingReceiverOptions {
  host?: string;
  /** Default: an ephemeral port. */
  port?: number;
  /** Holds each final-dot reply this long (makes sessions overlap in a burst). */
  dataDelayMs?: number;
  /** A temporary failure for some recipients, e.g. `(rcpt) => rcpt.endsWith("@slow.test") ? "busy" : null`. */
  deferRecipient?: (address: string) => string | null;
}

const nowMs = () => performance.timeOrigin + performance.now();

export async function startCountingReceiver(
  options: CountingReceiverOptions = {},
): Promise<CountingReceiver> {
  const host = options.host ?? "127.0.0.1";
  const messages: CountedMessage[] = [];
  const mailAt = new Map<string, number>();
  let open = 0;
  let maxOpen = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    logger: false,
    maxClients: 1000,
    onConnect(_session, callback) {
      open++;
      maxOpen = Math.max(maxOpen, open);
      callback();
    },
    onClose() {
      open--;
    },
    onMailFrom(_address, session, callback) {
      mailAt.set(session.id, nowMs());
      callback();
    },
    onRcptTo(address, _session, callback) {
      const deferred = options.deferRecipient?.(address.address) ?? null;
      if (deferred === null) return callback();
      callback(Object.assign(new Error(deferred), { responseCode: 451 }));
    },
    onData(stream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const text = Buffer.concat(chunks).toString("latin1");
        const subject = /^Subject: (.*)$/im.exec(text.split(/\r?\n\r?\n/)[0] ?? "")?.[1] ?? null;
        messages.push({
          clientAddress: session.remoteAddress.replace(/^::ffff:/, ""),
          helo: session.hostNameAppearsAs,
          sender: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          recipients: session.envelope.rcptTo.map((r) => r.address),
          subject,
          mailAt: mailAt.get(session.id) ?? 0,
          dataEndAt: nowMs(),
        });
        if (options.dataDelayMs) setTimeout(() => callback(), options.dataDelayMs);
        else callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    host,
    port,
    messages,
    get openSessions() {
      return open;
    },
    get maxOpenSessions() {
      return maxOpen;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
