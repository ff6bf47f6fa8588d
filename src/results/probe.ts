import { buildDsn } from "./dsn.ts";
const body = Buffer.from("Received: from client.example (client.example [192.0.2.1]) by mx.mailfleet.example with ESMTP id 01ABC for <b@example.com>\r\nFrom: a@example.org\r\nSubject: hi\r\n\r\nHello\r\n");
const r = await buildDsn({
  original: { id: "01JD3FABCDEFGHJKMNPQ", sender: "a@example.org", recipients: [
    { address: "b@example.com", dsn: { notify: null, orcpt: "rfc822;B@example.com" }, state: "pending" },
    { address: "c@example.net", dsn: { notify: null, orcpt: null }, state: "pending" }],
    dsn: { ret: null, envid: "ENV123" }, bodyType: "7BIT", smtpUtf8: false, clientAddress: "127.0.0.1", clientHelo: "client", arrivedAt: Date.UTC(2026,10,23,11,0,0), isBounce: false, size: body.length },
  originalBody: body,
  failures: [
    { index: 0, action: "failed", status: "5.1.1", reply: { code: 550, enhanced: "5.1.1", text: "<b@example.com>: Recipient address rejected: User unknown in virtual mailbox table" }, remoteMta: "mx.example.com" },
    { index: 1, action: "delayed", status: "4.4.1", reply: { code: 451, enhanced: "4.4.1", text: "connection refused" }, remoteMta: null }],
  reportingMta: "mx.mailfleet.example", from: "MAILER-DAEMON@mx.mailfleet.example", now: new Date(Date.UTC(2026,10,23,12,0,0)),
  willRetryUntil: new Date(Date.UTC(2026,10,28,11,0,0)), randomToken: () => "0123456789abcdef",
});
console.log(r?.message); process.stdout.write(r!.body.toString());
