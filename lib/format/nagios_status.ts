/**
 * The Nagios plugin API's exit codes, in one place for the status line and the
 * CLI (which answers bad usage in a Nagios run with UNKNOWN). A module of its
 * own so the CLI need not load the Nagios format to know them.
 *
 * @module
 */

/** Nagios plugin exit codes. */
export const NAGIOS_STATUS: Readonly<Record<"OK" | "WARNING" | "CRITICAL" | "UNKNOWN", number>> =
  Object.freeze({ OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 });
