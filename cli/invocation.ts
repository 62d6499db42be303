/**
 * How the user started this program, so that help and hints name the command
 * they can type again: `lib_users` when installed or compiled, `deno run -A
 * main.ts` when run from a source tree.
 *
 * @module
 */

import config from "../deno.json" with { type: "json" };

/** The command as the user runs it, and whether that is from source. */
export interface Invocation {
  /** What to type to run it again, e.g. `lib_users` or `deno run -A main.ts`. */
  readonly command: string;
  /** Run by `deno run` from a source tree in the working directory (not installed or compiled). */
  readonly fromSource: boolean;
}

/**
 * Decides from `Deno.execPath()`, `Deno.mainModule` and the configuration in
 * effect (none needs a permission): a runtime that is not named `deno` is a
 * compiled binary, named as its file is; a main module that the source tree's
 * own deno.json maps as this package's `./cli` export, inside the working
 * directory, is a run from source (`deno task scan`, `deno run -A main.ts`);
 * anything else is the installed command. Deno reads the deno.json next to the
 * main module, wherever the user stands; `deno install` gives its shim a
 * config of its own, so an installed command is named `lib_users` even when
 * cron, systemd or an apt hook start it from `/`, where every path is inside
 * the working directory. A run by hand of a clone's main.ts from outside the
 * clone is named `lib_users` too.
 *
 * @param execPath The runtime's path.
 * @param mainModule The main module's URL.
 * @param cwd The working directory; it may throw (removed).
 * @param cliEntry What the configuration in effect maps this package's `./cli` export to;
 *   it throws when that configuration is not the source tree's deno.json.
 */
export function invocation(
  execPath: string = Deno.execPath(),
  mainModule: string = Deno.mainModule,
  cwd: () => string = Deno.cwd,
  cliEntry: () => string = () => import.meta.resolve(`${config.name}/cli`),
): Invocation {
  const runtime = execPath.slice(execPath.lastIndexOf("/") + 1);
  if (!/^deno(?:\.exe)?$/.test(runtime)) return { command: runtime, fromSource: false };
  if (mainModule.startsWith("file://") && isSourceEntry(mainModule, cliEntry)) {
    const path = decodeURIComponent(new URL(mainModule).pathname);
    let here: string | undefined;
    try {
      here = cwd();
    } catch { /* a removed working directory: not a source tree */ }
    const prefix = here === undefined ? undefined : here.endsWith("/") ? here : `${here}/`;
    if (prefix !== undefined && path.startsWith(prefix) && !path.endsWith(".js")) {
      return { command: `deno run -A ${path.slice(prefix.length)}`, fromSource: true };
    }
  }
  return { command: "lib_users", fromSource: false };
}

/** Whether the source tree's deno.json is in effect and names `mainModule` as the CLI. */
function isSourceEntry(mainModule: string, cliEntry: () => string): boolean {
  try {
    return cliEntry() === mainModule;
  } catch {
    // An installed command's own config, or --no-config: the package's name is unknown.
    return false;
  }
}
