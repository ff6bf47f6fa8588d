/**
 * The options every command that works on the instances of a fleet shares, defined once:
 * `-c FILE` (which config names the fleet), `--instance NAME`, and `--json` for the reports.
 */
export const INSTANCE_OPTIONS = {
  config: { type: "string", short: "c" },
  instance: { type: "string" },
} as const;

export const FLEET_REPORT_OPTIONS = {
  ...INSTANCE_OPTIONS,
  json: { type: "boolean", default: false },
} as const;
