/**
 * `deno task compile` (`tools/compile.ts` around `deno compile`): it builds as
 * Deno does, and a build that cannot download `denort` ends with one line
 * saying why and what to do. No compiled binary is run: denort cannot be
 * fetched here, and the stand-in used below is no working lib_users binary.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { decodeRun, ROOT } from "../_helpers.ts";
import { denortFailure } from "../../tools/compile.ts";
import config from "../../deno.json" with { type: "json" };

const task = config.tasks.compile.split(" ");
/** What the task runs before the arguments it passes to `deno compile`. */
const WRAPPER = task.slice(1, task.indexOf("tools/compile.ts") + 1);
/** The arguments the task passes to `deno compile`. */
const COMPILE_ARGS = task.slice(task.indexOf("tools/compile.ts") + 1);

/** Runs the task's command, with the output written to `output` and `entry` compiled. */
async function runTask(output: string, env: Record<string, string>, entry = "main.ts") {
  const args = COMPILE_ARGS.map((arg) => arg === "lib_users" ? output : arg);
  args[args.length - 1] = entry;
  return decodeRun(
    await new Deno.Command(Deno.execPath(), {
      args: [...WRAPPER, ...args],
      env,
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output(),
  );
}

Deno.test("deno task compile runs deno compile with the flags of the scan task", () => {
  assertEquals(task.slice(0, 2), ["deno", "run"]);
  assertEquals(COMPILE_ARGS.slice(-3), ["--output", "lib_users", "main.ts"]);
  const runtime = config.tasks.scan.split(" ").slice(2, -1);
  assertEquals(COMPILE_ARGS.slice(0, -3), runtime);
});

Deno.test("deno compile builds main.ts's graph and types through the task (denort cannot be fetched here, so the output is not run)", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    // Stands in for the denort runtime download; the result is not a working binary.
    const built = await runTask(`${dir}/lib_users`, { DENORT_BIN: Deno.execPath() });
    assertEquals(built.code, 0, built.stderr);
    assert(Deno.statSync(`${dir}/lib_users`).size > 0);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("deno task compile that cannot download denort ends with one line: why, and what to do", async () => {
  const dir = Deno.makeTempDirSync();
  // A proxy that hangs up on every connection: no host can be reached, whatever the network.
  const proxy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const hangUp = (async () => {
    for await (const connection of proxy) connection.close();
  })();
  try {
    // An entry with no dependencies and a cache of its own, so that denort is the only download
    // (a Deno cache that holds denort already would need none).
    Deno.writeTextFileSync(`${dir}/hello.ts`, 'console.log("hello");\n');
    const proxyUrl = `http://127.0.0.1:${proxy.addr.port}`;
    const failed = await runTask(`${dir}/lib_users`, {
      DENO_DIR: `${dir}/cache`,
      HTTPS_PROXY: proxyUrl,
      https_proxy: proxyUrl,
      NO_PROXY: "",
      no_proxy: "",
    }, `${dir}/hello.ts`);
    assertEquals(failed.code, 1, failed.stderr);
    const lines = failed.stderr.trimEnd().split("\n");
    assertMatch(
      lines.at(-1)!,
      /^error: Cannot compile: the denort runtime could not be downloaded from https:\/\/dl\.deno\.land\/\S+denort\S+\.zip \(.+\)\. Build where it can be downloaded, or set DENORT_BIN to a denort \d+\.\d+\.\d+ binary \(the file inside that zip\)$/,
    );
    // Deno's progress lines stay; its chain of causes and backtrace do not.
    assertStringIncludes(failed.stderr, "Download https://dl.deno.land/");
    assertEquals(/Caused by|Stack backtrace/.test(failed.stderr), false, failed.stderr);
  } finally {
    proxy.close();
    await hangUp.catch(() => {});
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("denortFailure() reads Deno's download failure and leaves every other failure alone", () => {
  const dns =
    `error: Writing deno compile executable to temporary file 'lib_users.tmp-b58a7909c0eae8f9'

Caused by:
    0: Setting up base binary.
    1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip): client error (Connect): dns error: failed to lookup address information: Name or service not known
    2: client error (Connect)
    3: dns error
    4: failed to lookup address information: Name or service not known

Stack backtrace:
   0: <unknown>
`;
  assertEquals(
    denortFailure(dns, "2.9.6"),
    "error: Cannot compile: the denort runtime could not be downloaded from " +
      "https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip " +
      "(failed to lookup address information: Name or service not known). Build where it can " +
      "be downloaded, or set DENORT_BIN to a denort 2.9.6 binary (the file inside that zip)",
  );
  // DENORT_BIN naming no file, and a type error, are Deno's to say.
  const missing = `error: Writing deno compile executable to temporary file 'x.tmp-1'

Caused by:
    0: Could not find denort at '/nonexistent'
    1: No such file or directory (os error 2)

Stack backtrace:
   0: <unknown>
`;
  assertEquals(denortFailure(missing, "2.9.6"), undefined);
  assertEquals(denortFailure("error: Type checking failed.\n", "2.9.6"), undefined);
});
