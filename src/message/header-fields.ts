/**
 * Taking header fields out of a message's header section (CRLF line endings), folded
 * continuation lines included; the body is never looked at. Used to take the tenant header
 * (src/feedback/tenant.ts) and to drop forged Authentication-Results (src/policy/).
 */

/** End of the header section: index just past the blank line's CRLF, or the content's length. */
export function headerEnd(content: Buffer): number {
  if (content[0] === 0x0d && content[1] === 0x0a) return 0;
  const at = content.indexOf("\r\n\r\n");
  return at === -1 ? content.length : at + 2;
}

export interface TakenFields {
  /** The taken fields' values, unfolded, whitespace runs as one space, trimmed; in order. */
  values: string[];
  /** The content without them (the same Buffer when none was taken). */
  content: Buffer;
}

/**
 * Takes every field named `name` (any case) whose value passes `wanted` (all of them without
 * it). The value given to `wanted` is unfolded and trimmed, as in TakenFields.
 */
export function takeHeader(content: Buffer, name: string, wanted?: (value: string) => boolean): TakenFields {
  const lower = name.toLowerCase();
  const end = headerEnd(content);
  const lines = content.subarray(0, end).toString("latin1").split("\r\n");
  const kept: string[] = [];
  const values: string[] = [];
  // A field is its first line and the continuation lines (leading space or tab) after it.
  for (let i = 0; i < lines.length; ) {
    let next = i + 1;
    while (next < lines.length && isContinuation(lines[next] ?? "")) next++;
    const first = lines[i] ?? "";
    const colon = first.indexOf(":");
    let taken = false;
    if (colon > 0 && !isContinuation(first) && first.slice(0, colon).trimEnd().toLowerCase() === lower) {
      const value = lines
        .slice(i, next)
        .join("")
        .slice(colon + 1)
        .replace(/\s+/g, " ")
        .trim();
      taken = wanted === undefined || wanted(value);
      if (taken) values.push(value);
    }
    if (!taken) for (let k = i; k < next; k++) kept.push(lines[k] ?? "");
    i = next;
  }
  if (values.length === 0) return { values, content };
  return {
    values,
    content: Buffer.concat([Buffer.from(kept.join("\r\n"), "latin1"), content.subarray(end)]),
  };
}

function isContinuation(line: string): boolean {
  return line.startsWith(" ") || line.startsWith("\t");
}
