/**
 * `mod.ts` must work when imported by URL with no import map: its whole graph
 * uses relative imports and Deno APIs only.
 */

import { assertEquals } from "@std/assert";
import { FIXTURE_PROC, serveRepository } from "./_helpers.ts";

Deno.test("mod.ts imported by URL with --no-config scans a fixture tree", async () => {
  const server = serveRepository();
  const dir = Deno.makeTempDirSync();
  try {
    const host = `127.0.0.1:${server.addr.port}`;
    const script = `${dir}/use_lib_users.ts`;
    Deno.writeTextFileSync(
      script,
      `import { formatMachine, groupByArgv, scanFds, DEFAULT_IGNORE_LITERALS } from "http://${host}/mod.ts";
const result = await scanFds({ proc: Deno.args[0] });
console.log(JSON.stringify({
  machine: formatMachine(groupByArgv(result.processes)),
  unreadable: result.unreadable,
  literals: DEFAULT_IGNORE_LITERALS.length,
}));
`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      // --reload: Deno caches URL imports by host and port, and the port is new each run.
      args: [
        "run",
        "--quiet",
        "--no-config",
        "--no-lock",
        "--reload",
        `--allow-import=${host}`,
        `--allow-read=${FIXTURE_PROC}`,
        script,
        FIXTURE_PROC,
      ],
      env: { DENO_DIR: `${dir}/deno_dir` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assertEquals(output.code, 0, stderr);
    assertEquals(JSON.parse(new TextDecoder().decode(output.stdout)), {
      machine:
        "99,1000;/var/log/cron.log.1;/usr/sbin/cron -f\n1234;/tmp/data;/opt/my app/bin/server --name a b\n",
      unreadable: 0,
      literals: 6,
    });
  } finally {
    await server.shutdown();
    Deno.removeSync(dir, { recursive: true });
  }
});
