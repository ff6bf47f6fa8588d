/**
 * The 8BITMIME downgrade on real message shapes: plain 8-bit text, multiparts whose other bytes
 * must survive untouched, attached messages, digests, message/global, and the cases that
 * cannot be converted (5.6.3 material).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type DowngradeResult, downgradeTo7bit, hasEightBit, headerSection } from "./downgrade-8bit.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");
const utf8 = (text: string) => Buffer.from(text, "utf8");

function converted(result: DowngradeResult): string {
  assert.equal(result.kind, "converted", JSON.stringify(result));
  assert.ok(result.kind === "converted");
  assert.equal(hasEightBit(result.body), false, "the result is 7-bit");
  return result.body.toString("latin1");
}

/** RFC 2045 6.7 decoding, enough for checking round trips. */
function decodeQp(text: string): Buffer {
  const joined = text.replace(/=\r\n/g, "");
  const out: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const hex = /^=([0-9A-F]{2})/.exec(joined.slice(i, i + 3));
    if (hex) {
      out.push(Number.parseInt(hex[1]!, 16));
      i += 2;
    } else out.push(joined.charCodeAt(i));
  }
  return Buffer.from(out);
}

function bodyOf(message: string): string {
  return message.slice(message.indexOf("\r\n\r\n") + 4);
}

describe("8BITMIME downgrade", () => {
  it("leaves a 7-bit message alone", async () => {
    const message = bytes("From: a@origin.test\r\nContent-Transfer-Encoding: 8bit\r\n\r\nplain\r\n");
    assert.deepEqual(await downgradeTo7bit(message), { kind: "unchanged" });
  });

  it("turns a plain 8-bit message into a MIME quoted-printable one that decodes to the same bytes", async () => {
    const text = `Gr\u00fc\u00dfe aus K\u00f6ln \r\n.leading dot\r\n${"\u00e9".repeat(60)}\r\nend\t\r\n`;
    const message = Buffer.concat([bytes("From: a@origin.test\r\nSubject: hi\r\n\r\n"), utf8(text)]);
    const out = converted(await downgradeTo7bit(message));
    assert.match(out, /^From: a@origin\.test\r\nSubject: hi\r\nMIME-Version: 1\.0\r\n/);
    assert.match(out, /\r\nContent-Type: text\/plain; charset=unknown-8bit\r\n/);
    assert.match(out, /\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n/);
    const body = bodyOf(out);
    assert.ok(
      body.split("\r\n").every((line) => line.length <= 76),
      "QP lines are at most 76 long",
    );
    assert.match(body, /K=C3=B6ln=20\r\n/, "trailing white space is encoded");
    assert.match(body, /end=09\r\n$/);
    assert.deepEqual(decodeQp(body), utf8(text));
  });

  it("re-encodes only the 8-bit parts of a multipart, every other byte as it was", async () => {
    const plainPart = "Content-Type: text/plain; charset=us-ascii\r\n\r\nascii only\r\n";
    const eightPart = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
    const b64Part =
      "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n";
    const message = Buffer.concat([
      bytes("From: a@origin.test\r\nMIME-Version: 1.0\r\n"),
      bytes('Content-Type: multipart/mixed;\r\n\tboundary="=_b1"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'),
      bytes(`This is a multi-part message.\r\n--=_b1\r\n${plainPart}--=_b1\r\n${eightPart}`),
      utf8("Gr\u00fc\u00dfe\r\n"),
      bytes(`--=_b1\r\n${b64Part}--=_b1--\r\nepilogue\r\n`),
    ]);
    const out = converted(await downgradeTo7bit(message));
    const expected = [
      "From: a@origin.test\r\nMIME-Version: 1.0\r\n",
      'Content-Type: multipart/mixed;\r\n\tboundary="=_b1"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n',
      `This is a multi-part message.\r\n--=_b1\r\n${plainPart}--=_b1\r\n`,
      "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
      "Gr=C3=BC=C3=9Fe\r\n",
      `--=_b1\r\n${b64Part}--=_b1--\r\nepilogue\r\n`,
    ].join("");
    assert.equal(out, expected);
  });

  it("downgrades an attached message/rfc822 inside, and relabels it 7bit", async () => {
    const inner = Buffer.concat([
      bytes("Subject: inner\r\nMIME-Version: 1.0\r\n\r\n"),
      utf8("\u00e7a va\r\n"),
    ]);
    const message = Buffer.concat([
      bytes('Content-Type: multipart/mixed; boundary="b"\r\nMIME-Version: 1.0\r\n\r\n--b\r\n'),
      bytes("Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n"),
      bytes("Content-Transfer-Encoding: 8bit\r\n\r\n"),
      inner,
      bytes("--b--\r\n"),
    ]);
    const out = converted(await downgradeTo7bit(message));
    assert.match(out, /Content-Type: message\/rfc822\r\nContent-Disposition: attachment\r\n/);
    assert.match(out, /Content-Transfer-Encoding: 7bit\r\n\r\nSubject: inner\r\nMIME-Version: 1\.0\r\n/);
    assert.match(out, /Content-Transfer-Encoding: quoted-printable\r\n\r\n=C3=A7a va\r\n--b--\r\n$/);
  });

  it("treats a digest part without Content-Type as message/rfc822 (RFC 2046 5.1.5)", async () => {
    const message = Buffer.concat([
      bytes('MIME-Version: 1.0\r\nContent-Type: multipart/digest; boundary="d"\r\n\r\n--d\r\n\r\n'),
      bytes("Subject: first\r\n\r\n"),
      utf8("\u00fcber\r\n"),
      bytes("--d--\r\n"),
    ]);
    const out = converted(await downgradeTo7bit(message));
    assert.match(out, /--d\r\n\r\nSubject: first\r\nMIME-Version: 1\.0\r\n/);
    assert.doesNotMatch(out, /--d\r\nContent-Transfer-Encoding/, "the digest part itself is not re-encoded");
  });

  it("encodes message/global (RFC 6532 3.5) rather than refusing it", async () => {
    const message = Buffer.concat([
      bytes(
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n',
      ),
      bytes("--r\r\nContent-Type: message/global\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"),
      utf8("Subject: \u00e9t\u00e9\r\n\r\nbody\r\n"),
      bytes("--r--\r\n"),
    ]);
    const out = converted(await downgradeTo7bit(message));
    assert.match(out, /Content-Type: message\/global\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n/);
    assert.match(out, /Subject: =C3=A9t=C3=A9\r\n/);
  });

  const impossible: [string, Buffer, RegExp][] = [
    [
      "8-bit bytes in the message header",
      utf8("Subject: \u00e9t\u00e9\r\n\r\nbody\r\n"),
      /header of the message/,
    ],
    [
      "8-bit bytes in a part's header",
      Buffer.concat([
        bytes('MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'),
        utf8('Content-Type: text/plain; name="\u00e9.txt"\r\n\r\nx\r\n--b--\r\n'),
      ]),
      /header of MIME part 1/,
    ],
    [
      "8-bit bytes under base64",
      Buffer.concat([
        bytes("MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
        utf8("\u00e9\r\n"),
      ]),
      /under Content-Transfer-Encoding base64/,
    ],
    [
      "a message/partial with 8-bit content",
      Buffer.concat([
        bytes("MIME-Version: 1.0\r\nContent-Type: message/partial; id=x; number=1\r\n\r\n"),
        utf8("\u00e9\r\n"),
      ]),
      /message\/partial with 8-bit content/,
    ],
    [
      "8-bit bytes in a multipart preamble",
      Buffer.concat([
        bytes('MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'),
        utf8("pr\u00e9ambule\r\n--b\r\n\r\nx\r\n--b--\r\n"),
      ]),
      /outside its MIME parts/,
    ],
  ];
  for (const [what, message, reason] of impossible) {
    it(`reports ${what} as impossible to convert`, async () => {
      const result = await downgradeTo7bit(message);
      assert.equal(result.kind, "impossible");
      assert.ok(result.kind === "impossible");
      assert.match(result.reason, reason);
    });
  }

  it("finds the header section", () => {
    assert.equal(headerSection(bytes("A: 1\r\nB: 2\r\n\r\nbody")).toString(), "A: 1\r\nB: 2\r\n\r\n");
    assert.equal(headerSection(bytes("\r\nbody only")).length, 0);
    assert.equal(headerSection(bytes("A: 1\r\n")).toString(), "A: 1\r\n");
  });
});
