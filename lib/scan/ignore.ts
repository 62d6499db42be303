/**
 * Names that end in " (deleted)" but are no files on disk (System V shared
 * memory, memfd, DRM buffers, …), so restarting their users fixes nothing.
 *
 * @module
 */

/**
 * Shell-glob patterns (fnmatch: `*` and `?` also match `/`) of pseudo files that
 * are never reported. A pattern must match the whole name.
 */
export const DEFAULT_IGNORE_PATTERNS: readonly string[] = Object.freeze([
  "/SYSV*",
  "/dev/shm/*",
  "/tmp/orcexec.*",
  "/var/run/nscd/db*",
  "/run/nscd/db*",
  "/memfd:*",
  "/run/user/*/orcexec*",
]);

/** Exact names of pseudo files that are never reported. */
export const DEFAULT_IGNORE_LITERALS: readonly string[] = Object.freeze([
  "/dev/zero",
  "/drm",
  "/drm mm object",
  "/[aio]",
  "/i915",
  "/anon_hugepage",
]);

/** Which names a scan leaves out. */
export interface IgnoreRules {
  /** Shell-glob patterns matched against the whole name. */
  readonly patterns: readonly string[];
  /** Names compared exactly. */
  readonly literals: readonly string[];
}

/** The rules used when a caller gives none. */
export const DEFAULT_IGNORE_RULES: IgnoreRules = Object.freeze({
  patterns: DEFAULT_IGNORE_PATTERNS,
  literals: DEFAULT_IGNORE_LITERALS,
});

/**
 * Translates an fnmatch-style glob into an anchored regular expression:
 * `*` any run of characters, `?` one character, `[...]`/`[!...]` a class;
 * everything else is literal. An unclosed `[` is a literal, as in fnmatch.
 */
export function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === "*") {
      source += "[\\s\\S]*";
    } else if (ch === "?") {
      source += "[\\s\\S]";
    } else if (ch === "[") {
      const close = classEnd(glob, i);
      if (close < 0) {
        source += "\\[";
        continue;
      }
      let body = glob.slice(i + 1, close);
      const negate = body.startsWith("!");
      if (negate) body = body.slice(1);
      body = body.replace(/[\\^\]]/g, (c) => `\\${c}`);
      source += negate ? `[^${body}]` : `[${body}]`;
      i = close;
    } else {
      source += ch.replace(/[.*+?^${}()|[\]\\\/-]/g, (c) => `\\${c}`);
    }
  }
  return new RegExp(`^${source}$`);
}

/** Index of the `]` closing the class opened at `open`, or -1. */
function classEnd(glob: string, open: number): number {
  let j = open + 1;
  if (glob[j] === "!") j++;
  if (glob[j] === "]") j++; // a leading "]" is a member, not the end
  const close = glob.indexOf("]", j);
  return close;
}

/** Builds a predicate that is true for names the rules leave out.
 *
 * @param rules Patterns and literals.
 * @returns The predicate.
 *
 * @example Pseudo files are left out
 * ```ts
 * import { DEFAULT_IGNORE_RULES } from "@lib-users/lib-users";
 * import { compileIgnore } from "./ignore.ts";
 * import { assert, assertFalse } from "@std/assert";
 *
 * const ignored = compileIgnore(DEFAULT_IGNORE_RULES);
 * assert(ignored("/SYSV00000000"));
 * assertFalse(ignored("/lib/SYSV00000000"));
 * ```
 */
export function compileIgnore(rules: IgnoreRules): (name: string) => boolean {
  const literals = new Set(rules.literals);
  // One pattern for all globs, anchored once: one attempt per name, however many globs.
  const sources = rules.patterns.map((glob) => globToRegExp(glob).source.slice(1, -1));
  const any = sources.length === 0 ? null : new RegExp(`^(?:${sources.join("|")})$`);
  return (name) => literals.has(name) || (any !== null && any.test(name));
}
