import { assert, assertEquals, assertFalse } from "@std/assert";
import {
  compileIgnore,
  DEFAULT_IGNORE_LITERALS,
  DEFAULT_IGNORE_PATTERNS,
  DEFAULT_IGNORE_RULES,
  globToRegExp,
} from "../../lib/scan/ignore.ts";

Deno.test("DEFAULT_IGNORE_RULES lists the pseudo files of the Python tools and more", () => {
  assertEquals(DEFAULT_IGNORE_PATTERNS, [
    "/SYSV*",
    "/dev/shm/*",
    "/tmp/orcexec.*",
    "/var/run/nscd/db*",
    "/run/nscd/db*",
    "/memfd:*",
    "/run/user/*/orcexec*",
  ]);
  assertEquals(DEFAULT_IGNORE_LITERALS, [
    "/dev/zero",
    "/drm",
    "/drm mm object",
    "/[aio]",
    "/i915",
    "/anon_hugepage",
  ]);
  assert(Object.isFrozen(DEFAULT_IGNORE_PATTERNS));
});

Deno.test("compileIgnore() with the defaults ignores pseudo files only", async (t) => {
  const ignored = compileIgnore(DEFAULT_IGNORE_RULES);
  const cases: [string, boolean][] = [
    ["/SYSV00000000", true],
    ["/dev/shm/pulse-shm-1", true],
    ["/dev/shm/a/b", true],
    ["/memfd:wayland (x)", true],
    ["/tmp/orcexec.abc", true],
    ["/run/user/1000/orcexec.x", true],
    ["/var/run/nscd/dbXYZ", true],
    ["/run/nscd/db1", true],
    ["/drm mm object", true],
    ["/[aio]", true],
    ["/i915", true],
    ["/anon_hugepage", true],
    ["/dev/zero", true],
    ["/drm", true],
    // A glob must match the whole name; literals are exact.
    ["/lib/SYSV00000000", false],
    ["/usr/lib/i915", false],
    ["/a", false],
    ["/i", false],
    ["/dev/zero2", false],
    ["/drmx", false],
    ["/tmp/orcexecX", false],
    ["/usr/lib/libc.so.6", false],
  ];
  for (const [name, expected] of cases) {
    await t.step(`${name} → ${expected}`, () => assertEquals(ignored(name), expected));
  }
});

Deno.test("compileIgnore() adds user patterns and literals, and works without defaults", () => {
  const ignored = compileIgnore({ patterns: ["/opt/*.so"], literals: ["/x y"] });
  assert(ignored("/opt/a/b.so"));
  assert(ignored("/x y"));
  assertFalse(ignored("/SYSV0"));
  assertFalse(ignored("/x"));
});

Deno.test("globToRegExp() follows fnmatch: ? [] [!] and literal specials", () => {
  assert(globToRegExp("/a?c").test("/abc"));
  assertFalse(globToRegExp("/a?c").test("/ac"));
  assert(globToRegExp("/lib[0-9].so").test("/lib7.so"));
  assertFalse(globToRegExp("/lib[!0-9].so").test("/lib7.so"));
  assert(globToRegExp("/lib[!0-9].so").test("/libx.so"));
  assert(globToRegExp("/a.b+(c)$").test("/a.b+(c)$"));
  assertFalse(globToRegExp("/a.b").test("/axb"));
  assert(globToRegExp("/[x").test("/[x"));
  assert(globToRegExp("/[]]").test("/]"));
  assert(globToRegExp("/a\\b").test("/a\\b"));
});
