/**
 * smtp-server's command parser (SMTPStream) with a command line limit that answers instead of
 * hanging up. Stock SMTPStream turns an over-long command line into a stream error, which the
 * connection answers with 421 and a closed socket; issue #5 wants `500 5.5.2` and a session
 * that goes on. So this subclass looks at each chunk before the parser does, in command mode only:
 *
 * - lines within the limit go to the parser unchanged (one call per chunk, no copying);
 * - an over-long line is dropped up to its LF without being stored (memory stays bounded even
 *   for a 10 MB line that never ends), and when its LF arrives `onTooLong` is called, which
 *   sends the 500; then parsing goes on with what followed the line.
 *
 * The chunk is cut at the start of the long line and the part before it is parsed first, so
 * commands pipelined ahead of it run in order, and if one of them was DATA the long line is
 * message content after all (data mode passes through untouched; content lines are limited by
 * the listener, which refuses the whole message).
 */
import { SMTPStream } from "smtp-server/lib/smtp-stream.js";

const LF = 0x0a;
const CR = 0x0d;

type Next = (error?: Error | null) => void;

export class LineLimitStream extends SMTPStream {
  readonly #limit: number;
  readonly #onTooLong: (resume: () => void) => void;
  /** Inside an over-long line: dropping bytes until its LF. */
  #skipping = false;

  /**
   * @param limit longest command line in bytes, without its CRLF
   * @param onTooLong called once per over-long line, when its end arrives; must call `resume`
   */
  constructor(limit: number, onTooLong: (resume: () => void) => void) {
    // The parser's own check never fires: one more byte allows the CR of a CRLF split across chunks.
    super({ maxCommandLength: limit + 1 });
    this.#limit = limit;
    this.#onTooLong = onTooLong;
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, next: Next): void {
    if (this._dataMode || this.isClosed || chunk.length === 0) {
      super._write(chunk, encoding, next);
      return;
    }
    if (this.#skipping) {
      const lf = chunk.indexOf(LF);
      if (lf < 0) {
        next();
        return;
      }
      this.#skipping = false;
      this.#onTooLong(() => this._write(chunk.subarray(lf + 1), encoding, next));
      return;
    }
    const cut = this.#firstLongLine(chunk);
    if (cut === null) {
      super._write(chunk, encoding, next);
      return;
    }
    if (cut > 0) {
      // Parse the complete lines before the long one, then look at the rest again: a DATA
      // among them switches to data mode, and then the long line is content.
      super._write(chunk.subarray(0, cut), encoding, (error) =>
        error ? next(error) : this._write(chunk.subarray(cut), encoding, next),
      );
      return;
    }
    // The long line starts here (or in what the parser holds back): drop it.
    this._remainder = "";
    const lf = chunk.indexOf(LF);
    if (lf < 0) {
      this.#skipping = true;
      next();
      return;
    }
    this.#onTooLong(() => this._write(chunk.subarray(lf + 1), encoding, next));
  }

  /** Where the first over-long line starts in `chunk` (0 if it began earlier), or null. */
  #firstLongLine(chunk: Buffer): number | null {
    const held = this._remainder.length;
    let lineStart = -held; // the held-back start of a line counts as before the chunk
    for (;;) {
      const lf = chunk.indexOf(LF, Math.max(lineStart, 0));
      if (lf < 0) {
        // An unfinished line: a trailing CR may be the first half of its CRLF.
        const trailingCr = chunk[chunk.length - 1] === CR ? 1 : 0;
        return chunk.length - lineStart - trailingCr > this.#limit ? Math.max(lineStart, 0) : null;
      }
      const crBefore = lf > 0 ? chunk[lf - 1] === CR : this._remainder.endsWith("\r");
      const length = lf - lineStart - (crBefore ? 1 : 0);
      if (length > this.#limit) return Math.max(lineStart, 0);
      lineStart = lf + 1;
    }
  }
}
