/**
 * The configuration file (`/etc/lib_users.conf`, or `--config FILE`): what
 * unattended runs need, in `KEY = VALUE` lines whose keys are the long names
 * of the options that may be set there. A syntax error is one line naming the
 * file and line, and exit 2.
 *
 * @module
 */

import { isGranted } from "../lib/proc/permissions.ts";
import { UsageError } from "./exit.ts";

/** The file read unless `--config` names another. */
export const DEFAULT_CONFIG = "/etc/lib_users.conf";

/**
 * The environment variable that replaces {@linkcode DEFAULT_CONFIG}: a path,
 * or empty for no file (what the test suite sets, so that a server's own
 * settings cannot change its answers). Read only when Deno allows it.
 */
export const CONFIG_VARIABLE = "LIB_USERS_CONFIG";

/** A configuration file's settings, in order, each with its line. */
export interface ConfigFile {
  readonly path: string;
  readonly entries: readonly {
    readonly key: string;
    readonly value: string;
    readonly line: number;
  }[];
}

/** The most a configuration file may hold: settings are a few lines. */
const MAX_BYTES = 1 << 20;

/**
 * The settings of the file `--config` names in `args`, else of
 * {@linkcode DEFAULT_CONFIG} when it exists and Deno and the kernel let it be
 * read; undefined when there is none.
 *
 * @throws {UsageError} when a named file cannot be read, or a file has a syntax error
 */
export function loadConfig(
  args: readonly string[],
  defaultPath: string = defaultConfig(),
): ConfigFile | undefined {
  const named = configArgument(args);
  if (named === undefined && defaultPath === "") return undefined;
  const path = named ?? defaultPath;
  if (named === undefined && !isGranted({ name: "read", path })) return undefined;
  let text: string;
  try {
    const info = Deno.statSync(path);
    if (!info.isFile) throw new UsageError(`Cannot read "${path}": it is not a file`);
    if (info.size > MAX_BYTES) throw new UsageError(`Cannot read "${path}": it is over 1 MiB`);
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const missing = error instanceof Deno.errors.NotFound;
    const refused = error instanceof Deno.errors.PermissionDenied;
    // The default file is optional, and root's to read: a scan by another user goes without it.
    if (named === undefined && (missing || refused)) return undefined;
    const why = missing
      ? "no such file"
      : error instanceof Deno.errors.NotCapable
      ? `Deno was not given --allow-read=${path}`
      : error instanceof Error
      ? error.message
      : String(error);
    throw new UsageError(`Cannot read "${path}": ${why}`);
  }
  return parseConfig(path, text);
}

/** The default file: {@linkcode CONFIG_VARIABLE}'s when it is set and may be read, else /etc's. */
function defaultConfig(): string {
  if (!isGranted({ name: "env", variable: CONFIG_VARIABLE })) return DEFAULT_CONFIG;
  return Deno.env.get(CONFIG_VARIABLE) ?? DEFAULT_CONFIG;
}

/** The file `--config FILE` or `--config=FILE` names; the last one wins, as for every value. */
function configArgument(args: readonly string[]): string | undefined {
  let path: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") break;
    if (arg === "--config") path = args[++i];
    else if (arg.startsWith("--config=")) path = arg.slice("--config=".length);
  }
  return path;
}

/**
 * The settings of a configuration file's text: `KEY = VALUE` lines, `#`
 * comments and blank lines; a key may come again where its option is
 * repeatable. Keys are checked against the options by the parser.
 *
 * @throws {UsageError} on a line that is not a setting
 */
export function parseConfig(path: string, text: string): ConfigFile {
  const entries: { key: string; value: string; line: number }[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-z][a-z-]*)\s*=\s*(.*)$/.exec(line);
    if (match === null || match[2] === "") {
      throw new UsageError(
        `Cannot read "${path}", line ${i + 1}: expected KEY = VALUE, not "${line}"`,
      );
    }
    entries.push({ key: match[1]!, value: match[2]!, line: i + 1 });
  }
  return { path, entries };
}
