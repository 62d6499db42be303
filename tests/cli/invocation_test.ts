import { assertEquals } from "@std/assert";
import { invocation } from "../../cli/invocation.ts";

const DENO = "/usr/bin/deno";

Deno.test("invocation() names a run from source as it was typed, and anything else lib_users", () => {
  const at = (cwd: string) => () => cwd;
  assertEquals(invocation(DENO, "file:///src/lib_users/main.ts", at("/src/lib_users")), {
    command: "deno run -A main.ts",
    fromSource: true,
  });
  assertEquals(
    invocation(DENO, "file:///src/lib_users/main.ts", at("/src")).command,
    "deno run -A lib_users/main.ts",
  );
  // An installed shim runs main.ts from elsewhere; a URL; a bundle.
  for (const main of ["file:///opt/lib_users/main.ts", "https://example.org/main.ts"]) {
    assertEquals(invocation(DENO, main, at("/home/alice")), {
      command: "lib_users",
      fromSource: false,
    });
  }
  assertEquals(invocation(DENO, "file:///srv/lib_users.js", at("/srv")).command, "lib_users");
  // A compiled binary is named as its file, whatever its main module says.
  assertEquals(invocation("/usr/local/bin/fd_users", "file:///x/main.ts", at("/x")), {
    command: "fd_users",
    fromSource: false,
  });
  // A working directory that was removed throws: not a source tree.
  const gone = () => {
    throw new Deno.errors.NotFound("cwd");
  };
  assertEquals(invocation(DENO, "file:///src/main.ts", gone).command, "lib_users");
});
