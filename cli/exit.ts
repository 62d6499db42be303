/**
 * The CLI's exit codes, each with what it means, and the usage error: the one
 * table `--help`, the man page and the docs print them from.
 *
 * @module
 */

import { NAGIOS_STATUS } from "../lib/format/nagios_status.ts";

/** One exit code and what it means, as help, man page and docs say it. */
export interface ExitCode {
  readonly code: number;
  /** The meaning, one sentence without a final full stop. */
  readonly meaning: string;
}

/** Exit codes of the CLI, by name. */
export const EXIT = Object.freeze({
  /** The scan completed (whatever it found). */
  OK: 0,
  /** `--check` and something stale was found. */
  STALE: 1,
  /** Bad usage, no permission to read the proc root, or the output could not be written. */
  USAGE: 2,
  /** An unexpected error (a bug): please report it. */
  INTERNAL: 3,
  /**
   * The output is complete but for lists cut by the scan's budget of names
   * (a process or user with more deleted files than it keeps): said on stderr
   * and in the output, never taken for the whole answer.
   */
  TRUNCATED: 4,
  /** `--restart` left something: a unit failed, timed out, or has processes that outlived it. */
  LEFT: 5,
  /** Stopped by SIGHUP (the terminal or ssh session closed) while writing: the last record is whole (128 + 1). */
  SIGHUP: 129,
  /** Stopped by SIGINT while writing: the last record written is whole (128 + 2). */
  SIGINT: 130,
  /** Stopped by SIGTERM while writing: the last record written is whole (128 + 15). */
  SIGTERM: 143,
});

/** What each exit code means, in order: the source of every table of them. */
export const EXIT_CODES: readonly ExitCode[] = Object.freeze([
  { code: EXIT.OK, meaning: "the scan completed, whatever it found" },
  {
    code: EXIT.STALE,
    meaning: "--check found something stale (or, with --reboot, a reboot is needed)",
  },
  {
    code: EXIT.USAGE,
    meaning: "bad usage, no permission to read the proc root, a proc root that holds no " +
      "process, the output could not be written, or the command's modules could not be loaded",
  },
  { code: EXIT.INTERNAL, meaning: "an unexpected error (a bug: please report it)" },
  {
    code: EXIT.TRUNCATED,
    meaning: "lists were cut by the scan's budget of names (said on stderr and in the output)",
  },
  {
    code: EXIT.LEFT,
    meaning: "--restart left something: a unit failed, timed out, or has processes that " +
      "outlived its restart",
  },
  {
    code: EXIT.SIGHUP,
    meaning: "stopped by SIGHUP while writing, after a whole record",
  },
  { code: EXIT.SIGINT, meaning: "stopped by SIGINT while writing, after a whole record" },
  { code: EXIT.SIGTERM, meaning: "stopped by SIGTERM while writing, after a whole record" },
]);

/** The Nagios plugin API's codes, which a `--format=nagios` run exits with instead. */
export const NAGIOS_EXIT_CODES: readonly ExitCode[] = Object.freeze([
  { code: NAGIOS_STATUS.OK, meaning: "OK" },
  { code: NAGIOS_STATUS.WARNING, meaning: "WARNING" },
  { code: NAGIOS_STATUS.CRITICAL, meaning: "CRITICAL" },
  {
    code: NAGIOS_STATUS.UNKNOWN,
    meaning: "UNKNOWN: bad usage too, and a scan that could not see every process, " +
      "did not finish in time, or could not tell whether a reboot is needed",
  },
]);

/** The Nagios plugin API's UNKNOWN, also for bad usage. */
export const NAGIOS_UNKNOWN: number = NAGIOS_STATUS.UNKNOWN;

/** An error in the command line; `main.ts` prints it with a usage hint. */
export class UsageError extends Error {
  /** The exit code the CLI ends with: 2, or the Nagios plugin API's UNKNOWN (3) in a Nagios run. */
  readonly exitCode: number;
  /** Whether the command line asked for the Nagios format, which reports usage errors as UNKNOWN. */
  readonly nagios: boolean;
  override name = "UsageError";

  /** A usage error; `nagios` when the command line asked for `--format=nagios`. */
  constructor(message: string, nagios = false) {
    super(message);
    this.nagios = nagios;
    this.exitCode = nagios ? NAGIOS_UNKNOWN : EXIT.USAGE;
  }
}
