/**
 * Whose file it is, on the live kernel: a process in its own mount namespace
 * and root (an overlay it pivots into, as runc does) maps its own library,
 * replaced inside it; `--packages` must name the package of the container's
 * database, say "unknown" where the container has none, and never follow a
 * link of the container's database out of it. Each container lives in a
 * private mount namespace over the test's own temporary directory: a killed
 * run leaves nothing mounted and changes nothing on the host. The tests judge
 * only their own processes.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { type CliRun, findTool, ROOT, runCli } from "../_helpers.ts";
import { EXIT } from "../../cli/exit.ts";
import { buildMapper, type Mapper, realLibrary, sh, spawnMapper } from "../_live.ts";
import type { JsonFile, JsonGroup } from "../../mod.ts";
import { findProcessPackages } from "../../lib/answers/package_roots.ts";
import { loadSchema, validate } from "../_json_schema.ts";

const MAPPER = await buildMapper();

/** Why the live cases cannot run here, or undefined. */
function missing(): string | undefined {
  if (Deno.uid() !== 0) return "needs root (mount namespaces, overlayfs, pivot_root)";
  if (MAPPER === null) return "no C compiler with a static libc (cc -static)";
  for (const tool of ["unshare", "pivot_root"]) {
    if (findTool(tool) === undefined) return `no ${tool}`;
  }
  return undefined;
}
const MISSING = missing();
/** Whether the host has a dpkg database, to answer for a process that sees it. */
const HOST_DPKG = (() => {
  try {
    return Deno.statSync("/var/lib/dpkg/info").isDirectory;
  } catch {
    return false;
  }
})();
if (MISSING !== undefined) console.warn(`container_packages_test: live cases ignored: ${MISSING}`);

/** The library as the container names it: a path the host's own package owns too, on Debian. */
const LIBRARY = "/usr/lib/x86_64-linux-gnu/libkeyutils.so.1.10";
/** The container's package of it: a name and version no host has. */
const PACKAGE = "ctkeyutils1:amd64";
const VERSION = "9.9-container1";

/** What the container's image holds besides the program and the library. */
interface Image {
  /** Files by path inside the image (no leading slash). */
  readonly files?: Readonly<Record<string, string>>;
  /** Symbolic links by path inside the image, to their targets. */
  readonly links?: Readonly<Record<string, string>>;
}

/** A dpkg database listing the library, by the container's package. */
function dpkgImage(): Record<string, string> {
  return {
    [`var/lib/dpkg/info/${PACKAGE}.list`]:
      `/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n${LIBRARY}\n`,
    "var/lib/dpkg/status": `Package: ctkeyutils1\nStatus: install ok installed\n` +
      `Architecture: amd64\nVersion: ${VERSION}\n\n`,
  };
}

/**
 * Starts a container from `image` (an overlay of it, pivoted into, in a mount
 * namespace of its own) running the mapper on its own copy of the library,
 * replaces the library inside it as dpkg would, and runs `body` with it; `dir`
 * is the test's own temporary directory. Everything is undone whatever happens.
 */
async function withContainer(
  image: Image,
  body: (container: Mapper, peers: readonly Mapper[]) => Promise<void>,
  options: {
    peers?: number;
    library?: string;
    binary?: Readonly<Record<string, Uint8Array>>;
    /** Shell lines run in the namespace once the overlay is at "$1/merged", before pivoting. */
    setup?: string;
  } = {},
): Promise<void> {
  const library = options.library ?? LIBRARY;
  const dir = Deno.makeTempDirSync({ prefix: "lib_users_ctpkg_" });
  let container: Mapper | undefined;
  const peers: Mapper[] = [];
  try {
    const lower = `${dir}/lower`;
    const write = (path: string, text: string) => {
      Deno.mkdirSync(`${lower}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
      Deno.writeTextFileSync(`${lower}/${path}`, text);
    };
    for (const [path, text] of Object.entries(image.files ?? {})) write(path, text);
    for (const [path, bytes] of Object.entries(options.binary ?? {})) {
      Deno.mkdirSync(`${lower}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
      Deno.writeFileSync(`${lower}/${path}`, bytes);
    }
    for (const [path, target] of Object.entries(image.links ?? {})) {
      Deno.mkdirSync(`${lower}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
      Deno.symlinkSync(target, `${lower}/${path}`);
    }
    Deno.mkdirSync(`${lower}${library.slice(0, library.lastIndexOf("/"))}`, { recursive: true });
    Deno.copyFileSync(realLibrary(), `${lower}${library}`);
    Deno.copyFileSync(MAPPER!, `${lower}/mapper`);
    Deno.chmodSync(`${lower}/mapper`, 0o755);
    for (const sub of ["upper", "work", "merged"]) Deno.mkdirSync(`${dir}/${sub}`);
    // A command line of this run's own: another suite's container never joins the group.
    const token = `run-${crypto.randomUUID().slice(0, 8)}`;
    container = await spawnMapper([
      "unshare",
      "-m",
      "--propagation",
      "private",
      "/bin/sh",
      "-c",
      `set -e
      mount -t overlay overlay -o "lowerdir=$1/lower,upperdir=$1/upper,workdir=$1/work" "$1/merged"
      ${options.setup ?? ""}
      cd "$1/merged"
      mkdir .old
      "$4" . .old
      exec /mapper -p "$3" "$2"`,
      "sh",
      dir,
      library,
      token,
      // By its path: a PATH without sbin (a cron job's, CI's) hides it.
      findTool("pivot_root")!,
    ]);
    // More processes in the same namespace and root, as a container's other processes are.
    for (let i = 0; i < (options.peers ?? 0); i++) {
      const target = String(container.pid);
      peers.push(
        await spawnMapper(["nsenter", "-t", target, "-m", "-r", "/mapper", "-p", token, library]),
      );
    }
    // Inside the container, through its own root: the host's file of that name is not touched.
    await sh(
      'cp "$1" "$1.dpkg-new" && mv "$1.dpkg-new" "$1"',
      `/proc/${container.pid}/root${library}`,
    );
    await body(container, peers);
  } finally {
    for (const peer of peers) await peer.stop();
    await container?.stop();
    Deno.removeSync(dir, { recursive: true });
  }
}

/**
 * A whole answer about the test's own processes: other processes on the host
 * (another suite's, a benchmark's) may have lists cut, which makes the exit
 * code TRUNCATED without touching ours.
 */
function assertAnswered(run: CliRun): void {
  assert(run.code === EXIT.OK || run.code === EXIT.TRUNCATED, `exit ${run.code}: ${run.stderr}`);
}

/** The JSON file entry of `path` in the group holding `pid`. */
async function jsonFileOf(pid: number, path: string): Promise<JsonFile> {
  const run = await runCli(["-A"], ["--packages", "--json"]);
  assertAnswered(run);
  const report = JSON.parse(run.stdout);
  assertEquals(validate(await loadSchema(), report), []);
  const group = (report.groups as JsonGroup[]).find((g) => g.pids.includes(pid));
  const file = group?.files.find((f) => f.path === path);
  if (file === undefined) throw new Error(`PID ${pid}'s ${path} is not reported:\n${run.stdout}`);
  return file;
}

/** The human line (`-s`) of the group holding `pid`. */
async function humanLineOf(pid: number): Promise<string> {
  const run = await runCli(["-A"], ["--packages", "-s"]);
  assertAnswered(run);
  const line = run.stdout.split("\n").find((l) => new RegExp(`^(\\d+,)*${pid}[ ,]`).test(l));
  if (line === undefined) throw new Error(`PID ${pid} is not in the human output:\n${run.stdout}`);
  return line;
}

Deno.test({
  name: "live: a container's replaced library is named by the container's package, not the host's",
  ignore: MISSING !== undefined,
  async fn() {
    await withContainer({ files: dpkgImage() }, async (container) => {
      const file = await jsonFileOf(container.pid, LIBRARY);
      assertEquals(file.verified, true);
      assertEquals(file.package?.name, PACKAGE);
      assertEquals(file.package?.version, VERSION);
      // No log in the container: the time is its file list's, and says so.
      assertEquals(file.package?.changed_from, "list-mtime");
      assertEquals(file.other_owners, undefined);
      assertEquals(file.package_unknown, undefined);
      assertStringIncludes(await humanLineOf(container.pid), `${LIBRARY} [${PACKAGE} ${VERSION}]`);
    });
  },
});

Deno.test({
  name:
    "live: a container without a readable package database has its packages unknown, never the host's",
  ignore: MISSING !== undefined,
  async fn() {
    await withContainer({}, async (container) => {
      const pid = container.pid;
      const file = await jsonFileOf(pid, LIBRARY);
      assertEquals("package" in file, false, "no package is guessed");
      assertMatch(file.package_unknown!, /no dpkg database nor rpm SQLite database readable/);
      assertStringIncludes(await humanLineOf(pid), `${LIBRARY} [package unknown]`);
      const machine = await runCli(["-A"], ["--packages", "-m"]);
      const section = machine.stdout.split("\n\n")[1] ?? "";
      // Another suite's container may have a line of its own: this process's is looked for.
      const unknown = section.split("\n").filter((line) => line.startsWith("?;"));
      assert(
        unknown.some((line) => line.split(";")[3]!.split(",").includes(String(pid))),
        "-m has a line for files whose package is not known, with this process",
      );
      assertMatch(
        machine.stderr,
        new RegExp(`Cannot name the packages of PIDs ([0-9]+,)*${pid}\\b[^\\n]*\\(--packages\\): `),
      );
      const nagios = await runCli(["-A"], ["--packages", "--format=nagios"]);
      const lines = nagios.stdout.split("\n").filter((l) =>
        l.startsWith("package: package unknown")
      );
      assert(
        lines.some((line) => new RegExp(`PIDs ([0-9]+,)*${pid}\\b`).test(line)),
        nagios.stdout,
      );
    });
  },
});

Deno.test({
  name: "live: a link in a container's package database that points out of it is not followed",
  ignore: MISSING !== undefined,
  async fn() {
    // Host files, in the test's own directory, that a naive read through /proc/PID/root would reach.
    const outside = Deno.makeTempDirSync({ prefix: "lib_users_ctpkg_outside_" });
    try {
      Deno.writeTextFileSync(`${outside}/evil.list`, `${LIBRARY}\n`);
      Deno.writeTextFileSync(
        `${outside}/status`,
        "Package: ctkeyutils1\nStatus: install ok installed\nArchitecture: amd64\nVersion: 6.6-host\n",
      );
      const { "var/lib/dpkg/status": _, ...lists } = dpkgImage();
      await withContainer({
        files: lists,
        links: {
          // Absolute and relative, each leading to the host's side if followed from the host.
          "var/lib/dpkg/info/evil:amd64.list": `${outside}/evil.list`,
          "var/lib/dpkg/info/evil2:amd64.list": `../../../../../../../../..${outside}/evil.list`,
          "var/lib/dpkg/status": `${outside}/status`,
        },
      }, async (container) => {
        const file = await jsonFileOf(container.pid, LIBRARY);
        assertEquals(file.package?.name, PACKAGE);
        // The status link leads nowhere inside the container: no version, never the host file's.
        assertEquals(file.package?.version, null);
        assertEquals(file.other_owners, undefined);
        const human = await humanLineOf(container.pid);
        assertEquals(human.includes("evil"), false, human);
        assertEquals(human.includes("6.6-host"), false, human);
      });
    } finally {
      Deno.removeSync(outside, { recursive: true });
    }
  },
});

Deno.test({
  name: "live: a process in its own mount namespace that sees the host's database is named from it",
  ignore: MISSING !== undefined || !HOST_DPKG,
  async fn() {
    // A sandboxed service's view: its own namespace, the host's root and database.
    const dir = Deno.makeTempDirSync({ prefix: "lib_users_ctpkg_ns_" });
    let mapper: Mapper | undefined;
    try {
      const lib = `${dir}/lib.so`;
      Deno.copyFileSync(realLibrary(), lib);
      mapper = await spawnMapper(["unshare", "-m", "--propagation", "private", MAPPER!, lib]);
      await sh('cp "$1" "$1.new" && mv "$1.new" "$1"', lib);
      const file = await jsonFileOf(mapper.pid, lib);
      // The host's database answers (no package owns a temporary file), not "unknown".
      assertEquals(file.package, null);
      assertEquals(file.package_unknown, undefined);
    } finally {
      await mapper?.stop();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "live: a container's package named with control characters is escaped in every format",
  ignore: MISSING !== undefined,
  async fn() {
    const hostile = "evil\nOK - all clear\x1b[2J;x:amd64";
    await withContainer({
      files: { ...dpkgImage(), [`var/lib/dpkg/info/${hostile}.list`]: `${LIBRARY}\n` },
    }, async (container) => {
      const pid = container.pid;
      const file = await jsonFileOf(pid, LIBRARY);
      assertEquals([file.package?.name, file.other_owners], [PACKAGE, [hostile]]);
      const human = await humanLineOf(pid);
      assertStringIncludes(human, "evil\\nOK - all clear\\x1b[2J;x:amd64");
      const runs = await Promise.all(
        [["-s"], ["-m"], ["--format=nagios"], ["--format=prometheus"]].map((args) =>
          runCli(["-A"], ["--packages", ...args])
        ),
      );
      for (const run of runs) {
        assertEquals(run.stdout.includes("\x1b"), false, "no raw escape sequence");
        assertEquals(run.stdout.includes("evil\nOK"), false, "no raw newline in the name");
      }
    });
  },
});

Deno.test({
  name: "live: a container's rpm database names the container's package",
  ignore: MISSING !== undefined,
  async fn() {
    // testdata/root_rpm's database, written by rpm itself, owns /usr/lib64/libfixture.so.1.
    const library = "/usr/lib64/libfixture.so.1";
    const database = Deno.readFileSync(`${ROOT}/testdata/root_rpm/var/lib/rpm/rpmdb.sqlite`);
    await withContainer({}, async (container) => {
      const file = await jsonFileOf(container.pid, library);
      assertEquals([file.package?.name, file.package?.version], [
        "libfixture.x86_64",
        "1:1.2-3.fc40",
      ]);
      assertEquals(file.package?.changed_from, "rpmdb");
    }, { library, binary: { "var/lib/rpm/rpmdb.sqlite": database } });
  },
});

Deno.test({
  name: "live: findProcessPackages() reads a container's database once for all its processes",
  ignore: MISSING !== undefined,
  async fn() {
    await withContainer({ files: dpkgImage() }, async (container, peers) => {
      const files = [{ path: LIBRARY, kind: "library" as const }];
      const finding = (pid: number) => ({ pid, argv: ["/mapper"], cmdline: "/mapper", files });
      // Every file of another root is opened through our own descriptor's link: count those.
      const opened = async (pids: number[]) => {
        const open = Deno.openSync;
        let count = 0;
        Deno.openSync = (path, options) => {
          if (String(path).startsWith("/proc/self/fd/")) count++;
          return open(path, options);
        };
        try {
          const { byPid } = await findProcessPackages(pids.map(finding));
          for (const pid of pids) {
            const lookup = byPid.get(pid)!;
            assertEquals("owners" in lookup && lookup.owners.get(LIBRARY)?.[0]?.name, PACKAGE);
          }
        } finally {
          Deno.openSync = open;
        }
        return count;
      };
      const once = await opened([container.pid]);
      assert(once > 0);
      assertEquals(await opened([container.pid, ...peers.map((peer) => peer.pid)]), once);
    }, { peers: 2 });
  },
});

Deno.test({
  name: "live: a container's database on a mount of its own is not read, and said so",
  ignore: MISSING !== undefined,
  async fn() {
    await withContainer({ files: dpkgImage() }, async (container) => {
      const file = await jsonFileOf(container.pid, LIBRARY);
      assertEquals("package" in file, false);
      assertMatch(file.package_unknown!, /on another mount than the process's root/);
    }, {
      setup: 'mount -t tmpfs tmpfs "$1/merged/var/lib/dpkg"\n' +
        'cp -r "$1/lower/var/lib/dpkg/." "$1/merged/var/lib/dpkg/"',
    });
  },
});
