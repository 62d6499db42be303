import { assert, assertEquals } from "@std/assert";
import { ROOT } from "./_helpers.ts";

Deno.test("deno compile builds main.ts's graph and types (denort cannot be fetched here, so the output is not run)", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      // As `deno task compile` does it.
      args: [
        "compile",
        "--quiet",
        "-A",
        "--v8-flags=--no-opt",
        "--output",
        `${dir}/lib_users`,
        `${ROOT}/main.ts`,
      ],
      // Stands in for the denort runtime download; the result is not a working binary.
      env: { DENORT_BIN: Deno.execPath() },
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
    assert(Deno.statSync(`${dir}/lib_users`).size > 0);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
