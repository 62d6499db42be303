import { assertEquals } from "@std/assert";
import { invocation } from "../../cli/invocation.ts";

const DENO = "/usr/bin/deno";

/** The source tree's deno.json in effect: the package's `./cli` is that tree's main.ts. */
const sourceTree = (main: string) => () => main;
/** An installed command's own config, or --no-config: the package's name resolves to nothing. */
const otherConfig = () => {
  throw new TypeError('Import "@lib-users/lib-users/cli" not a dependency');
};

Deno.test("invocation() names a run from source as it was typed, and anything else lib_users", () => {
  const at = (cwd: string) => () => cwd;
  const main = "file:///src/lib_users/main.ts";
  assertEquals(invocation(DENO, main, at("/src/lib_users"), sourceTree(main)), {
    command: "deno run -A main.ts",
    fromSource: true,
  });
  assertEquals(
    invocation(DENO, main, at("/src"), sourceTree(main)).command,
    "deno run -A lib_users/main.ts",
  );
  // An installed shim runs main.ts from elsewhere; a URL; a bundle.
  for (const other of ["file:///opt/lib_users/main.ts", "https://example.org/main.ts"]) {
    assertEquals(invocation(DENO, other, at("/home/alice"), sourceTree(other)), {
      command: "lib_users",
      fromSource: false,
    });
  }
  const bundle = "file:///srv/lib_users.js";
  assertEquals(invocation(DENO, bundle, at("/srv"), otherConfig).command, "lib_users");
  // A compiled binary is named as its file, whatever its main module says.
  assertEquals(invocation("/usr/local/bin/fd_users", "file:///x/main.ts", at("/x")), {
    command: "fd_users",
    fromSource: false,
  });
  // A working directory that was removed throws: not a source tree.
  const gone = () => {
    throw new Deno.errors.NotFound("cwd");
  };
  const src = "file:///src/main.ts";
  assertEquals(invocation(DENO, src, gone, sourceTree(src)).command, "lib_users");
});

Deno.test("invocation() names an installed clone's main.ts lib_users wherever it is started", () => {
  // `deno install` from a clone at /tmp/c: its shim runs the clone's main.ts with a config of
  // its own. cron, systemd and apt hooks start it from / (or a home above the clone).
  const main = "file:///tmp/c/main.ts";
  for (const cwd of ["/", "/tmp", "/tmp/c"]) {
    assertEquals(invocation(DENO, main, () => cwd, otherConfig), {
      command: "lib_users",
      fromSource: false,
    }, cwd);
  }
  // By hand from / with the clone's own deno.json in effect, it is a run from source.
  assertEquals(invocation(DENO, main, () => "/", sourceTree(main)), {
    command: "deno run -A tmp/c/main.ts",
    fromSource: true,
  });
  // Another project's deno.json naming another main module: not this source tree.
  assertEquals(
    invocation(DENO, main, () => "/tmp/c", sourceTree("file:///elsewhere/main.ts")).command,
    "lib_users",
  );
});

Deno.test("invocation() reads the configuration this test runs under: the source tree's", () => {
  const main = new URL("../../main.ts", import.meta.url).href;
  const root = decodeURIComponent(new URL("../..", import.meta.url).pathname);
  assertEquals(invocation(DENO, main, () => root), {
    command: "deno run -A main.ts",
    fromSource: true,
  });
});
