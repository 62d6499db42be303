import { assertEquals } from "@std/assert";
import { compareVersions } from "../../lib/answers/versions.ts";
import { findTool, fuzz } from "../_helpers.ts";

Deno.test("compareVersions() orders kernel releases as dpkg does", () => {
  const sign = (a: string, b: string) => Math.sign(compareVersions(a, b));
  assertEquals(sign("6.1.0-10-amd64", "6.1.0-9-amd64"), 1);
  assertEquals(sign("6.1.0-10~rc1-amd64", "6.1.0-10-amd64"), -1);
  assertEquals(sign("1.0~", "1.0"), -1);
  assertEquals(sign("1.0", "1.0a"), -1);
  assertEquals(sign("1.01", "1.1"), 0);
  assertEquals(sign("5.14.0-362.el9.x86_64", "5.14.0-70.el9.x86_64"), 1);
  assertEquals(sign("6.6.2-arch1-1", "6.6.10-arch1-1"), -1);
});

const DPKG = findTool("dpkg");
if (DPKG === undefined) console.warn("versions_test: dpkg case ignored: no dpkg");

Deno.test({
  name: "compareVersions() agrees with dpkg --compare-versions on random versions",
  ignore: DPKG === undefined,
  fn: () =>
    fuzz("compareVersions against dpkg", async (random) => {
      // No hyphen or colon: dpkg then compares the whole string as one upstream version.
      const alphabet = "0123456789..~+ab";
      const version = () =>
        String(random.below(10)) +
        Array.from({ length: random.below(8) }, () => alphabet[random.below(alphabet.length)])
          .join("");
      for (let round = 0; round < 150; round++) {
        const a = version();
        const b = round % 10 === 0 ? a : version();
        const lt = await new Deno.Command(DPKG!, { args: ["--compare-versions", a, "lt", b] })
          .output();
        const eq = await new Deno.Command(DPKG!, { args: ["--compare-versions", a, "eq", b] })
          .output();
        const dpkg = lt.success ? -1 : eq.success ? 0 : 1;
        assertEquals(Math.sign(compareVersions(a, b)), dpkg, `${a} vs ${b}`);
      }
    }),
});
