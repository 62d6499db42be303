/**
 * `.ci/run`, the CI entry point, with a stand-in for `npx -y deno task test`
 * that prints what deno would: its last line counts the tests that passed,
 * failed and were ignored. The run sees a PATH of its own (the tools the
 * script uses, a fake `id` that is not root, no apt-get), so it installs
 * nothing, and its temporary file lies in a directory of this test's.
 */

import { assertEquals } from "@std/assert";
import { decodeRun, findTool, ROOT } from "./_helpers.ts";

const TOOLS = ["bash", "dirname", "mktemp", "rm", "tee", "sed", "grep", "tail"];
const MISSING = TOOLS.filter((tool) => findTool(tool) === undefined);
if (MISSING.length > 0) console.warn(`ci_run_test: ignored: no ${MISSING.join(", ")}`);

/** Runs .ci/run with `npx` printing `output` and exiting `status`. */
async function ciRun(output: string, status: number) {
  const dir = Deno.makeTempDirSync({ prefix: "lib_users_ci_run_" });
  try {
    Deno.mkdirSync(`${dir}/bin`);
    for (const tool of TOOLS) Deno.symlinkSync(findTool(tool)!, `${dir}/bin/${tool}`);
    const script = (name: string, body: string) => {
      Deno.writeTextFileSync(`${dir}/bin/${name}`, `#!${findTool("bash")}\n${body}\n`);
      Deno.chmodSync(`${dir}/bin/${name}`, 0o755);
    };
    script("id", "echo 1000");
    Deno.writeTextFileSync(`${dir}/output`, output);
    script(
      "npx",
      `while IFS= read -r line; do echo "$line"; done <"${dir}/output"; exit ${status}`,
    );
    return decodeRun(
      await new Deno.Command(`${ROOT}/.ci/run`, {
        env: { PATH: `${dir}/bin`, TMPDIR: dir },
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output(),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** The last line of a run's output. */
const lastLine = (text: string) => text.trimEnd().split("\n").at(-1);

Deno.test({
  name: ".ci/run ends with N passed, N failed, N skipped, counting the tests deno ignored",
  ignore: MISSING.length > 0,
  async fn() {
    const green = "\x1b[0m\x1b[32mok\x1b[0m | 410 passed (1021 steps) | 0 failed | 7 ignored " +
      "(1 step) \x1b[0m\x1b[38;5;245m(3m12s)\x1b[0m\n";
    const run = await ciRun(`check\n${green}`, 0);
    assertEquals([run.code, lastLine(run.stdout)], [0, "410 passed, 0 failed, 7 skipped"]);

    const red = "\x1b[0m\x1b[31mFAILED\x1b[0m | 400 passed | 2 failed | 15 ignored (1m)\n";
    const failed = await ciRun(red, 1);
    assertEquals([failed.code, lastLine(failed.stdout)], [1, "400 passed, 2 failed, 15 skipped"]);

    // deno leaves "| N ignored" out when no test was.
    const none = await ciRun("ok | 3 passed | 0 failed (1s)\n", 0);
    assertEquals(lastLine(none.stdout), "3 passed, 0 failed, 0 skipped");

    // A check before the tests failed: no test ran.
    const checks = await ciRun("error: Found 1 not formatted file\n", 1);
    assertEquals([checks.code, lastLine(checks.stdout)], [1, "0 passed, 1 failed, 0 skipped"]);
  },
});
