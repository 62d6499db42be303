import { assert, assertEquals } from "@std/assert";
import { ROOT } from "../_helpers.ts";
import config from "../../deno.json" with { type: "json" };

const compileTask = config.tasks.compile.split(" ");

Deno.test("deno compile builds main.ts's graph and types (denort cannot be fetched here, so the output is not run)", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      // As `deno task compile` does it ("deno compile … --output lib_users main.ts"),
      // quietly and into a temporary directory.
      args: [
        "compile",
        "--quiet",
        ...compileTask.slice(2).map((arg) => arg === "lib_users" ? `${dir}/lib_users` : arg),
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
