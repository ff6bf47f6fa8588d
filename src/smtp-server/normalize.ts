/**
 * Line-ending normaliser for message content received with DATA.
 *
 * SMTP content lines end with CRLF (RFC 5321 2.3.8). A bare CR or a bare LF inside the content
 * is how "SMTP smuggling" works: a lax server downstream may read `\n.\n` as end-of-data and the
 * rest as new commands. So we never store or relay such bytes as they came: every bare CR and
 * every bare LF becomes CRLF. While doing so we measure what the spool will store (total bytes,
 * longest line, how many bare endings we fixed) so the listener can enforce its limits.
 *
 * It works chunk by chunk (the listener feeds it the DATA stream): a CR that ends one chunk is
 * held until the next chunk shows whether an LF follows, so the output does not depend on how
 * the input was split.
 */
const CR = 0x0d;
const LF = 0x0a;
const EMPTY = Buffer.alloc(0);

export interface ContentStats {
  /** Bytes written out (after normalisation). */
  bytes: number;
  /** Longest line in bytes, not counting its CRLF. */
  longestLine: number;
  /** Bare CRs and bare LFs that were turned into CRLF. */
  bareLineEndings: number;
}

/** The state machine, independent of streams: feed chunks with `write`, then call `end` once. */
export class LineEndingFixer {
  #pendingCr = false;
  /** Only measuring: the caller keeps nothing more (the message is over a limit). */
  #discarding = false;
  #lineLength = 0;
  #stats: ContentStats = { bytes: 0, longestLine: 0, bareLineEndings: 0 };

  /** A snapshot; final after `end`. */
  get stats(): ContentStats {
    return { ...this.#stats, longestLine: Math.max(this.#stats.longestLine, this.#lineLength) };
  }

  /**
   * From now on `write` only measures and returns nothing: for a message already refused, so a
   * huge one costs no output buffers (the stats stay exact).
   */
  discard(): void {
    this.#discarding = true;
  }

  /** Returns the normalised bytes that can be emitted now (a trailing CR is held back). */
  write(chunk: Buffer): Buffer {
    const length = chunk.length;
    if (length === 0) return chunk;
    if (this.#discarding) {
      this.#measure(chunk);
      return EMPTY;
    }
    // Nearly all mail is clean CRLF: then the chunk goes out as it came, measured, not copied.
    if (!this.#pendingCr && this.#measureIfClean(chunk)) return chunk;
    // Worst case every byte is a bare ending and doubles, plus a held CR from the last chunk.
    const out = Buffer.allocUnsafe(length * 2 + 2);
    let o = 0;
    let i = 0;
    if (this.#pendingCr) {
      this.#pendingCr = false;
      out[o++] = CR;
      out[o++] = LF;
      this.#endLine();
      if (chunk[0] === LF) i = 1;
      else this.#stats.bareLineEndings++;
    }
    let lineLength = this.#lineLength;
    for (; i < length; i++) {
      const byte = chunk[i]!;
      if (byte === CR) {
        if (i + 1 === length) {
          this.#pendingCr = true; // decided by the next chunk, or by `end`
          break;
        }
        out[o++] = CR;
        out[o++] = LF;
        this.#lineLength = lineLength;
        this.#endLine();
        lineLength = 0;
        if (chunk[i + 1] === LF) i++;
        else this.#stats.bareLineEndings++;
      } else if (byte === LF) {
        out[o++] = CR;
        out[o++] = LF;
        this.#lineLength = lineLength;
        this.#endLine();
        lineLength = 0;
        this.#stats.bareLineEndings++;
      } else {
        out[o++] = byte;
        lineLength++;
      }
    }
    this.#lineLength = lineLength;
    this.#stats.bytes += o;
    return out.subarray(0, o);
  }

  /** Returns what is still held back: CRLF for a CR that ended the content, else nothing. */
  end(): Buffer {
    if (!this.#pendingCr) return Buffer.alloc(0);
    this.#pendingCr = false;
    this.#stats.bareLineEndings++;
    this.#endLine();
    this.#stats.bytes += 2;
    return Buffer.from([CR, LF]);
  }

  /** What `write` does to the stats, without producing output. */
  #measure(chunk: Buffer): void {
    let i = 0;
    let bytes = 0;
    if (this.#pendingCr) {
      this.#pendingCr = false;
      bytes += 2;
      this.#endLine();
      if (chunk[0] === LF) i = 1;
      else this.#stats.bareLineEndings++;
    }
    for (;;) {
      const cr = chunk.indexOf(CR, i);
      const lf = chunk.indexOf(LF, i);
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      if (end < 0) {
        this.#lineLength += chunk.length - i;
        bytes += chunk.length - i;
        break;
      }
      this.#lineLength += end - i;
      bytes += end - i;
      if (chunk[end] === CR && end + 1 === chunk.length) {
        this.#pendingCr = true;
        break;
      }
      bytes += 2;
      this.#endLine();
      if (chunk[end] === CR && chunk[end + 1] === LF) i = end + 2;
      else {
        this.#stats.bareLineEndings++;
        i = end + 1;
      }
    }
    this.#stats.bytes += bytes;
  }

  /**
   * When every CR in the chunk is followed by an LF and every LF follows a CR (and the chunk does
   * not end in a CR), adds it to the stats and says true; otherwise changes nothing.
   */
  #measureIfClean(chunk: Buffer): boolean {
    let lineLength = this.#lineLength;
    let longest = this.#stats.longestLine;
    let i = 0;
    for (;;) {
      const lf = chunk.indexOf(LF, i);
      if (lf < 0) {
        if (chunk.indexOf(CR, i) >= 0) return false;
        lineLength += chunk.length - i;
        break;
      }
      if (lf === i || chunk[lf - 1] !== CR || chunk.indexOf(CR, i) !== lf - 1) return false;
      lineLength += lf - 1 - i;
      if (lineLength > longest) longest = lineLength;
      lineLength = 0;
      i = lf + 1;
    }
    this.#lineLength = lineLength;
    this.#stats.longestLine = longest;
    this.#stats.bytes += chunk.length;
    return true;
  }

  #endLine(): void {
    if (this.#lineLength > this.#stats.longestLine) this.#stats.longestLine = this.#lineLength;
    this.#lineLength = 0;
  }
}

/** Whole-buffer form (tests, locally generated mail). */
export function normalizeLineEndings(content: Buffer): { content: Buffer; stats: ContentStats } {
  const fixer = new LineEndingFixer();
  const fixed = Buffer.concat([fixer.write(content), fixer.end()]);
  return { content: fixed, stats: fixer.stats };
}
