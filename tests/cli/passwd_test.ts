import { assertEquals } from "@std/assert";
import { parsePasswd, readUserNames } from "../../cli/passwd.ts";

Deno.test("parsePasswd() maps UIDs to the first name, skipping junk", () => {
  const names = parsePasswd(
    "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/a:/bin/sh\nalias:x:1000:1000::/:/\njunk\n:x:5:5::/:/\n",
  );
  assertEquals([...names], [[0, "root"], [1000, "alice"]]);
});

Deno.test({
  name: "readUserNames() gives an empty map when the file cannot be read",
  permissions: { read: false },
  fn() {
    assertEquals(readUserNames("/nonexistent/passwd").size, 0);
  },
});
