import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LineEndingFixer, normalizeLineEndings } from "./normalize.ts";

const b = (s: string) => Buffer.from(s, "latin1");

/** Feeds `input` to the fixer cut at the given offsets. */
function fixInPieces(input: Buffer, cuts: number[]): Buffer {
  const fixer = new LineEndingFixer();
  const parts: Buffer[] = [];
  let start = 0;
  for (const cut of [...cuts, input.length]) {
    parts.push(fixer.write(input.subarray(start, cut)));
    start = cut;
  }
  parts.push(fixer.end());
  return Buffer.concat(parts);
}

const cases: [name: string, input: string, expected: string][] = [
  ["CRLF untouched", "a\r\nb\r\n", "a\r\nb\r\n"],
  ["bare LF", "a\nb\n", "a\r\nb\r\n"],
  ["bare CR", "a\rb\r", "a\r\nb\r\n"],
  ["LF CR is two endings", "a\n\rb", "a\r\n\r\nb"],
  ["CR CR LF", "a\r\r\nb", "a\r\n\r\nb"],
  ["smuggling \\n.\\n", "x\n.\nMAIL", "x\r\n.\r\nMAIL"],
  ["smuggling \\r.\\r", "x\r.\rMAIL", "x\r\n.\r\nMAIL"],
  ["smuggling \\r\\n.\\n", "x\r\n.\nMAIL", "x\r\n.\r\nMAIL"],
  ["NUL kept", "x\r\n\x00.\r\n", "x\r\n\x00.\r\n"],
  ["empty", "", ""],
  ["no ending", "abc", "abc"],
  ["only CR", "\r", "\r\n"],
  ["8-bit bytes kept", "\xe9\xff\r\n", "\xe9\xff\r\n"],
];

describe("LineEndingFixer", () => {
  for (const [name, input, expected] of cases) {
    it(`${name}: whole buffer`, () => {
      assert.deepEqual(normalizeLineEndings(b(input)).content, b(expected));
    });
    it(`${name}: every possible split into two and three pieces`, () => {
      const bytes = b(input);
      for (let i = 0; i <= bytes.length; i++) {
        assert.deepEqual(fixInPieces(bytes, [i]), b(expected), `cut at ${i}`);
        for (let j = i; j <= bytes.length; j++) {
          assert.deepEqual(fixInPieces(bytes, [i, j]), b(expected), `cuts at ${i},${j}`);
        }
      }
    });
  }

  it("one byte at a time", () => {
    const input = b("a\rb\nc\r\nd\r\r\n\n\r");
    const cuts = Array.from({ length: input.length - 1 }, (_, k) => k + 1);
    assert.deepEqual(fixInPieces(input, cuts), b("a\r\nb\r\nc\r\nd\r\n\r\n\r\n\r\n"));
  });

  it("CR at a chunk boundary followed by LF is one ending, not two", () => {
    const fixer = new LineEndingFixer();
    assert.deepEqual(fixer.write(b("abc\r")), b("abc"));
    assert.deepEqual(fixer.write(b("\ndef")), b("\r\ndef"));
    assert.deepEqual(fixer.end(), Buffer.alloc(0));
    assert.equal(fixer.stats.bareLineEndings, 0);
  });

  it("CR at a chunk boundary followed by text is a bare CR", () => {
    const fixer = new LineEndingFixer();
    fixer.write(b("abc\r"));
    assert.deepEqual(fixer.write(b("def")), b("\r\ndef"));
    assert.equal(fixer.stats.bareLineEndings, 1);
  });

  it("counts bytes, longest line and bare endings", () => {
    const { stats } = normalizeLineEndings(b("12345\n123\r\n1234567\r12"));
    assert.deepEqual(stats, { bytes: 23, longestLine: 7, bareLineEndings: 2 });
  });

  it("measures a line split over chunks", () => {
    const fixer = new LineEndingFixer();
    fixer.write(b("aaaa"));
    fixer.write(b("bbbb\r"));
    fixer.write(b("\ncc"));
    fixer.end();
    assert.equal(fixer.stats.longestLine, 8);
  });

  it("clean CRLF chunks go out as the same buffer, with the same stats as a copy", () => {
    const fixer = new LineEndingFixer();
    const first = b("Subject: x\r\n\r\nline one\r\nlong");
    const second = b("er line two\r\n");
    assert.equal(fixer.write(first), first);
    assert.equal(fixer.write(second), second);
    fixer.end();
    const copied = normalizeLineEndings(Buffer.concat([first, second, b("\n")]));
    assert.deepEqual(fixer.stats, { ...copied.stats, bytes: copied.stats.bytes - 2, bareLineEndings: 0 });
    assert.equal(fixer.stats.longestLine, "longer line two".length);
  });

  it("the last line counts even without an ending", () => {
    assert.equal(normalizeLineEndings(b("ab\r\nabcdef")).stats.longestLine, 6);
  });
});

describe("LineEndingFixer.discard", () => {
  it("keeps exact stats while returning nothing, for any split", () => {
    const input = b("ab\r\ncd\nef\rgh\r\n\r\nlonger line here\r");
    for (let cut = 0; cut <= input.length; cut++) {
      const whole = new LineEndingFixer();
      whole.write(input);
      whole.end();
      const measured = new LineEndingFixer();
      measured.write(input.subarray(0, cut));
      measured.discard();
      assert.equal(measured.write(input.subarray(cut)).length, 0);
      measured.end();
      assert.deepEqual(measured.stats, whole.stats, `cut at ${cut}`);
    }
  });
});
