import { assert, assertEquals, assertRejects } from "@std/assert";
import { runCommand } from "../../lib/act/run.ts";

Deno.test("runCommand() gives the exit code, output, and an empty stdin", async () => {
  assertEquals((await runCommand(["true"], 10_000)).code, 0);
  assertEquals((await runCommand(["false"], 10_000)).code, 1);
  // cat would wait for ever on a terminal's stdin: here it reads nothing and ends.
  const cat = await runCommand(["cat"], 10_000);
  assertEquals([cat.code, cat.stdout, cat.timedOut], [0, "", false]);
  const said = await runCommand(["sh", "-c", "echo out; echo err >&2; exit 3"], 10_000);
  assertEquals([said.code, said.stdout, said.stderr], [3, "out\n", "err"]);
});

Deno.test("runCommand() stops a command at its deadline and says so", async () => {
  const start = Date.now();
  const slow = await runCommand(["sleep", "30"], 200);
  assertEquals([slow.code, slow.timedOut], [null, true]);
  assert(Date.now() - start < 20_000, "stopped long before sleep would end");
  // One that ignores SIGTERM is killed a second later.
  const stubborn = await runCommand(["sh", "-c", "trap '' TERM; sleep 30"], 200);
  assertEquals(stubborn.timedOut, true);
});

Deno.test("runCommand() rejects a program that is not installed with NotFound", async () => {
  await assertRejects(() => runCommand(["lib_users-no-such-tool"], 1000), Deno.errors.NotFound);
});

Deno.test("runCommand() keeps at most 1 MiB of what a command says, and still waits for its end", async () => {
  const result = await runCommand(
    ["/bin/sh", "-c", "head -c 3000000 /dev/zero | tr '\\000' x; echo done >&2"],
    20_000,
  );
  assertEquals([result.code, result.timedOut, result.stderr], [0, false, "done"]);
  assertEquals(result.stdout.length, 1 << 20);
});
