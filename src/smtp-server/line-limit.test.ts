import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LineLimitStream } from "./line-limit.ts";

/** Feeds `chunks` one write at a time; returns what the parser saw, in order. */
async function parse(limit: number, chunks: (string | Buffer)[]): Promise<string[]> {
  const seen: string[] = [];
  const stream = new LineLimitStream(limit, (resume) => {
    seen.push("<too long>");
    resume();
  });
  stream.oncommand = (command, callback) => {
    seen.push(command.toString("latin1"));
    if (command.toString() === "DATA") {
      const data = stream.startDataMode();
      data.on("data", (d: Buffer) => seen.push(`data:${d}`));
      data.on("end", () => stream.continue()); // what the connection does after its reply
    }
    callback?.();
  };
  for (const chunk of chunks) {
    await new Promise<void>((resolve, reject) =>
      stream.write(typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }
  return seen;
}

describe("LineLimitStream", () => {
  it("passes lines within the limit, counting neither CR nor LF", async () => {
    assert.deepEqual(await parse(4, ["ABCD\r\nEFGH\nIJ\r\n"]), ["ABCD", "EFGH", "IJ"]);
  });

  it("replaces an over-long line by one callback, keeping the lines around it in order", async () => {
    assert.deepEqual(await parse(4, ["AB\r\nABCDE\r\nCD\r\n"]), ["AB", "<too long>", "CD"]);
  });

  it("counts a line across chunks, also when its CRLF is split", async () => {
    assert.deepEqual(await parse(4, ["AB", "CD\r", "\nXY", "ZWV", "\r\nOK\r\n"]), [
      "ABCD",
      "<too long>",
      "OK",
    ]);
  });

  it("drops a line that never ends and answers once its LF arrives", async () => {
    const big = Buffer.alloc(1024 * 1024, "x");
    const seen = await parse(998, ["NOOP\r\n", big, big, big, "x\r\nQUIT\r\n"]);
    assert.deepEqual(seen, ["NOOP", "<too long>", "QUIT"]);
  });

  it("leaves data mode alone: long content lines reach the data stream", async () => {
    const long = "y".repeat(50);
    const seen = await parse(10, [`DATA\r\n${long}\r\n.\r\nNOOP\r\n`]);
    assert.equal(seen[0], "DATA");
    assert.ok(
      seen.some((s) => s.startsWith("data:") && s.includes(long)),
      JSON.stringify(seen),
    );
    assert.ok(!seen.includes("<too long>"));
  });
});
