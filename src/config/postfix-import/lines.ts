/**
 * Postfix's "logical line" reader (readlline(3)), shared by main.cf, master.cf and map source
 * files: a line whose first character is whitespace continues the previous logical line; empty
 * lines and lines whose first non-blank character is "#" are skipped without ending the logical
 * line they sit in. Each logical line keeps the number of the physical line it started on, so
 * warnings can point at the file.
 */

export interface LogicalLine {
  /** The joined text: continuation lines are appended after one space, then trimmed. */
  text: string;
  /** 1-based number of the physical line the logical line starts on. */
  line: number;
}

export function readLogicalLines(text: string): LogicalLine[] {
  const out: LogicalLine[] = [];
  let current: LogicalLine | null = null;
  const physical = text.split(/\r?\n/);
  for (const [i, raw] of physical.entries()) {
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    if (/^\s/.test(raw) && current !== null) {
      current.text = `${current.text} ${trimmed}`;
      continue;
    }
    // A continuation line with nothing to continue starts a line of its own, as in Postfix.
    current = { text: trimmed, line: i + 1 };
    out.push(current);
  }
  return out;
}
