/**
 * Which kernel the boot loader starts next: GRUB's menu and its default
 * (`grub.cfg` with `grubenv`), Boot Loader Specification entries (read by
 * GRUB's `blscfg` or by systemd-boot) and systemd-boot's `loader.conf`.
 * Read-only, no subprocess: a few small files under the root, each bounded,
 * each asked of Deno's permissions first. Where the default cannot be told
 * exactly, the answer is null with the reason, never a guess.
 *
 * @module
 */

import { isGranted } from "../proc/permissions.ts";
import {
  isRegularFile,
  isUnread,
  listDirectory,
  readSmallFile,
  readSmallText,
} from "./bounded_read.ts";

/** Who chose the default entry: GRUB's own menu, an entry file (BLS), or systemd-boot. */
export type BootSource = "grub" | "bls" | "systemd-boot";

/** The boot loader's default entry, as its configuration names it. */
export interface BootDefault {
  /** Who chose it: `grub` (a `menuentry`), `bls` (an entry file GRUB read), `systemd-boot`. */
  readonly source: BootSource;
  /** GRUB's titles from the top menu down, joined by `>`; or the entry file's name. */
  readonly entry: string;
  /** How it was chosen, e.g. `saved_entry in boot/grub/grubenv`, `default="0"`, `the first entry`. */
  readonly via: string;
  /** The kernel image as the entry names it, e.g. `/vmlinuz-6.1.0-9-amd64`. */
  readonly image: string;
  /** That image's file under the root. */
  readonly path: string;
  /** The release the entry names (BLS `version`, else the image's name after `vmlinuz-`), or null. */
  readonly release: string | null;
}

/** The boot loader's default, or null with why it is not known. */
export interface BootLoaderAnswer {
  /** The default entry, when it could be told exactly. */
  readonly boots: BootDefault | null;
  /** Why `boots` is null (empty when it is not). */
  readonly reason: string;
}

/** What is read at most: a grub.cfg, a grubenv or entry file, an EFI variable; entries listed. */
const CONFIG_BYTES = 1 << 20;
const SMALL_BYTES = 64 << 10;
const EFIVAR_BYTES = 4096;
const MAX_ENTRIES = 512;
/** Deeper submenus than this are not followed (GRUB's own menus are one deep). */
const MAX_DEPTH = 8;
/** systemd's vendor GUID for the Boot Loader Interface's EFI variables. */
const LOADER_GUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

// ---------------------------------------------------------------- GRUB

/** A GRUB `menuentry`. */
export interface GrubEntry {
  readonly kind: "entry";
  /** The title, as the menu shows it. */
  readonly title: string;
  /** `--id` (or `$menuentry_id_option`), else the title, as GRUB defaults it. */
  readonly id: string;
  /** The first `linux` (`linuxefi`, `linux16`) argument, or Xen's first `module`; null if none. */
  readonly image: string | null;
}

/** A GRUB `submenu`. */
export interface GrubSubmenu {
  readonly kind: "submenu";
  /** The title, as the menu shows it. */
  readonly title: string;
  /** `--id`, else the title. */
  readonly id: string;
  /** Its menu, in order. */
  readonly items: readonly GrubItem[];
}

/** An item of a GRUB menu; `blscfg` stands where GRUB inserts the BLS entries. */
export type GrubItem = GrubEntry | GrubSubmenu | { readonly kind: "blscfg" };

/** What `grub.cfg` says about the menu and its default. */
export interface GrubConfig {
  /** The top menu, in order. */
  readonly items: readonly GrubItem[];
  /** The commands outside any block (`if`, `set`, …), in order, as words, unexpanded. */
  readonly commands: readonly (readonly string[])[];
  /** Whether it loads `grubenv` (`load_env`): only then do `saved_entry` and `next_entry` count. */
  readonly loadsEnv: boolean;
}

/**
 * Splits one line of GRUB script into words: quotes removed (`'…'` literal,
 * `"…"` with `\` escapes), `;` ends a command, `#` at a word's start a
 * comment. Variables are not expanded.
 */
function grubCommands(line: string): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let word = "";
  let inWord = false;
  const end = () => {
    if (inWord) words.push(word);
    word = "";
    inWord = false;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const close = line.indexOf("'", i + 1);
      word += line.slice(i + 1, close < 0 ? line.length : close);
      inWord = true;
      i = close < 0 ? line.length : close;
    } else if (c === '"') {
      inWord = true;
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === "\\" && '$"\\'.includes(line[i + 1] ?? "x")) i++;
        word += line[i];
      }
    } else if (c === "\\") {
      word += line[++i] ?? "";
      inWord = true;
    } else if (c === "#" && !inWord) break;
    else if (c === " " || c === "\t" || c === "\r" || c === ";") {
      end();
      if (c === ";" && words.length > 0) {
        commands.push(words);
        words = [];
      }
    } else {
      word += c;
      inWord = true;
    }
  }
  end();
  if (words.length > 0) commands.push(words);
  return commands;
}

/** A block being read: a menu (the top, a submenu), an entry, or anything else (`function`). */
type Frame =
  | { kind: "menu"; items: GrubItem[]; title: string; id: string }
  | { kind: "entry"; title: string; id: string; image: string | null; xen: boolean }
  | { kind: "other" };

/** The title and id of a `menuentry`/`submenu` command's words. */
function titleAndId(words: readonly string[]): { title: string; id: string } | null {
  let title: string | null = null;
  let id: string | null = null;
  for (let i = 1; i < words.length; i++) {
    const word = words[i]!;
    if (word === "--id" || word === "$menuentry_id_option" || word === "${menuentry_id_option}") {
      id = words[++i] ?? null;
    } else if (word.startsWith("--id=")) id = word.slice(5);
    else if (["--class", "--users", "--hotkey", "--source"].includes(word)) i++;
    else if (word.startsWith("--")) continue;
    else if (title === null) title = word;
  }
  return title === null ? null : { title, id: id ?? title };
}

/** An entry's kernel: `linux`, or under Xen (`multiboot`) its first `module`. */
function noteImage(frame: Frame & { kind: "entry" }, words: readonly string[]): void {
  const [command] = words;
  if (command === "multiboot" || command === "multiboot2") frame.xen = true;
  const linux = command === "linux" || command === "linuxefi" || command === "linux16";
  const module = frame.xen && (command === "module" || command === "module2");
  if (frame.image !== null || !(linux || module)) return;
  const argument = words.slice(1).find((word) => !word.startsWith("--"));
  // A device prefix, `(hd0,gpt2)/vmlinuz-…`, names the partition, not the path.
  if (argument !== undefined) frame.image = argument.replace(/^\([^)]*\)/, "");
}

/**
 * Parses `grub.cfg`: the menu (entries, submenus, where `blscfg` inserts the
 * BLS entries), the top-level `set default=` values, and whether `grubenv`
 * is loaded. Null when its braces do not balance (not a file GRUB reads).
 *
 * @example A Debian-like menu with a submenu
 * ```ts
 * import { parseGrubConfig } from "./boot_loader.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const config = parseGrubConfig(`
 * load_env
 * set default="\${saved_entry}"
 * menuentry 'Debian GNU/Linux' $menuentry_id_option 'gnulinux-simple-x' {
 *   linux /boot/vmlinuz-6.1.0-10-amd64 root=UUID=x ro quiet
 * }
 * submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-x' {
 *   menuentry 'Debian GNU/Linux, with Linux 6.1.0-9-amd64' $menuentry_id_option 'gnulinux-6.1.0-9-amd64-advanced-x' {
 *     linux /boot/vmlinuz-6.1.0-9-amd64 root=UUID=x ro quiet
 *   }
 * }`);
 * assertEquals(config?.commands[1], ["set", "default=${saved_entry}"]);
 * assertEquals(config?.items.map((item) => item.kind), ["entry", "submenu"]);
 * ```
 */
export function parseGrubConfig(text: string): GrubConfig | null {
  const top: Frame & { kind: "menu" } = { kind: "menu", items: [], title: "", id: "" };
  const stack: Frame[] = [top];
  const commands: string[][] = [];
  let loadsEnv = false;
  for (const line of text.split("\n")) {
    for (const piece of grubCommands(line).flatMap(atBraces)) {
      const frame = stack.at(-1)!;
      if (piece.brace === "}") {
        if (stack.length === 1) return null;
        closeFrame(stack);
        continue;
      }
      const { words } = piece;
      if (piece.brace === "{") {
        stack.push(openFrame(words, frame));
        continue;
      }
      if (frame.kind === "entry") noteImage(frame, words);
      if (stack.length > 1 || words.length === 0) continue;
      if (words[0] === "load_env") loadsEnv = true;
      if (words[0] === "blscfg") top.items.push({ kind: "blscfg" });
      // `then insmod x` is two commands: the keyword, and the command it starts.
      if (["then", "else", "do"].includes(words[0]!) && words.length > 1) {
        commands.push([words[0]!], words.slice(1));
      } else commands.push(words);
    }
  }
  return stack.length === 1 ? { items: top.items, commands, loadsEnv } : null;
}

/**
 * One command's words cut at its braces: the words before a `{` open a
 * block, a `}` closes one, so that `menuentry 'x' { linux /vmlinuz-… }` on
 * one line reads as it would on three.
 */
function atBraces(words: readonly string[]): { words: string[]; brace: "{" | "}" | null }[] {
  const pieces: { words: string[]; brace: "{" | "}" | null }[] = [];
  let current: string[] = [];
  for (const word of words) {
    if (word !== "{" && word !== "}") {
      current.push(word);
      continue;
    }
    if (word === "{") pieces.push({ words: current, brace: "{" });
    else {
      if (current.length > 0) pieces.push({ words: current, brace: null });
      pieces.push({ words: [], brace: "}" });
    }
    current = [];
  }
  if (current.length > 0) pieces.push({ words: current, brace: null });
  return pieces;
}

/** The frame the words before a `{` open: an entry or submenu of a menu, else a block that adds nothing. */
function openFrame(words: readonly string[], parent: Frame): Frame {
  const names = titleAndId(words);
  if (parent.kind !== "menu" || names === null) return { kind: "other" };
  if (words[0] === "menuentry") return { kind: "entry", ...names, image: null, xen: false };
  if (words[0] === "submenu") return { kind: "menu", ...names, items: [] };
  return { kind: "other" };
}

/** Closes the innermost block, adding an entry or submenu to the menu around it. */
function closeFrame(stack: Frame[]): void {
  const frame = stack.pop()!;
  const parent = stack.at(-1)!;
  if (parent.kind !== "menu") return;
  if (frame.kind === "entry") {
    parent.items.push({ kind: "entry", title: frame.title, id: frame.id, image: frame.image });
  } else if (frame.kind === "menu") {
    parent.items.push({ kind: "submenu", title: frame.title, id: frame.id, items: frame.items });
  }
}

/**
 * Parses `grubenv` (`# GRUB Environment Block`, then `NAME=VALUE` lines,
 * padded with `#` to 1024 bytes) into its variables.
 *
 * @example
 * ```ts
 * import { parseGrubEnv } from "./boot_loader.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const env = parseGrubEnv("# GRUB Environment Block\nsaved_entry=gnulinux-advanced-x>gnulinux-6.1.0-9-amd64-advanced-x\n####");
 * assertEquals(env.saved_entry, "gnulinux-advanced-x>gnulinux-6.1.0-9-amd64-advanced-x");
 * ```
 */
export function parseGrubEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    // grub-editenv escapes `\` and newlines with a backslash.
    if (match) env[match[1]!] = match[2]!.replace(/\\(.)/g, (_, c: string) => c === "n" ? "\n" : c);
  }
  return env;
}

/** The default GRUB will boot: the entry, its titles from the top, and how it was chosen. */
export interface GrubChoice {
  /** The chosen entry (from a `menuentry`, or from a BLS file when `bls` is set). */
  readonly entry: GrubEntry;
  /** The titles from the top menu down to it. */
  readonly titles: readonly string[];
  /** How the default was chosen. */
  readonly via: string;
  /** The BLS entry it came from, when `blscfg` made it. */
  readonly bls: BlsEntry | null;
}

/** A variable's value while the script is evaluated: text, or null where it cannot be known. */
type Env = Map<string, string | null>;

/** Variables GRUB sets itself (platform, features, paths): their values are not known here. */
const GRUB_OWN =
  /^(feature_|grub_|net_)|^(prefix|root|cmdpath|config_directory|config_file|\?|[0-9]+)$/;

/** A word with `$NAME` and `${NAME}` expanded; null when a value is not known. */
function expand(word: string, env: Env): string | null {
  let unknown = false;
  const text = word.replace(/\$(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*|\?|[0-9]+))/g, (_, a, b) => {
    const name = (a ?? b) as string;
    const value = env.has(name) ? env.get(name)! : GRUB_OWN.test(name) ? null : "";
    if (value === null) unknown = true;
    return value ?? "";
  });
  return unknown ? null : text;
}

/**
 * The value of an `if` condition: a `[ … ]` test of strings (`-n`, `-z`, a
 * word, `=`, `==`, `!=`, joined by `-a` and `-o`); null for anything else
 * (files, commands, GRUB's own variables).
 */
function condition(words: readonly string[], env: Env): boolean | null {
  if (words[0] !== "[" || words.at(-1) !== "]") return null;
  const terms: (boolean | "-a" | "-o")[] = [];
  const inner = words.slice(1, -1);
  for (let i = 0; i < inner.length;) {
    const [a, b, c] = [inner[i]!, inner[i + 1], inner[i + 2]];
    if (a === "-a" || a === "-o") {
      terms.push(a);
      i++;
    } else if ((a === "-n" || a === "-z") && b !== undefined) {
      const value = expand(b, env);
      if (value === null) return null;
      terms.push((value !== "") === (a === "-n"));
      i += 2;
    } else if (b === "=" || b === "==" || b === "!=") {
      const [x, y] = [expand(a, env), expand(c ?? "", env)];
      if (x === null || y === null || c === undefined) return null;
      terms.push((x === y) === (b !== "!="));
      i += 3;
    } else if (a.startsWith("-")) return null;
    else {
      const value = expand(a, env);
      if (value === null) return null;
      terms.push(value !== "");
      i++;
    }
  }
  // `-a` binds closer than `-o`: the ORs of the ANDed runs.
  return terms.join(" ").split(" -o ").some((run) => run.split(" -a ").every((t) => t === "true"));
}

/** How a branch runs: surely, not at all, or perhaps (a condition that cannot be evaluated). */
type Mode = "run" | "skip" | "maybe";

/**
 * Runs the top-level commands as far as the default needs: `set` (and
 * `NAME=VALUE`), `unset`, and `if`/`elif`/`else`/`fi` whose conditions can be
 * evaluated; a variable set in a branch that may or may not run is unknown.
 * The environment starts as `grubenv` when the script loads it.
 */
function runScript(config: GrubConfig, grubenv: Readonly<Record<string, string>>): Env {
  const env: Env = new Map(config.loadsEnv ? Object.entries(grubenv) : []);
  const frames: { parent: Mode; taken: boolean | "maybe"; mode: Mode }[] = [];
  const mode = (): Mode => frames.at(-1)?.mode ?? "run";
  const branch = (frame: (typeof frames)[number], holds: boolean | null) => {
    const open = frame.parent !== "skip" && frame.taken !== true && holds !== false;
    frame.mode = !open ? "skip" : holds === true && frame.taken === false ? frame.parent : "maybe";
    if (frame.mode === "run") frame.taken = true;
    else if (frame.mode === "maybe") frame.taken = frame.taken === true ? true : "maybe";
  };
  for (const words of config.commands) {
    const [command] = words;
    if (command === "if") {
      const frame = { parent: mode(), taken: false as boolean | "maybe", mode: "skip" as Mode };
      frames.push(frame);
      branch(frame, condition(words.slice(1), env));
    } else if (command === "elif" && frames.length > 0) {
      branch(frames.at(-1)!, condition(words.slice(1), env));
    } else if (command === "else" && frames.length > 0) branch(frames.at(-1)!, true);
    else if (command === "fi") frames.pop();
    else if (mode() !== "skip") assign(words, env, mode() === "maybe");
  }
  return env;
}

/** `set NAME=VALUE`, `NAME=VALUE` or `unset NAME`; in a branch that may not run, the value is unknown. */
function assign(words: readonly string[], env: Env, perhaps: boolean): void {
  const [command, argument] = words;
  if (command === "unset" && argument !== undefined) {
    if (perhaps) env.set(argument, null);
    else env.delete(argument);
    return;
  }
  const text = command === "set" ? argument : command;
  const match = text === undefined ? null : /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(text);
  if (!match) return;
  const [, name, value] = match;
  env.set(name!, perhaps ? null : expand(value!, env));
  // Where the default came from, for `via`: the variable it names, or its text.
  if (name === "default") env.set(" via", perhaps ? null : value!);
}

/** The `default` GRUB ends up with, and how it was chosen; an unknown one when it cannot be told. */
function grubDefaultSpec(
  config: GrubConfig,
  grubenv: Readonly<Record<string, string>>,
): { spec: string | null; via: string } | null {
  const env = runScript(config, grubenv);
  if (!env.has("default")) return { spec: null, via: "no default set: the first entry" };
  const spec = env.get("default");
  if (spec === null || spec === undefined) return null;
  const from = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(env.get(" via") ?? "")?.[1];
  const via = from === undefined || !(from in grubenv)
    ? `default="${env.get(" via")}"`
    : `${from} in grubenv${from === "next_entry" ? " (this boot only)" : ""}`;
  return spec === ""
    ? { spec: null, via: `${from ?? "default"} empty: the first entry` }
    : { spec, via };
}

/** The first component of a default (`>` separates submenus, `>>` is a `>`), and the rest. */
function splitSpec(spec: string): { head: string; rest: string | null } {
  let head = "";
  for (let i = 0; i < spec.length; i++) {
    if (spec[i] === ">" && spec[i + 1] === ">") head += spec[++i];
    else if (spec[i] === ">") return { head, rest: spec.slice(i + 1) || null };
    else head += spec[i];
  }
  return { head, rest: null };
}

/**
 * The index GRUB picks in one menu for a default; -1 for none. Upstream GRUB
 * (Debian, Ubuntu) reads a number first, as C's `strtoul` does (so `1>2` is
 * 1 here, and `0abc` is 0), else the first item whose title or id is the
 * first component. Fedora's GRUB (the one with `blscfg`) looks for an id
 * first, then a title, then a number that is the whole value: a BLS id may
 * start with a digit.
 */
function grubIndex(items: readonly GrubItem[], spec: string, fedora: boolean): number {
  const { head } = splitSpec(spec);
  const named = (by: "id" | "title") =>
    items.findIndex((item) => item.kind !== "blscfg" && item[by] === head);
  if (fedora) {
    const found = named("id");
    if (found >= 0) return found;
    const titled = named("title");
    if (titled >= 0) return titled;
    return /^\s*[0-9]+\s*$/.test(spec) ? parseInt(spec, 10) : -1;
  }
  const number = /^\s*(?:0[xX]([0-9a-fA-F]+)|([1-9][0-9]*)|(0[0-7]*))/.exec(spec);
  if (number) {
    const [, hex, decimal, octal] = number;
    return hex ? parseInt(hex, 16) : decimal ? parseInt(decimal, 10) : parseInt(octal!, 8) || 0;
  }
  return items.findIndex((item) =>
    item.kind !== "blscfg" && (item.title === head || item.id === head)
  );
}

/**
 * The entry GRUB boots by default, as `grub/normal/menu.c` chooses it. The
 * top-level commands are run as far as they can be (`set`, and `if` on
 * string tests of variables: `next_entry` once, else `${saved_entry}`, from
 * `grubenv` when the script loads it); a default set where a condition cannot
 * be evaluated is not known (a string says why). The default is looked up in
 * the top menu (a number, else a title or id); one that names nothing, or
 * none, is the first entry; a submenu continues with what follows the `>`,
 * or its own first entry. `blscfg` stands for the BLS entries, in `bls` order.
 *
 * @example `saved_entry` pins an older kernel in the submenu
 * ```ts
 * import { parseGrubConfig, resolveGrubDefault } from "./boot_loader.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const config = parseGrubConfig(`load_env
 * set default="\${saved_entry}"
 * menuentry 'Debian' --id simple { linux /vmlinuz-6.1.0-10-amd64 }
 * submenu 'Advanced' --id advanced {
 *   menuentry 'Debian, with Linux 6.1.0-10-amd64' --id new { linux /vmlinuz-6.1.0-10-amd64 }
 *   menuentry 'Debian, with Linux 6.1.0-9-amd64' --id old { linux /vmlinuz-6.1.0-9-amd64 }
 * }`)!;
 * const choice = resolveGrubDefault(config, { saved_entry: "advanced>old" });
 * if (typeof choice === "string") throw new Error(choice);
 * assertEquals(choice.entry.image, "/vmlinuz-6.1.0-9-amd64");
 * assertEquals(choice.titles, ["Advanced", "Debian, with Linux 6.1.0-9-amd64"]);
 * ```
 */
export function resolveGrubDefault(
  config: GrubConfig,
  env: Readonly<Record<string, string>>,
  bls: readonly BlsEntry[] = [],
): GrubChoice | string {
  const chosen = grubDefaultSpec(config, env);
  if (chosen === null) return "it sets default under a condition that cannot be evaluated here";
  let { spec, via } = chosen;
  const fromBls = new Map<GrubItem, BlsEntry>();
  let items: readonly GrubItem[] = config.items.flatMap((item): GrubItem[] => {
    if (item.kind !== "blscfg") return [item];
    return bls.map((entry) => {
      const made: GrubEntry = {
        kind: "entry",
        title: entry.title ?? entry.id,
        id: entry.id,
        image: entry.linux,
      };
      fromBls.set(made, entry);
      return made;
    });
  });
  const fedora = config.items.some((item) => item.kind === "blscfg");
  const titles: string[] = [];
  for (let depth = 0; depth < MAX_DEPTH && items.length > 0; depth++) {
    let index = spec === null ? 0 : grubIndex(items, spec, fedora);
    if (index < 0 || index >= items.length) {
      via += ` (${JSON.stringify(spec)} names no entry: the first)`;
      index = 0;
    }
    const item = items[index]!;
    if (item.kind === "blscfg") break;
    titles.push(item.title);
    if (item.kind === "entry") return { entry: item, titles, via, bls: fromBls.get(item) ?? null };
    spec = spec === null ? null : splitSpec(spec).rest;
    items = item.items;
  }
  return titles.length === 0 ? "no menu entry to boot" : "an empty submenu, or one nested too deep";
}

// ---------------------------------------------------------------- Boot Loader Specification

/** A Boot Loader Specification entry (`loader/entries/*.conf`). */
export interface BlsEntry {
  /** The file's name. */
  readonly file: string;
  /** The name without `.conf` and without a boot counter (`+3-1`). */
  readonly id: string;
  /** The `title` key, or null. */
  readonly title: string | null;
  /** The `version` key (the kernel's release, for kernel-install's entries), or null. */
  readonly version: string | null;
  /** The `machine-id` key, or null. */
  readonly machineId: string | null;
  /** The `sort-key` key, or null. */
  readonly sortKey: string | null;
  /** The kernel image, relative to the partition the entry is on. */
  readonly linux: string | null;
  /** Tries left by boot counting (`+LEFT-DONE` in the name); null without counting. */
  readonly triesLeft: number | null;
}

/**
 * Parses one entry file: `KEY VALUE` lines, `#` comments; the last value of
 * a key counts.
 *
 * @example A Fedora entry
 * ```ts
 * import { parseBlsEntry } from "./boot_loader.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const entry = parseBlsEntry(
 *   "title Fedora Linux (6.5.6-300.fc39.x86_64) 39\nversion 6.5.6-300.fc39.x86_64\nlinux /vmlinuz-6.5.6-300.fc39.x86_64\n",
 *   "0123-6.5.6-300.fc39.x86_64+2-1.conf",
 * );
 * assertEquals([entry.id, entry.version, entry.triesLeft], ["0123-6.5.6-300.fc39.x86_64", "6.5.6-300.fc39.x86_64", 2]);
 * ```
 */
export function parseBlsEntry(text: string, file: string): BlsEntry {
  const keys = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^\s*([a-z][a-z0-9_-]*)[ \t]+(.*?)\s*$/.exec(line);
    if (match) keys.set(match[1]!, match[2]!);
  }
  const counted = /^(.*)\+(\d+)(?:-\d+)?\.conf$/i.exec(file);
  const id = counted ? counted[1]! : file.replace(/\.conf$/i, "");
  return {
    file,
    id,
    title: keys.get("title") ?? null,
    version: keys.get("version") ?? null,
    machineId: keys.get("machine-id") ?? null,
    sortKey: keys.get("sort-key") ?? null,
    linux: keys.get("linux") ?? null,
    triesLeft: counted ? Number(counted[2]) : null,
  };
}

/**
 * Compares versions as the UAPI version format (and systemd's
 * `strverscmp_improved`) does: segments of digits or letters, `~` oldest,
 * then the end, then `-`, `^`, `.`; other characters separate.
 */
function compareUapi(a: string, b: string): number {
  const valid = /[A-Za-z0-9~^.-]/;
  let i = 0;
  let j = 0;
  for (;;) {
    while (i < a.length && !valid.test(a[i]!)) i++;
    while (j < b.length && !valid.test(b[j]!)) j++;
    const start = i + j;
    // A `~` segment is older than anything, even the end.
    if (a[i] === "~" || b[j] === "~") {
      if (a[i] !== b[j]) return a[i] === "~" ? -1 : 1;
      i++;
      j++;
    }
    // Else the longer is newer.
    if (i >= a.length || j >= b.length) return Number(i < a.length) - Number(j < b.length);
    // A segment after `-`, `^` or `.` is older than one without, in that order.
    for (const prefix of ["-", "^", "."]) {
      if (a[i] !== prefix && b[j] !== prefix) continue;
      if (a[i] !== b[j]) return a[i] === prefix ? -1 : 1;
      i++;
      j++;
    }
    const digits = /[0-9]/.test(a[i] ?? "") || /[0-9]/.test(b[j] ?? "");
    const run = digits ? /^[0-9]*/ : /^[A-Za-z]*/;
    const ra = run.exec(a.slice(i))![0];
    const rb = run.exec(b.slice(j))![0];
    i += ra.length;
    j += rb.length;
    const order = digits ? compareDigits(ra, rb) : compareLetters(ra, rb);
    if (order !== 0) return order;
    if (i + j === start) return 0; // no progress: nothing left that orders them
  }
}

function compareDigits(a: string, b: string): number {
  if ((a === "") !== (b === "")) return a === "" ? -1 : 1;
  const x = a.replace(/^0+/, "");
  const y = b.replace(/^0+/, "");
  return x.length !== y.length ? x.length - y.length : x < y ? -1 : x > y ? 1 : 0;
}

function compareLetters(a: string, b: string): number {
  const common = Math.min(a.length, b.length);
  const x = a.slice(0, common);
  const y = b.slice(0, common);
  return x < y ? -1 : x > y ? 1 : a.length - b.length;
}

/** `strcmp` with null first, as systemd-boot compares keys that may be missing. */
function compareText(a: string | null, b: string | null): number {
  if (a === null || b === null) return (a === null ? 0 : 1) - (b === null ? 0 : 1);
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Sorts entries as systemd-boot shows them (the specification's order): no
 * tries left last; entries with a `sort-key` first, by `sort-key`, then
 * `machine-id`, then `version` newest first; then by id, newest first.
 * systemd-boot's default is the first, unless configured otherwise.
 *
 * @example Newest first, a sort key before none
 * ```ts
 * import { parseBlsEntry, sortBlsEntries } from "./boot_loader.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const entries = [
 *   parseBlsEntry("sort-key debian\nversion 6.1.0-9-amd64", "a-6.1.0-9.conf"),
 *   parseBlsEntry("version 7", "other.conf"),
 *   parseBlsEntry("sort-key debian\nversion 6.1.0-10-amd64", "a-6.1.0-10.conf"),
 * ];
 * assertEquals(sortBlsEntries(entries).map((e) => e.file), ["a-6.1.0-10.conf", "a-6.1.0-9.conf", "other.conf"]);
 * ```
 */
export function sortBlsEntries(entries: readonly BlsEntry[]): BlsEntry[] {
  return [...entries].sort((a, b) =>
    Number(a.triesLeft === 0) - Number(b.triesLeft === 0) ||
    Number(a.sortKey === null) - Number(b.sortKey === null) ||
    (a.sortKey !== null && b.sortKey !== null
      ? compareText(a.sortKey, b.sortKey) || compareText(a.machineId, b.machineId) ||
        -compareUapi(a.version ?? "", b.version ?? "")
      : 0) ||
    -compareUapi(a.id, b.id)
  );
}

/** The entries GRUB's `blscfg` lists: newest `version` first, then by name. */
function grubBlsOrder(entries: readonly BlsEntry[]): BlsEntry[] {
  return [...entries].sort((a, b) =>
    Number(a.version === null) - Number(b.version === null) ||
    -compareUapi(a.version ?? "", b.version ?? "") || -compareUapi(a.id, b.id)
  );
}

/**
 * The `default` of systemd-boot's `loader.conf` (a glob of entry names, or
 * `@saved`), or null when it sets none.
 *
 * @example
 * ```ts
 * import { parseLoaderConf } from "./boot_loader.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(parseLoaderConf("timeout 3\n#default x\ndefault debian-*\n"), "debian-*");
 * ```
 */
export function parseLoaderConf(text: string): string | null {
  let found: string | null = null;
  for (const line of text.split("\n")) {
    const match = /^\s*default[ \t]+(\S.*?)\s*$/.exec(line);
    if (match) found = match[1]!;
  }
  return found;
}

/** Whether an entry matches a systemd-boot pattern (`*`, `?`, `[…]`; case ignored), with or without `.conf`. */
function matchesPattern(entry: BlsEntry, pattern: string): boolean {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    const close = c === "[" ? pattern.indexOf("]", i + 2) : -1;
    if (c === "*") source += ".*";
    else if (c === "?") source += ".";
    else if (close > 0) {
      source += `[${pattern.slice(i + 1, close).replace(/[\\\]^]/g, "\\$&")}]`;
      i = close;
    } else source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  const glob = new RegExp(`^${source}$`, "i");
  return [entry.file, `${entry.id}.conf`, entry.id].some((name) => glob.test(name));
}

// ---------------------------------------------------------------- reading a root

/** An EFI variable of systemd's Boot Loader Interface (a UTF-16 string), or null. */
function readLoaderVariable(root: string, name: string): string | null {
  const bytes = readSmallFile(
    `${root}/sys/firmware/efi/efivars/${name}-${LOADER_GUID}`,
    EFIVAR_BYTES,
  );
  // Four bytes of attributes, then UTF-16LE, perhaps NUL-terminated.
  if (isUnread(bytes) || bytes.length < 6 || bytes.length % 2 !== 0) return null;
  const text = new TextDecoder("utf-16le").decode(bytes.subarray(4)).replace(/\0.*$/s, "");
  return text === "" ? null : text;
}

/** The places an EFI system partition (or XBOOTLDR) is mounted, under the root. */
const BOOT_PARTITIONS = ["efi", "boot/efi", "boot"] as const;

/** The entry files of every boot partition, each directory once, within bounds. */
function readEntries(root: string): { entries: (BlsEntry & { base: string })[]; notes: string[] } {
  const entries: (BlsEntry & { base: string })[] = [];
  const notes: string[] = [];
  const seen = new Set<string>();
  for (const partition of BOOT_PARTITIONS) {
    const directory = `${root}/${partition}/loader/entries`;
    const names = listDirectory(directory, MAX_ENTRIES);
    if (isUnread(names)) {
      if (names.why !== "it does not exist") {
        notes.push(`${partition}/loader/entries: ${names.why}`);
      }
      continue;
    }
    const real = realPath(directory);
    if (seen.has(real)) continue;
    seen.add(real);
    for (const name of names.filter((n) => /\.conf$/i.test(n) && !/^(auto-|\.)/.test(n))) {
      const text = readSmallText(`${directory}/${name}`, SMALL_BYTES);
      if (isUnread(text)) notes.push(`${partition}/loader/entries/${name}: ${text.why}`);
      else entries.push({ ...parseBlsEntry(text, name), base: `${root}/${partition}` });
    }
  }
  return { entries, notes };
}

function realPath(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    return path;
  }
}

/** The image's file: relative to the partition the configuration is on, or to the root. */
function findImage(root: string, base: string, image: string): string | null {
  const candidates = [`${base}${image}`, `${root}${image}`, `${root}/boot${image}`];
  // A btrfs subvolume prefix (`/@/boot/vmlinuz-…`) names the subvolume, not a directory.
  const boot = image.indexOf("/boot/");
  if (boot > 0) candidates.push(`${root}${image.slice(boot)}`);
  return candidates.find((path) => !path.includes("/../") && isRegularFile(path)) ?? null;
}

/** The release in an image's name (`vmlinuz-6.1.0-9-amd64`), or null. */
function releaseFromImage(image: string): string | null {
  const name = /(?:^|\/)vmlinu[xz]-([^/]+)$/.exec(image)?.[1];
  return name !== undefined && /[0-9]/.test(name) ? name : null;
}

/** A default found, or why its kernel is not known. */
function answer(
  root: string,
  base: string,
  found: { source: BootSource; entry: string; via: string; image: string | null },
  version: string | null,
): BootLoaderAnswer {
  const named = `${found.source} entry ${JSON.stringify(found.entry)}`;
  if (found.image === null) return { boots: null, reason: `${named} boots no Linux kernel` };
  const path = findImage(root, base, found.image);
  if (path === null) {
    return { boots: null, reason: `${named} boots ${found.image}, which is not there` };
  }
  const release = version ?? releaseFromImage(found.image);
  return { boots: { ...found, image: found.image, path, release }, reason: "" };
}

/** GRUB's default, from `grub.cfg`, `grubenv` and, for `blscfg`, the entry files. */
function grubDefault(root: string, directory: string): BootLoaderAnswer {
  const text = readSmallText(`${root}/${directory}/grub.cfg`, CONFIG_BYTES);
  if (isUnread(text)) return { boots: null, reason: `${directory}/grub.cfg: ${text.why}` };
  const config = parseGrubConfig(text);
  if (config === null) {
    return { boots: null, reason: `${directory}/grub.cfg: its braces do not balance` };
  }
  // A file it sources may set the default or add entries; it is not read (Debian's custom.cfg).
  const sourced = sourcedFiles(text).find((file) => isRegularFile(`${root}/${directory}/${file}`));
  if (sourced !== undefined) {
    return {
      boots: null,
      reason: `${directory}/grub.cfg sources ${directory}/${sourced}, which is not read`,
    };
  }
  const envText = readSmallText(`${root}/${directory}/grubenv`, SMALL_BYTES);
  const env = isUnread(envText) ? {} : parseGrubEnv(envText);
  const { entries, notes } = config.items.some((item) => item.kind === "blscfg")
    ? readEntries(root)
    : { entries: [], notes: [] };
  const choice = resolveGrubDefault(config, env, grubBlsOrder(entries));
  if (typeof choice === "string") {
    const why = notes.length > 0 ? ` (${notes.join("; ")})` : "";
    return { boots: null, reason: `${directory}/grub.cfg: ${choice}${why}` };
  }
  const via = choice.via.replace("grubenv", `${directory}/grubenv`);
  const bls = entries.find((entry) => entry === choice.bls);
  return answer(root, bls?.base ?? `${root}/boot`, {
    source: bls ? "bls" : "grub",
    entry: bls ? bls.file : choice.titles.join(">"),
    via,
    image: choice.entry.image,
  }, bls?.version ?? null);
}

/** systemd-boot's default: a one-shot or default EFI variable, `loader.conf`, else the first entry. */
function systemdBootDefault(root: string, loaderConf: string | null): BootLoaderAnswer {
  // systemd-boot also lists unified kernel images, which are not read here: then its
  // order is not known exactly, and a guess would look exact.
  const images = BOOT_PARTITIONS.find((partition) => {
    const names = listDirectory(`${root}/${partition}/EFI/Linux`, MAX_ENTRIES);
    return !isUnread(names) && names.some((name) => /\.efi$/i.test(name));
  });
  if (images !== undefined) {
    return {
      boots: null,
      reason: `systemd-boot also lists the unified kernel images in ${images}/EFI/Linux, which ` +
        "are not read",
    };
  }
  const { entries, notes } = readEntries(root);
  const sorted = sortBlsEntries(entries) as (BlsEntry & { base: string })[];
  if (sorted.length === 0) {
    const why = notes.length > 0 ? `: ${notes.join("; ")}` : "";
    return { boots: null, reason: `systemd-boot has no entry in loader/entries${why}` };
  }
  const configured = loaderConf === null ? null : parseLoaderConf(loaderConf);
  const choices: [string | null, string][] = [
    [readLoaderVariable(root, "LoaderEntryOneShot"), "the EFI variable LoaderEntryOneShot"],
    [readLoaderVariable(root, "LoaderEntryDefault"), "the EFI variable LoaderEntryDefault"],
  ];
  if (configured === "@saved") {
    const saved = readLoaderVariable(root, "LoaderEntryLastBooted");
    if (saved === null) {
      return {
        boots: null,
        reason: "loader.conf says default @saved, and the saved entry cannot be read",
      };
    }
    choices.push([saved, "default @saved (LoaderEntryLastBooted)"]);
  } else if (configured !== null) choices.push([configured, `loader.conf: default ${configured}`]);
  for (const [pattern, via] of choices) {
    const found = pattern === null ? undefined : sorted.find((e) => matchesPattern(e, pattern));
    if (found) return entryAnswer(root, found, via);
  }
  const via = configured === null
    ? "the first entry"
    : `the first entry (no entry matches ${configured})`;
  return entryAnswer(root, sorted[0]!, via);
}

function entryAnswer(
  root: string,
  entry: BlsEntry & { base: string },
  via: string,
): BootLoaderAnswer {
  return answer(root, entry.base, {
    source: "systemd-boot",
    entry: entry.file,
    via,
    image: entry.linux,
  }, entry.version);
}

/** Which loaders are installed under the root, `loader.conf` when there is one, and what could not be asked. */
function installedLoaders(root: string): {
  grub: string | null;
  systemdBoot: boolean;
  loaderConf: string | null;
  denied: string[];
} {
  const grubDirectories = ["boot/grub", "boot/grub2"];
  const grub = grubDirectories.find((d) => isRegularFile(`${root}/${d}/grub.cfg`)) ?? null;
  const denied = grubDirectories.map((d) => `${d}/grub.cfg`)
    .filter((path) => !isGranted({ name: "read", path: `${root}/${path}` }));
  let loaderConf: string | null = null;
  let systemdBoot = false;
  for (const partition of BOOT_PARTITIONS) {
    const conf = readSmallText(`${root}/${partition}/loader/loader.conf`, SMALL_BYTES);
    if (isUnread(conf) && conf.why === "not permitted to read it") {
      denied.push(`${partition}/loader/loader.conf`);
    }
    if (!isUnread(conf) && loaderConf === null) loaderConf = conf;
    const binaries = listDirectory(`${root}/${partition}/EFI/systemd`, MAX_ENTRIES);
    const hasBinary = !isUnread(binaries) && binaries.some((n) => /^systemd-boot.*\.efi$/i.test(n));
    systemdBoot ||= hasBinary || !isUnread(conf);
  }
  return { grub, systemdBoot, loaderConf, denied };
}

/**
 * The boot loader's default entry under a root, where it can be told
 * exactly: GRUB (`boot/grub/grub.cfg` or `boot/grub2/grub.cfg`, with
 * `grubenv`, and BLS entries when it runs `blscfg`), or systemd-boot
 * (`loader/loader.conf` and `loader/entries` in `efi/`, `boot/efi/`, `boot/`;
 * its EFI variables when readable). When both are installed, the EFI variable
 * `LoaderInfo` says which one started this boot; without it, the answer is
 * not known. The entry's image must be there.
 *
 * @example A Debian root whose grubenv pins the running, older kernel
 * ```ts
 * import { findBootDefault } from "./boot_loader.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const { boots } = findBootDefault("testdata/root_grub_pinned");
 * assertEquals([boots?.source, boots?.release], ["grub", "6.1.0-9-amd64"]);
 * ```
 */
export function findBootDefault(root = "/"): BootLoaderAnswer {
  const base = root.replace(/\/+$/, "");
  const { grub, systemdBoot, loaderConf, denied } = installedLoaders(base);
  const running = readLoaderVariable(base, "LoaderInfo");
  if (grub !== null && systemdBoot) {
    if (running?.startsWith("systemd-boot")) return systemdBootDefault(base, loaderConf);
    if (running?.startsWith("GRUB")) return grubDefault(base, grub);
    return {
      boots: null,
      reason: "both GRUB and systemd-boot are installed, and which one starts is not known",
    };
  }
  if (grub !== null) return grubDefault(base, grub);
  if (systemdBoot) return systemdBootDefault(base, loaderConf);
  const asked = denied.length === 0 ? "" : ` (not permitted to read ${denied.join(", ")})`;
  return { boots: null, reason: `no GRUB or systemd-boot configuration found${asked}` };
}

/**
 * The files a `grub.cfg` sources from its own directory
 * (`source ${config_directory}/custom.cfg`, `source $prefix/x.cfg`); others
 * by name as written.
 */
function sourcedFiles(text: string): string[] {
  const files: string[] = [];
  for (const match of text.matchAll(/(?:^|[\s;])source\s+"?([^\s";]+)"?/gm)) {
    const file = match[1]!.replace(/^\$\{?(config_directory|prefix)\}?\//, "");
    files.push(file);
  }
  return files;
}
