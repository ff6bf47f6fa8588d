/**
 * Exit codes of every command. They follow sendmail's sysexits.h, which operators' scripts
 * already understand.
 */
export const EXIT = {
  ok: 0,
  /** Bad command line. */
  usage: 64,
  /** The message was refused permanently (5xx). */
  dataError: 65,
  /** Input file missing or unreadable. */
  noInput: 66,
  /** The instance is not running or not reachable. */
  unavailable: 69,
  /** Internal error. */
  software: 70,
  /** Temporary failure (4xx, spool locked): try again later. */
  tempFail: 75,
  /** Invalid configuration. */
  config: 78,
} as const;

export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}
