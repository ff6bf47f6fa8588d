/**
 * Reads the listener's certificate chain and private key (PEM) at start-up and on reload. The
 * config check already refused missing files and mismatched pairs; this still fails with the
 * file's name (a file removed between check and start, or a reload that finds a broken pair),
 * so the operator never has to guess which file is meant.
 */
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type { TlsFiles } from "../config/types.ts";

export interface TlsMaterial {
  cert: string;
  key: string;
}

export function loadTlsMaterial(files: TlsFiles): TlsMaterial {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file, "utf8");
    } catch (error) {
      throw new Error(`cannot read TLS ${what} ${file}: ${(error as Error).message}`, { cause: error });
    }
  };
  const material = { cert: read(files.certFile, "certificate"), key: read(files.keyFile, "key") };
  try {
    createSecureContext(material);
  } catch (error) {
    throw new Error(
      `TLS certificate ${files.certFile} and key ${files.keyFile} do not work together: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return material;
}
