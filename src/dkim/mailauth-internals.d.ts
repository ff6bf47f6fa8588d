/**
 * Types for the parts of mailauth's DKIM signer (plain JavaScript without typings) that
 * key-object-signer.ts builds on: the streaming signer (message parsing, canonicalization,
 * body hashes) and the helpers its `finalize` uses.
 */
declare module "mailauth/lib/dkim/dkim-signer.js" {
  import { Writable } from "node:stream";

  export interface ParsedHeaderLine {
    key: string;
    casedKey: string;
    line: Buffer;
  }

  export interface SignatureDataEntry {
    signingDomain: string;
    selector: string;
    /** mailauth expects PEM; only its presence matters to the parts we use. */
    privateKey: unknown;
    algorithm?: string;
    canonicalization?: string;
    maxBodyLength?: number | "";
    type?: "DKIM" | "ARC";
  }

  export class DkimSigner extends Writable {
    constructor(options: {
      canonicalization?: string;
      headerList?: string;
      signTime?: Date | number;
      signatureData: SignatureDataEntry[];
    });
    headers: { parsed: ParsedHeaderLine[]; original: Buffer } | undefined;
    headerList: string | undefined;
    signTime: Date | number | undefined;
    expires: Date | number | undefined;
    signatureData: SignatureDataEntry[];
    signatureHeaders: string[];
    errors: { err: Error; selector?: string; signingDomain?: string }[];
    bodyHashes: Map<string, { hash: string | null }>;
    getCanonicalization(entry: SignatureDataEntry): {
      canonicalization: string;
      headerCanon: string;
      bodyCanon: string;
    };
    finalize(): Promise<void>;
  }
}

declare module "mailauth/lib/dkim/header/index.js" {
  import type { ParsedHeaderLine } from "mailauth/lib/dkim/dkim-signer.js";
  export function generateCanonicalizedHeader(
    type: "DKIM",
    signingHeaderLines: { keys: string; headers: ParsedHeaderLine[] },
    options: Record<string, unknown>,
  ): { canonicalizedHeader: Buffer; dkimHeaderOpts: Record<string, unknown> };
}

declare module "mailauth/lib/tools.js" {
  import type { ParsedHeaderLine } from "mailauth/lib/dkim/dkim-signer.js";
  export function writeToStream(stream: NodeJS.WritableStream, input: Buffer): Promise<void>;
  export function getSigningHeaderLines(
    parsedHeaders: ParsedHeaderLine[],
    fieldNames: string | undefined,
  ): { keys: string; headers: ParsedHeaderLine[] };
  export function formatSignatureHeaderLine(
    type: "DKIM",
    values: Record<string, unknown>,
    folded: boolean,
  ): string;
}
