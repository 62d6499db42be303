import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { ROOT, runCli } from "../_helpers.ts";

Deno.test("lib_users fleet: the scan's own JSON reports merged; each report not used is one line, exit 4", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lib_users_fleet_" });
  try {
    const scan = await runCli(["-A"], ["--proc", `${ROOT}/testdata/proc_units`, "--json"]);
    assertEquals(scan.code, 0, scan.stderr);
    const report = JSON.parse(scan.stdout);
    for (const host of ["a", "b"]) {
      await Deno.writeTextFile(`${dir}/${host}.json`, JSON.stringify({ ...report, host }));
    }
    const used = await runCli(["--allow-read", "--allow-env"], [
      "fleet",
      `${dir}/a.json`,
      `${dir}/b.json`,
    ]);
    assertEquals([used.code, used.stderr], [0, ""]);
    assertStringIncludes(used.stdout, "2 hosts; by package (or file):\n");
    assertStringIncludes(used.stdout, "(no package known): 2 of 2 hosts");

    await Deno.writeTextFile(`${dir}/garbage.json`, "\u001b[2Jnot json");
    const partial = await runCli(["--allow-read", "--allow-env"], [
      "fleet",
      "--json",
      `${dir}/a.json`,
      `${dir}/garbage.json`,
      `${dir}/missing.json`,
    ]);
    assertEquals(partial.code, 4, partial.stderr);
    assertEquals(JSON.parse(partial.stdout).hosts.length, 1);
    const lines = partial.stderr.trim().split("\n");
    assertEquals(lines.length, 2, partial.stderr);
    assert(!partial.stderr.includes("\u001b"), "the report's escape stays escaped");
    assertStringIncludes(partial.stderr, `missing.json": it does not exist`);

    const none = await runCli(["--allow-read", "--allow-env"], ["fleet", `${dir}/missing.json`]);
    assertEquals(none.code, 2);
    const usage = await runCli(["--allow-read", "--allow-env"], ["fleet"]);
    assertEquals(usage.code, 2);
    assertStringIncludes(usage.stderr, "name the JSON reports");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
