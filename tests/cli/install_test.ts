/**
 * Every route onto a server that has Deno, as a user takes it: `deno install`
 * from a clone and from a URL (no import map either way), `deno run` of a URL,
 * `fd_users` as a second installed name, the single-file bundle, the
 * permission sets, and what `deno publish` would ship.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  type CliRun,
  decodeRun,
  FIXTURE_FDS_MACHINE,
  FIXTURE_LIBS_MACHINE,
  FIXTURE_PROC,
  ROOT,
  serveRepository,
} from "../_helpers.ts";
import config from "../../deno.json" with { type: "json" };

/** The scan task's runtime flags, which every documented run line carries. */
const RUNTIME_FLAGS = config.tasks.scan.split(" ").slice(3, -1);
/** Of those, what `deno install` takes (it has no --no-code-cache): the V8 flags. */
const INSTALL_FLAGS = RUNTIME_FLAGS.filter((flag) => flag.startsWith("--v8-flags="));

const LIBS_MACHINE = FIXTURE_LIBS_MACHINE;
const FDS_MACHINE = FIXTURE_FDS_MACHINE;

/** The directory of the deno binary: installed shims run `deno` from PATH. */
const DENO_DIR_ON_PATH = Deno.execPath().slice(0, Deno.execPath().lastIndexOf("/"));

async function run(
  command: string,
  args: readonly string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<CliRun> {
  return decodeRun(
    await new Deno.Command(command, {
      args: [...args],
      cwd,
      env: { PATH: `${DENO_DIR_ON_PATH}:/usr/bin:/bin`, NO_COLOR: "1", ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output(),
  );
}

/** `deno install -g` into a root of its own, as the README documents it. */
async function install(root: string, cwd: string, name: string, script: string, ...args: string[]) {
  const installed = await run(Deno.execPath(), [
    "install",
    "-g",
    "-A",
    ...INSTALL_FLAGS,
    "--root",
    root,
    "-n",
    name,
    script,
    ...args,
  ], cwd);
  assertEquals(installed.code, 0, installed.stderr);
  const shim = Deno.readTextFileSync(`${root}/bin/${name}`);
  assertEquals(INSTALL_FLAGS.length, 1);
  for (const flag of INSTALL_FLAGS) assertStringIncludes(shim, flag);
  return `${root}/bin/${name}`;
}

function withDirs(body: (work: string, elsewhere: string) => Promise<void>): Promise<void> {
  const work = Deno.makeTempDirSync({ prefix: "lib_users_install_" });
  const elsewhere = Deno.makeTempDirSync({ prefix: "lib_users_user_" });
  return body(work, elsewhere).finally(() => {
    Deno.removeSync(work, { recursive: true });
    Deno.removeSync(elsewhere, { recursive: true });
  });
}

Deno.test("deno install from a clone gives working lib_users and fd_users commands", () =>
  withDirs(async (work, elsewhere) => {
    // In the clone, as a user types it: deno install reads no deno.json for a global install.
    const libUsers = await install(work, ROOT, "lib_users", "main.ts");
    const fdUsers = await install(work, ROOT, "fd_users", "main.ts", "--", "--fds");
    const scanned = await run(libUsers, ["--proc", FIXTURE_PROC, "-m"], elsewhere);
    assertEquals(scanned, { code: 0, stdout: LIBS_MACHINE, stderr: "" });
    assertEquals(await run(fdUsers, ["--proc", FIXTURE_PROC, "-m"], elsewhere), {
      code: 0,
      stdout: FDS_MACHINE,
      stderr: "",
    });
    const help = await run(libUsers, ["--help"], elsewhere);
    assertStringIncludes(help.stdout, "Usage: lib_users [OPTIONS]");
    assertEquals(help.stdout.includes("main.ts --"), false);
    // Started from /, as cron, systemd and apt hooks do: every path is below it.
    const fromRoot = await run(libUsers, ["--help"], "/");
    assertStringIncludes(fromRoot.stdout, "Usage: lib_users [OPTIONS]");
    assertEquals(fromRoot.stdout.includes("main.ts"), false, fromRoot.stdout);
    const hint = await run(libUsers, ["--bogus"], "/");
    assertEquals([hint.code, hint.stdout], [2, ""]);
    assertStringIncludes(hint.stderr, "Try 'lib_users --help' for more information.");
    assertEquals(hint.stderr.includes("main.ts"), false, hint.stderr);
  }));

Deno.test("deno install and deno run from a URL work with no import map", () =>
  withDirs(async (work, elsewhere) => {
    const server = serveRepository();
    try {
      const url = `http://127.0.0.1:${server.addr.port}/main.ts`;
      const libUsers = await install(work, elsewhere, "lib_users", url);
      assertEquals(await run(libUsers, ["--proc", FIXTURE_PROC, "-m"], elsewhere), {
        code: 0,
        stdout: LIBS_MACHINE,
        stderr: "",
      });
      const direct = await run(Deno.execPath(), [
        "run",
        "--quiet",
        "--no-config",
        "-A",
        url,
        "--proc",
        FIXTURE_PROC,
        "-m",
      ], elsewhere);
      assertEquals(direct, { code: 0, stdout: LIBS_MACHINE, stderr: "" });
    } finally {
      await server.shutdown();
    }
  }));

Deno.test("the single-file bundle runs with no config and only --allow-read on the tree", () =>
  withDirs(async (work, elsewhere) => {
    // The bundle task's command, written elsewhere: `deno task bundle` writes ./lib_users.js.
    const task = config.tasks.bundle.split(" ");
    assertEquals(task.slice(0, 4), ["deno", "bundle", "--quiet", "-o"]);
    const built = await run(Deno.execPath(), [
      ...task.slice(1, 4),
      `${work}/lib_users.js`,
      ...task.slice(5),
    ], ROOT);
    assertEquals(built.code, 0, built.stderr);
    const text = Deno.readTextFileSync(`${work}/lib_users.js`);
    assertEquals(/from\s*["'](?:npm|jsr|https?):/.test(text), false, "self-contained");
    const scanned = await run(Deno.execPath(), [
      "run",
      "--quiet",
      "--no-config",
      ...RUNTIME_FLAGS,
      `--allow-read=${FIXTURE_PROC}`,
      `${work}/lib_users.js`,
      "--proc",
      FIXTURE_PROC,
      "-m",
    ], elsewhere);
    assertEquals(scanned, { code: 0, stdout: LIBS_MACHINE, stderr: "" });
  }));

Deno.test("the permission sets of deno.json work, with Deno's experimental warning", async () => {
  const fixtures = await run(Deno.execPath(), [
    "run",
    "-P=fixtures",
    "main.ts",
    "--proc",
    "testdata/proc",
    "-m",
  ], ROOT);
  assertEquals([fixtures.code, fixtures.stdout], [0, LIBS_MACHINE]);
  // Why the tasks do not use them: every run would print this (unless --quiet).
  assertStringIncludes(fixtures.stderr, "experimental");
  // The fixture set reads testdata only: a live scan is refused.
  const refused = await run(Deno.execPath(), ["run", "--quiet", "-P=fixtures", "main.ts"], ROOT);
  assertEquals(refused.code, 2);
  assertStringIncludes(refused.stderr, 'Cannot read "/proc"');
  const scan = await run(Deno.execPath(), ["run", "--quiet", "-P=scan", "main.ts", "-V"], ROOT);
  assertEquals(scan.code, 0, scan.stderr);
});

Deno.test("deno publish ships the library, the CLI and contrib/, not the tests or notes", async () => {
  const dry = await run(Deno.execPath(), ["publish", "--dry-run", "--allow-dirty"], ROOT);
  assertEquals(dry.code, 0, dry.stderr);
  const files = [...(dry.stdout + dry.stderr).matchAll(/file:\/\/\S+/g)].map((match) =>
    match[0].slice(`file://${ROOT}`.length)
  );
  for (const needed of ["mod.ts", "main.ts", "cli/flags.ts", "deno.json", "LICENSE"]) {
    assert(files.includes(needed), `${needed} in ${files.join(" ")}`);
  }
  assert(files.includes("contrib/sudoers/lib_users"));
  for (const file of files) {
    assert(!/^(tests|testdata|bench|\.ci)\/|^BENCHMARKS\.md$|^lib_users(\.js)?$/.test(file), file);
  }
  assertEquals(config.exports, { ".": "./mod.ts", "./cli": "./main.ts" });
});

Deno.test("one project name everywhere: JSR name, schema $id, README and contrib URLs", () => {
  const repository = "https://github.com/lib-users/lib-users";
  const raw = "https://raw.githubusercontent.com/lib-users/lib-users/main/";
  assertEquals(config.name, "@lib-users/lib-users");
  const schema = JSON.parse(Deno.readTextFileSync(`${ROOT}/schema/lib_users.schema.json`));
  assertEquals(schema.$id, `${raw}schema/lib_users.schema.json`);
  const texts = [
    "README.md",
    "contrib/systemd/lib_users-textfile.service",
  ].map((file) => Deno.readTextFileSync(`${ROOT}/${file}`));
  for (const text of texts) {
    assertEquals(/OWNER|lib_users-deno/.test(text), false);
    for (
      const url of text.match(/https:\/\/(?:github\.com|raw\.githubusercontent\.com)\/\S+/g) ?? []
    ) {
      assert(url.startsWith(repository) || url.startsWith(raw), url);
    }
    for (const name of text.match(/jsr:@lib[\w-]*\/[\w-]+/g) ?? []) {
      assertEquals(name, `jsr:${config.name}`);
    }
  }
});
