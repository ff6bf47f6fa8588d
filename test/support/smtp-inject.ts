/**
 * Puts many messages into a running instance quickly, over a few parallel SMTP sessions to its
 * listener (spawning `mailfleet send` per message would take minutes for a thousand). Each
 * message is one transaction; any reply other than the expected one throws.
 */
import { openSmtp, type SmtpDialog } from "./smtp-dialog.ts";

export interface InjectedMessage {
  from: string;
  to: string[];
  subject: string;
}

async function expect(smtp: SmtpDialog, line: string, code: number): Promise<void> {
  const reply = await smtp.command(line);
  if (reply.code !== code) throw new Error(`${line} -> ${reply.raw}`);
}

/** Sends every message, `sessions` at a time; resolves when all were accepted (250 after the dot). */
export async function injectMessages(port: number, messages: InjectedMessage[], sessions = 4): Promise<void> {
  let next = 0;
  const worker = async () => {
    const smtp = await openSmtp({ port, timeoutMs: 30_000 });
    try {
      await expect(smtp, "EHLO injector.test", 250);
      for (let i = next++; i < messages.length; i = next++) {
        const m = messages[i]!;
        await expect(smtp, `MAIL FROM:<${m.from}>`, 250);
        for (const to of m.to) await expect(smtp, `RCPT TO:<${to}>`, 250);
        await expect(smtp, "DATA", 354);
        const body = `From: <${m.from}>\r\nTo: <${m.to[0]}>\r\nSubject: ${m.subject}\r\n\r\nBody of ${m.subject}.\r\n.\r\n`;
        const reply = await smtp.sendRaw(body);
        if (reply.code !== 250) throw new Error(`message ${m.subject} -> ${reply.raw}`);
      }
      await smtp.command("QUIT");
    } finally {
      smtp.close();
    }
  };
  await Promise.all(Array.from({ length: Math.min(sessions, messages.length) }, worker));
}
