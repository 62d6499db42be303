import { assertEquals } from "@std/assert";
import { fixtureFiles } from "../../tools/make_fixtures.ts";
import { ROOT } from "../_helpers.ts";

Deno.test("tools/make_fixtures.ts writes exactly the committed binary fixtures", () => {
  const files = fixtureFiles();
  assertEquals(files.size > 10, true);
  for (const [path, bytes] of files) {
    assertEquals(Deno.readFileSync(`${ROOT}/testdata/${path}`), bytes, path);
  }
});
