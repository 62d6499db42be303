/**
 * Interpreted programs, which map no deleted file when their script is
 * replaced: which script an interpreter runs, read from its argument vector,
 * never by running anything.
 *
 * @module
 */

/** The interpreters whose scripts are looked for. */
export type Interpreter = "python" | "perl" | "ruby" | "php" | "node";

const INTERPRETERS: readonly [RegExp, Interpreter][] = [
  [/^python[0-9.]*$/, "python"],
  [/^perl[0-9.]*$/, "perl"],
  [/^ruby[0-9.]*$/, "ruby"],
  [/^php[0-9.]*$/, "php"],
  [/^node(js)?$/, "node"],
];

/**
 * The interpreter an executable is (by its file name), or undefined.
 *
 * @example Versions in the name count
 * ```ts
 * import { interpreterOf } from "./scripts.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals([interpreterOf("/usr/bin/python3.11"), interpreterOf("/usr/sbin/nginx")], ["python", undefined]);
 * ```
 */
export function interpreterOf(executable: string): Interpreter | undefined {
  const name = executable.slice(executable.lastIndexOf("/") + 1);
  return INTERPRETERS.find(([pattern]) => pattern.test(name))?.[1];
}

/** The script a command line runs, or why it is not a file (a `-c` string, a module, stdin). */
export type ScriptArgument =
  | { readonly path: string }
  | { readonly unknown: string };

/** Per interpreter: options that take the next argument, and those that mean "no script file". */
const RULES: Readonly<
  Record<Interpreter, { takesValue: RegExp; noFile: RegExp; attached: RegExp }>
> = {
  // python [-bBdEhiIOPqRsSuvVx] [-c cmd | -m mod | file | -] [-W arg] [-X opt]
  python: { takesValue: /^-[WXQ]$/, noFile: /^-[a-zA-Z]*[cm]/, attached: /^-[WXQ]./ },
  // perl [-e|-E code] [-I dir] [-M/-m mod] … file; -x, -n, -p keep reading a file
  perl: { takesValue: /^-[IlMmdDC]$/, noFile: /^-[a-zA-Z]*[eE]/, attached: /^-[IlMmdDC]./ },
  // ruby [-e code] [-I dir] [-r lib] [-C dir] [-E enc] file
  ruby: { takesValue: /^-[IrCEx]$/, noFile: /^-[a-zA-Z]*e/, attached: /^-[IrCEx]./ },
  // php [-f file] [-r code] [-c ini] [-d k=v] [-z ext] file
  php: { takesValue: /^-[cdz]$/, noFile: /^-[rBRFEa]/, attached: /^-[cdz]./ },
  // node [--require x | -r x] [--eval|-e|--print|-p code] file
  node: {
    takesValue: /^(-r|--require|--import|--loader|--experimental-loader|-C|--conditions)$/,
    noFile: /^(-e|--eval|-p|--print|-i|--interactive)$/,
    attached: /^--[a-z-]+=/,
  },
};

/**
 * The script an interpreter's argument vector names: the first argument that
 * is not an option or an option's value. A code string (`-c`, `-e`, `-r`), a
 * module (`python -m`) or standard input (`-`, or no script at all) is
 * reported as unknown, not guessed.
 *
 * @example Options skipped, a module not guessed
 * ```ts
 * import { scriptArgument } from "./scripts.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(scriptArgument("python", ["python3", "-u", "-W", "ignore", "app.py", "--port", "8"]), { path: "app.py" });
 * assertEquals(scriptArgument("python", ["python3", "-m", "http.server"]), { unknown: "it runs -m http.server, not a file" });
 * assertEquals(scriptArgument("node", ["node", "--require", "x", "/srv/index.js"]), { path: "/srv/index.js" });
 * ```
 */
export function scriptArgument(kind: Interpreter, argv: readonly string[]): ScriptArgument {
  const rules = RULES[kind];
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      const next = argv[i + 1];
      return next === undefined || next === "-"
        ? { unknown: "it reads its script from standard input" }
        : { path: next };
    }
    if (arg === "-") return { unknown: "it reads its script from standard input" };
    if (!arg.startsWith("-")) return { path: arg };
    if (kind === "php" && arg === "-f") {
      const next = argv[i + 1];
      return next === undefined ? { unknown: "-f names no file" } : { path: next };
    }
    // An option with its value attached first: `-Wcustom` is no `-c`.
    if (rules.attached.test(arg)) continue;
    if (rules.noFile.test(arg)) {
      const value = argv[i + 1];
      return { unknown: `it runs ${arg}${value === undefined ? "" : ` ${value}`}, not a file` };
    }
    if (rules.takesValue.test(arg)) i++;
  }
  return { unknown: "it reads its script from standard input" };
}

/**
 * When a process started, in milliseconds since the epoch: field 22 of
 * `/proc/PID/stat` (clock ticks after boot; USER_HZ is 100 on Linux) plus
 * the boot time in milliseconds ({@linkcode bootTimeMs}). Null when it cannot be told.
 */
export function processStart(stat: string, bootMs: number): number | null {
  // The command name, field 2, is in parentheses and may hold anything: count after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[19]);
  if (!Number.isFinite(ticks)) return null;
  return bootMs + ticks * 10;
}

/**
 * The boot time in milliseconds since the epoch, from `/proc/uptime` (seconds
 * since boot, to the hundredth) and the clock now: `btime` of `/proc/stat`
 * is whole seconds, up to a second early, which would make a script written
 * just before its process started look changed after. Null when unreadable.
 */
export function bootTimeMs(uptime: string, nowMs: number): number | null {
  const seconds = Number(uptime.split(" ", 1)[0]);
  return Number.isFinite(seconds) && seconds > 0 ? nowMs - seconds * 1000 : null;
}
