/**
 * Every route onto a server that has Deno, as a user takes it: `deno install`
 * from a clone and from a URL (no import map either way), `deno run` of a URL,
 * `fd_users` as a second installed name, the single-file bundle, the
 * commands of docs/install.md as written, the permission sets, and what
 * `deno publish` would ship.
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
import { cannotRunAsNobody } from "../_nobody.ts";
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
    await bundle(`${work}/lib_users.js`);
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

/** The lines of the first `sh` block of docs/install.md that holds `text`. */
function docsBlock(text: string): string[] {
  const page = Deno.readTextFileSync(`${ROOT}/docs/install.md`);
  const block = [...page.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1]!)
    .find((body) => body.includes(text));
  if (block === undefined) throw new Error(`No sh block with "${text}" in docs/install.md`);
  return block.trimEnd().split("\n");
}

/** Builds the single file as `deno task bundle` does, into `path`. */
async function bundle(path: string): Promise<void> {
  // The bundle task's command, written elsewhere: `deno task bundle` writes ./lib_users.js.
  const task = config.tasks.bundle.split(" ");
  assertEquals(task.slice(0, 4), ["deno", "bundle", "--quiet", "-o"]);
  const built = await run(Deno.execPath(), [...task.slice(1, 4), path, ...task.slice(5)], ROOT);
  assertEquals(built.code, 0, built.stderr);
}

Deno.test("docs/install.md's deno install lines install lib_users and fd_users with no warning", () =>
  withDirs(async (work) => {
    const lines = docsBlock("deno install -g -A --no-config");
    assertEquals(lines.length, 2);
    for (const line of lines) {
      // As written, in the clone; DENO_INSTALL_ROOT keeps them out of ~/.deno.
      const installed = await run("/bin/sh", ["-c", line], ROOT, { DENO_INSTALL_ROOT: work });
      assertEquals(installed.code, 0, installed.stderr);
      // Not "discovered config file will be ignored", which nobody can act on.
      assertEquals(/warning/i.test(installed.stderr), false, installed.stderr);
    }
    const lib = await run(`${work}/bin/lib_users`, ["--proc", FIXTURE_PROC, "-m"], "/");
    assertEquals(lib, { code: 0, stdout: LIBS_MACHINE, stderr: "" });
    const fd = await run(`${work}/bin/fd_users`, ["--proc", FIXTURE_PROC, "-m"], "/");
    assertEquals(fd, { code: 0, stdout: FDS_MACHINE, stderr: "" });
  }));

const NO_NAMESPACE = await cannotRunAsNobody();
if (NO_NAMESPACE !== undefined) {
  console.warn(`install_test: the self-contained route's test is ignored: ${NO_NAMESPACE}`);
}

Deno.test({
  name: "docs/install.md's self-contained route puts lib_users and fd_users in /usr/local/bin, " +
    "run from / by root and nobody with no network",
  ignore: NO_NAMESPACE !== undefined,
  fn: () =>
    withDirs(async (work) => {
      // nobody runs the launchers: the directory and the deno they name must be its to reach.
      Deno.chmodSync(work, 0o755);
      Deno.mkdirSync(`${work}/bin`);
      Deno.copyFileSync(Deno.execPath(), `${work}/bin/deno`);
      Deno.chmodSync(`${work}/bin/deno`, 0o755);
      assertEquals(docsBlock("deno task bundle")[0]!.split("#")[0]!.trim(), "deno task bundle");
      await bundle(`${work}/lib_users.js`);
      Deno.writeTextFileSync(
        `${work}/docs.sh`,
        docsBlock("install -D -m 0644 lib_users.js").join("\n"),
      );
      // A /usr/local and a network of its own: the host's are never touched, and nothing
      // can be fetched. The page's commands run as written, in the directory of lib_users.js.
      const script = `
        work=$1 fixture=$2
        mount -t tmpfs -o mode=0755 tmpfs /usr/local || exit 90
        mkdir /usr/local/bin /usr/local/lib  # as every system has them
        cd "$work" && PATH="$work/bin:/usr/bin:/bin" sh -e docs.sh >docs.out 2>&1
        echo $? >docs.code
        cd /
        run() { name=$1; shift; "$@" >"$work/$name.out" 2>"$work/$name.err"; echo $? >"$work/$name.code"; }
        run libs env -i PATH=/usr/bin:/bin /usr/local/bin/lib_users --proc "$fixture" -m
        run fds env -i PATH=/usr/bin:/bin /usr/local/bin/fd_users --proc "$fixture" -m
        run hint env -i PATH=/usr/bin:/bin /usr/local/bin/lib_users --bogus
        run nobody setpriv --reuid=65534 --regid=65534 --clear-groups \
          env -i PATH=/usr/bin:/bin /usr/local/bin/lib_users --help
        cp /usr/local/bin/lib_users "$work/launcher"
      `;
      const namespace = await run(
        "unshare",
        [
          "--mount",
          "--net",
          "--propagation=private",
          "sh",
          "-c",
          script,
          "sh",
          work,
          FIXTURE_PROC,
        ],
        "/",
        { PATH: "/usr/bin:/bin:/usr/sbin:/sbin" },
      );
      assertEquals(namespace, { code: 0, stdout: "", stderr: "" });
      const result = (name: string): CliRun => ({
        code: Number(Deno.readTextFileSync(`${work}/${name}.code`)),
        stdout: Deno.readTextFileSync(`${work}/${name}.out`),
        stderr: name === "docs" ? "" : Deno.readTextFileSync(`${work}/${name}.err`),
      });
      assertEquals(result("docs"), { code: 0, stdout: "", stderr: "" });
      assertEquals(result("libs"), { code: 0, stdout: LIBS_MACHINE, stderr: "" });
      assertEquals(result("fds"), { code: 0, stdout: FDS_MACHINE, stderr: "" });
      const hint = result("hint");
      assertEquals([hint.code, hint.stdout], [2, ""]);
      assertStringIncludes(hint.stderr, "Try 'lib_users --help' for more information.");
      const nobody = result("nobody");
      assertEquals([nobody.code, nobody.stderr], [0, ""]);
      assertStringIncludes(nobody.stdout, "Usage: lib_users [OPTIONS]");
      assertEquals(nobody.stdout.includes("main.ts"), false);
      // Two lines, naming deno in full.
      assertEquals(
        Deno.readTextFileSync(`${work}/launcher`),
        `#!/bin/sh\nexec ${work}/bin/deno run -A --no-config ${RUNTIME_FLAGS.join(" ")} ` +
          '/usr/local/lib/lib_users/lib_users.js "$@"\n',
      );
    }),
});

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
  for (const needed of ["mod.ts", "main.ts", "cli/parse.ts", "deno.json", "LICENSE"]) {
    assert(files.includes(needed), `${needed} in ${files.join(" ")}`);
  }
  assert(files.includes("contrib/sudoers/lib_users"));
  for (const file of files) {
    assert(!/^(tests|testdata|bench|\.ci)\/|^BENCHMARKS\.md$|^lib_users(\.js)?$/.test(file), file);
  }
  assertEquals(config.exports, { ".": "./mod.ts", "./cli": "./main.ts" });
});

Deno.test("one project name everywhere: JSR name, schema $id, README, docs and contrib URLs", () => {
  const repository = "https://github.com/lib-users/lib-users";
  const raw = "https://raw.githubusercontent.com/lib-users/lib-users/main/";
  assertEquals(config.name, "@lib-users/lib-users");
  const schema = JSON.parse(Deno.readTextFileSync(`${ROOT}/schema/lib_users.schema.json`));
  assertEquals(schema.$id, `${raw}schema/lib_users.schema.json`);
  const docs = [...Deno.readDirSync(`${ROOT}/docs`)]
    .filter((entry) => entry.name.endsWith(".md"))
    .map((entry) => `docs/${entry.name}`);
  const texts = [
    "README.md",
    ...docs,
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
