/**
 * How the user started this program, so that help and hints name the command
 * they can type again: `lib_users` when installed or compiled, `deno run -A
 * main.ts` when run from a source tree.
 *
 * @module
 */

/** The command as the user runs it, and whether that is from source. */
export interface Invocation {
  /** What to type to run it again, e.g. `lib_users` or `deno run -A main.ts`. */
  readonly command: string;
  /** Run by `deno run` from a source tree in the working directory (not installed or compiled). */
  readonly fromSource: boolean;
}

/**
 * Decides from `Deno.execPath()` and `Deno.mainModule` (neither needs a
 * permission): a runtime that is not named `deno` is a compiled binary, named
 * as its file is; a main module inside the working directory is a source tree
 * (`deno task scan`, `deno run -A main.ts`); anything else (a `deno install`ed
 * shim, a URL, a bundle) is the installed command. An installed shim runs
 * `deno run … main.ts` from its install location, which is not where its user
 * stands, so it cannot be told from a run by hand from another directory; both
 * are named `lib_users`.
 */
export function invocation(
  execPath: string = Deno.execPath(),
  mainModule: string = Deno.mainModule,
  cwd: () => string = Deno.cwd,
): Invocation {
  const runtime = execPath.slice(execPath.lastIndexOf("/") + 1);
  if (!/^deno(?:\.exe)?$/.test(runtime)) return { command: runtime, fromSource: false };
  if (mainModule.startsWith("file://")) {
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
