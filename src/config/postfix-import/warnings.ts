/**
 * What the importer tells the operator. Every warning is one line: printed on stderr and written
 * as a "# WARNING:" comment at the top of the generated file.
 */

export type ImportWarningCode =
  /** Postfix silently ignored the setting; mailfleet honours it, so delivery will behave differently. */
  | "BEHAVIOUR_CHANGE"
  /** A sender-dependent route that transport_maps overrides for some recipient domains. */
  | "ROUTE_SHADOWED"
  /** A setting with no mailfleet equivalent (yet); it is left out of the generated config. */
  | "NOT_CARRIED"
  /** An input line or value the importer could not read. */
  | "INPUT_PROBLEM";

export interface ImportWarning {
  code: ImportWarningCode;
  message: string;
}

export interface WarningSink {
  warn(code: ImportWarningCode, message: string): void;
}

export function createWarningList(): WarningSink & { list: ImportWarning[] } {
  const list: ImportWarning[] = [];
  return { list, warn: (code, message) => list.push({ code, message }) };
}

export function formatWarning(warning: ImportWarning): string {
  return `${warning.code}: ${warning.message}`;
}
