/**
 * 8BITMIME downgrade (RFC 6152 section 3, RFC 1652): makes an 8-bit message 7-bit clean for a
 * next hop that does not announce 8BITMIME, the way Postfix's smtp_mime_8bit_downgrade does.
 * Every MIME leaf whose content has 8-bit bytes under an identity encoding (7bit, 8bit, binary
 * or none) is re-encoded as quoted-printable; an attached message/rfc822 is downgraded
 * recursively; containers labelled 8bit are relabelled 7bit. Everything else keeps its bytes.
 * What cannot be converted (8-bit header bytes, 8-bit in a base64/QP part, in a message/* type
 * that allows no encoding, or between the parts of a multipart) is reported, never sent.
 *
 * The MIME structure comes from mailsplit (nodemailer's family), which gives back unmodified
 * header blocks and bodies byte for byte, so only the converted parts change.
 */
import { isAscii } from "node:buffer";
import { Splitter, type SplitterChunk } from "@zone-eu/mailsplit";
import { encode as qpEncode, wrap as qpWrap } from "nodemailer/lib/qp";

export type DowngradeResult =
  /** Nothing to do: the message has no 8-bit byte. */
  | { kind: "unchanged" }
  /** A 7-bit version of the message; `parts` says how many leaves were re-encoded. */
  | { kind: "converted"; body: Buffer; parts: number }
  /** Conversion would be needed but is not possible (RFC 3463 5.6.3). */
  | { kind: "impossible"; reason: string };

type MimeNode = Extract<SplitterChunk, { type: "node" }>;

/** Nesting of attached messages we follow before giving up. */
const MAX_DEPTH = 16;

/** Encodings that leave the bytes as they are, so 8-bit content can be re-encoded. */
const IDENTITY_ENCODINGS = new Set(["", "7bit", "8bit", "binary"]);

/** message/* types that RFC 6532 3.5 and RFC 6533 let carry a transfer encoding. */
const ENCODABLE_MESSAGE_TYPES = new Set([
  "message/global",
  "message/global-headers",
  "message/global-delivery-status",
  "message/global-disposition-notification",
]);

export function hasEightBit(data: Buffer): boolean {
  return !isAscii(data);
}

/** The header section of a message: everything up to and including the empty line. */
export function headerSection(message: Buffer): Buffer {
  if (message[0] === 0x0d && message[1] === 0x0a) return message.subarray(0, 0);
  const end = message.indexOf("\r\n\r\n");
  return end < 0 ? message : message.subarray(0, end + 4);
}

/** One MIME entity as it came out of the splitter, with the body chunks that follow it. */
interface Part {
  node: MimeNode;
  body: Buffer[];
  /** Replacement body once converted. */
  converted: Buffer | null;
}

type Piece = { kind: "part"; part: Part } | { kind: "raw"; value: Buffer };

async function split(message: Buffer): Promise<SplitterChunk[]> {
  // Attached messages stay leaves: they are handled by recursion, whatever their disposition.
  const splitter = new Splitter({ ignoreEmbedded: true });
  splitter.end(message);
  const chunks: SplitterChunk[] = [];
  for await (const chunk of splitter) chunks.push(chunk as SplitterChunk);
  return chunks;
}

function partName(node: MimeNode): string {
  if (node.root) return "the message";
  const nr = node.partNr ? node.partNr.filter((n) => n !== "TEXT").join(".") : "";
  return nr ? `MIME part ${nr}` : "a MIME part";
}

function headersOf(node: MimeNode) {
  node.getHeaders(); // parses them when the splitter has not yet
  if (!node.headers) throw new Error("mailsplit node without headers");
  return node.headers;
}

/** Appends a header at the end of the node's header block. */
function appendHeader(node: MimeNode, key: string, value: string): void {
  const headers = headersOf(node);
  headers.add(key, value, headers.getList().length);
}

function setTransferEncoding(node: MimeNode, value: string): void {
  const headers = headersOf(node);
  if (headers.hasHeader("Content-Transfer-Encoding")) headers.update("Content-Transfer-Encoding", value);
  else appendHeader(node, "Content-Transfer-Encoding", value);
}

/** The content type that applies, with RFC 2046's default for parts of a multipart/digest. */
function contentTypeOf(node: MimeNode): string {
  const declared = headersOf(node).hasHeader("Content-Type");
  const parent = node.parentNode;
  if (!declared && parent && parent.multipart === "digest") return "message/rfc822";
  return node.contentType || "text/plain";
}

/**
 * Converts one leaf with 8-bit content. Returns null when done, or why it cannot be done.
 */
async function convertLeaf(part: Part, depth: number): Promise<string | null> {
  const { node } = part;
  const name = partName(node);
  const encoding = node.encoding || "";
  if (!IDENTITY_ENCODINGS.has(encoding)) {
    return `${name} has 8-bit bytes under Content-Transfer-Encoding ${encoding}`;
  }
  const body = Buffer.concat(part.body);
  const type = contentTypeOf(node);
  if (type === "message/rfc822") {
    const inner = await downgrade(body, depth + 1);
    if (inner.kind === "impossible") return `${inner.reason} (attached to ${name})`;
    if (inner.kind === "converted") part.converted = inner.body;
    if (encoding === "8bit" || encoding === "binary") setTransferEncoding(node, "7bit");
    return null;
  }
  if (type.startsWith("message/") && !ENCODABLE_MESSAGE_TYPES.has(type)) {
    return `${name} is ${type} with 8-bit content, which allows no transfer encoding`;
  }
  part.converted = Buffer.from(qpWrap(qpEncode(body), 76), "latin1");
  const headers = headersOf(node);
  // A plain RFC 5322 message becomes a MIME one: its encoding means nothing without this.
  if (node.root && !headers.hasHeader("MIME-Version")) appendHeader(node, "MIME-Version", "1.0");
  // RFC 2045 5.2: without a Content-Type the charset would read as us-ascii; the 8-bit
  // bytes are of an unknown charset (RFC 1428), which is what a reader should be told.
  if (!headers.hasHeader("Content-Type"))
    appendHeader(node, "Content-Type", "text/plain; charset=unknown-8bit");
  setTransferEncoding(node, "quoted-printable");
  return null;
}

async function downgrade(message: Buffer, depth: number): Promise<DowngradeResult> {
  if (!hasEightBit(message)) return { kind: "unchanged" };
  if (depth > MAX_DEPTH) return { kind: "impossible", reason: "attached messages are nested too deep" };
  let chunks: SplitterChunk[];
  try {
    chunks = await split(message);
  } catch (err) {
    return { kind: "impossible", reason: `its MIME structure cannot be parsed: ${(err as Error).message}` };
  }

  const pieces: Piece[] = [];
  let current: Part | null = null;
  for (const chunk of chunks) {
    if (chunk.type === "node") {
      current = { node: chunk, body: [], converted: null };
      pieces.push({ kind: "part", part: current });
    } else if (chunk.type === "body" && current) {
      current.body.push(chunk.value);
    } else {
      if (hasEightBit(chunk.value)) {
        const where = partName(chunk.node);
        return { kind: "impossible", reason: `${where} has 8-bit bytes outside its MIME parts` };
      }
      pieces.push({ kind: "raw", value: chunk.value });
    }
  }

  const touched = new Set<MimeNode>();
  let parts = 0;
  for (const piece of pieces) {
    if (piece.kind !== "part") continue;
    const { part } = piece;
    if (hasEightBit(part.node.getHeaders())) {
      return { kind: "impossible", reason: `the header of ${partName(part.node)} has 8-bit bytes` };
    }
    if (part.node.multipart || !part.body.some(hasEightBit)) continue;
    const failure = await convertLeaf(part, depth);
    if (failure) return { kind: "impossible", reason: failure };
    parts++;
    for (let up = part.node.parentNode; up; up = up.parentNode) touched.add(up);
  }
  // A multipart that held 8-bit parts holds none now: its 8bit label would be wrong.
  for (const node of touched) {
    if (node.encoding === "8bit" || node.encoding === "binary") setTransferEncoding(node, "7bit");
  }

  const out: Buffer[] = [];
  for (const piece of pieces) {
    if (piece.kind === "raw") out.push(piece.value);
    else {
      out.push(piece.part.node.getHeaders());
      out.push(...(piece.part.converted ? [piece.part.converted] : piece.part.body));
    }
  }
  return { kind: "converted", body: Buffer.concat(out), parts };
}

/** Makes `message` 7-bit clean, or says why it cannot be. Never rejects. */
export function downgradeTo7bit(message: Buffer): Promise<DowngradeResult> {
  return downgrade(message, 0);
}
