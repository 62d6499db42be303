import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { canonicalPath, findPackageOwners } from "../../lib/answers/packages.ts";
import {
  filePackages,
  formatPackages,
  formatPackagesMachine,
  packageUses,
} from "../../lib/format/packages.ts";
import type { PackageLookup, ProcessPackages } from "../../lib/answers/package_roots.ts";
import { formatHuman } from "../../lib/format/human.ts";
import { formatJson } from "../../lib/format/json.ts";
import { formatNagios } from "../../lib/format/nagios.ts";
import { formatPrometheus } from "../../lib/format/prometheus.ts";
import type { Group } from "../../lib/scan/group.ts";
import { ROOT, runCli } from "../_helpers.ts";
import { parseExposition } from "../_exposition.ts";
import { loadSchema, validate } from "../_json_schema.ts";

const DPKG_ROOT = `${ROOT}/testdata/root_dpkg`;
const SSL = "/usr/lib/x86_64-linux-gnu/libssl.so.3";

Deno.test("canonicalPath() spells usrmerge aliases one way", () => {
  assertEquals(
    canonicalPath("/lib/x86_64-linux-gnu/libc.so.6"),
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
  );
  assertEquals(canonicalPath("/bin/sh"), "/usr/bin/sh");
  assertEquals(canonicalPath("/lib64/ld-linux-x86-64.so.2"), "/usr/lib64/ld-linux-x86-64.so.2");
  assertEquals(canonicalPath("/library/x"), "/library/x");
  assertEquals(canonicalPath("/usr/lib/x"), "/usr/lib/x");
});

/** Every directory usrmerge made a link into /usr; each must be known, one by one. */
const USRMERGE_ALIASES = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

Deno.test("canonicalPath() and findPackageOwners() know every usrmerge alias", async (t) => {
  // A database made here, in the test's own directory, listing a file under each alias.
  const root = Deno.makeTempDirSync({ prefix: "lib_users_usrmerge_" });
  try {
    Deno.mkdirSync(`${root}/var/lib/dpkg/info`, { recursive: true });
    for (const alias of USRMERGE_ALIASES) {
      const name = alias.slice(1);
      // dpkg lists one spelling; a process maps the other.
      Deno.writeTextFileSync(
        `${root}/var/lib/dpkg/info/short-${name}.list`,
        `${alias}\n${alias}/lu-short\n`,
      );
      Deno.writeTextFileSync(
        `${root}/var/lib/dpkg/info/long-${name}.list`,
        `/usr${alias}\n/usr${alias}/lu-long\n`,
      );
    }
    for (const alias of USRMERGE_ALIASES) {
      await t.step(alias, async () => {
        assertEquals(canonicalPath(`${alias}/x`), `/usr${alias}/x`);
        assertEquals(canonicalPath(alias), `/usr${alias}`);
        assertEquals(canonicalPath(`/usr${alias}/x`), `/usr${alias}/x`);
        const long = `/usr${alias}/lu-short`;
        const short = `${alias}/lu-long`;
        const owners = (await findPackageOwners([long, short], root))!;
        const name = alias.slice(1);
        assertEquals(owners.get(long)?.map((o) => o.name), [`short-${name}`]);
        assertEquals(owners.get(short)?.map((o) => o.name), [`long-${name}`]);
      });
    }
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("findPackageOwners() reads dpkg's lists, status and logs, usrmerge-aware", async () => {
  const owners = (await findPackageOwners([
    SSL, // listed as /lib/…
    "/lib/x86_64-linux-gnu/libc.so.6", // and the other way round
    "/usr/share/doc/shared-file", // in two packages
    "/usr/bin/orphan-tool", // a list without a status entry, nor a log line
    "/opt/unowned/libz.so",
    "garbage line", // a line of a list file that is no path
  ], DPKG_ROOT))!;
  assertEquals(owners.get(SSL), [{
    name: "libssl3:amd64",
    version: "3.0.15-1~deb12u1",
    // The latest "status installed" line, in dpkg.log (dpkg.log.1 has an older one).
    changed: "2026-11-30 10:02:11",
    changedFrom: "dpkg.log",
  }]);
  // From the rotated, gzip-compressed log; "half-configured" lines do not count.
  assertEquals(owners.get("/lib/x86_64-linux-gnu/libc.so.6")![0]!.changed, "2026-09-01 07:00:00");
  assertEquals(owners.get("/usr/share/doc/shared-file")!.map((o) => o.name), [
    "libc6:amd64",
    "nginx-core",
  ]);
  const [orphan] = owners.get("/usr/bin/orphan-tool")!;
  assertEquals([orphan!.version, orphan!.changedFrom], [null, "list-mtime"]);
  assertMatch(orphan!.changed!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  assertEquals(owners.get("/opt/unowned/libz.so"), []);
  assertEquals(owners.get("garbage line"), []);
  // Not a Debian root: no database, said as null.
  assertEquals(await findPackageOwners([SSL], `${ROOT}/testdata/proc`), null);
});

Deno.test("packageUses() groups processes by package, the unowned last", () => {
  const group = (pids: number[], unit: string | null, paths: string[]): Group => ({
    pids,
    argv: ["x"],
    cmdline: "x",
    files: paths.map((path) => ({ path, kind: "library" as const })),
    ...(unit ? { unit: { name: unit, class: "system-service", uid: null, container: null } } : {}),
  });
  const owner = (name: string) => ({ name, version: "1", changed: null, changedFrom: null });
  const owners = new Map([["/a", [owner("pa")]], ["/b", [owner("pb")]], ["/c", []]]);
  const groups = [group([3], "s3.service", ["/b", "/c"]), group([1, 2], null, ["/a", "/b"])];
  assertEquals(
    packageUses(groups, owners).map((use) => [use.owner?.name ?? null, use.pids, use.names]),
    [["pa", [1, 2], ["x"]], ["pb", [1, 2, 3], ["s3.service", "x"]], [null, [3], ["s3.service"]]],
  );
  assertEquals(
    formatPackages(groups, owners, true),
    "# Packages:\n#   pa 1: x (PIDs 1,2)\n#   pb 1: s3.service, x (PIDs 1,2,3)\n#   no package: /c: s3.service (PIDs 3)\n",
  );
});

Deno.test("formats say a package is unknown where a process's tree could not answer, never guess it", async () => {
  const lib = "/usr/lib/x86_64-linux-gnu/libkeyutils.so.1.10";
  const host = { name: "libkeyutils1:amd64", version: "1.6.3-2", changed: null, changedFrom: null };
  const container = { ...host, version: "1.6.3-1" };
  // One program on the host (7), in a container (8), and in a container whose database
  // cannot be read (9): one group, three answers for one path.
  const packages: ProcessPackages = {
    byPid: new Map<number, PackageLookup>([
      [7, { owners: new Map([[lib, [host]]]) }],
      [8, { owners: new Map([[lib, [container]], ["/opt/own.so", []]]) }],
      [9, { unknown: "no database\x1b[2J here", paths: new Set([lib]) }],
    ]),
  };
  const groups: Group[] = [{
    pids: [7, 8, 9],
    argv: ["keyd"],
    cmdline: "keyd",
    files: [{ path: "/opt/own.so", kind: "library" }, { path: lib, kind: "library" }],
  }];
  assertEquals(filePackages(packages, { pids: [7], path: lib }), { owners: [host] });
  assertEquals(filePackages(packages, { pids: [8, 9], path: "/opt/own.so" }), { owners: [] });
  assertEquals(filePackages(packages, { pids: [7, 9], path: lib }), {
    owners: [host],
    unknown: "no database\x1b[2J here",
  });
  assertEquals(
    packageUses(groups, packages).map((
      use,
    ) => [use.owner?.version ?? use.unknown ?? null, use.pids]),
    [["1.6.3-1", [8]], ["1.6.3-2", [7]], [null, [8]], ["no database\x1b[2J here", [9]]],
  );
  assertEquals(
    formatPackages(groups, packages),
    "Packages:\n" +
      "  libkeyutils1:amd64 1.6.3-1: keyd (PIDs 8)\n" +
      "  libkeyutils1:amd64 1.6.3-2: keyd (PIDs 7)\n" +
      "  no package: /opt/own.so: keyd (PIDs 8)\n" +
      `  package unknown (no database\\x1b[2J here): ${lib}: keyd (PIDs 9)\n`,
  );
  assertEquals(
    formatPackagesMachine(groups, packages),
    "libkeyutils1:amd64;1.6.3-1;;8\nlibkeyutils1:amd64;1.6.3-2;;7\n;;;8\n?;;;9\n",
  );
  assertEquals(
    formatHuman(groups, { showFiles: true, packages }),
    `7,8,9 "keyd" uses /opt/own.so [no package],${lib} ` +
      "[libkeyutils1:amd64 1.6.3-1, libkeyutils1:amd64 1.6.3-2, package unknown]\n",
  );
  const report = JSON.parse(formatJson(groups, { scan: "libs", packages }));
  assertEquals(validate(await loadSchema(), report), []);
  const [own, shared] = report.groups[0].files;
  assertEquals([own.package, own.package_unknown], [null, undefined]);
  assertEquals(shared.package.version, "1.6.3-1");
  assertEquals(shared.other_owners, ["libkeyutils1:amd64"]);
  assertEquals(shared.package_unknown, "no database\x1b[2J here");
  // Only unknown: no package at all, not null.
  const alone = JSON.parse(formatJson([{ ...groups[0]!, pids: [9] }], { scan: "libs", packages }));
  assertEquals("package" in alone.groups[0].files[1], false);
  assertEquals(alone.groups[0].files[1].package_unknown, "no database\x1b[2J here");
  const metrics = parseExposition(formatPrometheus(groups, { scan: "libs", packages }));
  assertEquals(
    metrics.get('lib_users_stale_package_processes{scan="libs",package="?",version=""}'),
    1,
  );
  const nagios = formatNagios(groups, { scan: "libs", packages }).text;
  assertStringIncludes(nagios, "\npackage: package unknown (no database\\x1b[2J here): ");
});

/** An age as -s writes it. */
const AGE = /\((?:[0-9]+ (?:day|hour|minute)s?|less than a minute) ago\)/g;

/** When the fixture's dpkg.log says libssl3 was installed: local time, as dpkg writes it. */
const SSL_CHANGED = new Date(2026, 10, 30, 10, 2, 11).getTime();

Deno.test("CLI --packages names packages in every format, with only --allow-read", async () => {
  const read = [`--allow-read=${DPKG_ROOT}`];
  const args = ["--root", DPKG_ROOT, "--packages"];
  const shown = await runCli(read, [...args, "-s"]);
  assertEquals(shown.code, 0, shown.stderr);
  // The fixture tree's marker decides (no state), and the package dates its file.
  // (The age counts to the run's start, not this test's clock: only its form is pinned.)
  assertStringIncludes(
    shown.stdout.replace(AGE, "(AGE ago)"),
    '100 "nginx: master process /usr/sbin/nginx" uses /opt/unowned/libz.so [no package],' +
      `${SSL} [libssl3:amd64 3.0.15-1~deb12u1] (AGE ago)\n`,
  );
  assertStringIncludes(
    shown.stdout,
    "\nPackages:\n  libssl3:amd64 3.0.15-1~deb12u1, changed 2026-11-30 10:02:11: " +
      "nginx: master process /usr/sbin/nginx, /usr/sbin/cron -f (PIDs 100,110)\n",
  );
  const machine = await runCli(read, [...args, "-m"]);
  assertEquals(
    machine.stdout.split("\n\n")[1],
    "libssl3:amd64;3.0.15-1~deb12u1;2026-11-30 10:02:11;100,110\n;;;100,110\n",
  );
  const report = JSON.parse((await runCli(read, [...args, "--json"])).stdout);
  assertEquals(validate(await loadSchema(), report), []);
  const files = report.groups[0].files;
  assertEquals(files[0].package, null);
  assertEquals(files[1].package, {
    name: "libssl3:amd64",
    version: "3.0.15-1~deb12u1",
    changed: "2026-11-30 10:02:11",
    changed_from: "dpkg.log",
  });
  assertEquals([files[0].replaced_at, files[1].replaced_at], [
    null,
    new Date(SSL_CHANGED).toISOString(),
  ]);
  const nagios = await runCli(read, [...args, "--format=nagios"]);
  assertStringIncludes(
    nagios.stdout,
    "\npackage: libssl3:amd64 3.0.15-1~deb12u1, changed 2026-11-30 10:02:11: nginx.service, cron.service (PIDs 100,110)\n",
  );
  const metrics = parseExposition((await runCli(read, [...args, "--format=prometheus"])).stdout);
  assertEquals(
    metrics.get(
      'lib_users_stale_package_processes{scan="libs",package="libssl3:amd64",version="3.0.15-1~deb12u1"}',
    ),
    2,
  );
  const plan = await runCli(read, [...args, "--restart-hints"]);
  assertStringIncludes(
    plan.stdout,
    "\n# Packages:\n#   libssl3:amd64 3.0.15-1~deb12u1, changed 2026-11-30 10:02:11: nginx.service, cron.service (PIDs 100,110)\n",
  );
  // Without --packages, nothing of it: the outputs scripts parse stay as they were.
  assertEquals((await runCli(read, ["--root", DPKG_ROOT, "-m"])).stdout.includes("libssl3"), false);
  // No database there: said once on stderr, the output otherwise the same.
  const none = await runCli([`--allow-read=${ROOT}/testdata`], [
    "--proc",
    `${DPKG_ROOT}/proc`,
    "--root",
    `${ROOT}/testdata/root_current`,
    "--packages",
    "-m",
  ]);
  assertEquals(none.code, 0);
  assertStringIncludes(
    none.stderr,
    "(--packages): no dpkg database nor rpm SQLite database readable under",
  );
});

/** A library a real package owns, on a dpkg system, and what it takes to replace it privately; or why not. */
function liveCase(): { library: string; package: string } | string {
  if (Deno.uid() !== 0) {
    return "not root: the test mounts an overlay in a mount namespace of its own";
  }
  const library = "/usr/lib/x86_64-linux-gnu/libanl.so.1";
  try {
    Deno.statSync(library);
    Deno.statSync("/var/lib/dpkg/info/libc6:amd64.list");
    Deno.statSync("/usr/bin/unshare");
  } catch {
    return `no ${library} owned by libc6, or no unshare (not a Debian amd64 system)`;
  }
  return { library, package: "libc6:amd64" };
}
const LIVE = liveCase();
if (typeof LIVE === "string") console.warn(`packages_test: live case ignored: ${LIVE}`);

Deno.test({
  name: "live: a process mapping a library that dpkg then replaces is attributed to its package",
  ignore: typeof LIVE === "string",
  async fn() {
    const { library, package: owner } = LIVE as { library: string; package: string };
    const libDir = library.slice(0, library.lastIndexOf("/"));
    // The library's directory is an overlay in a mount namespace of the process's own, its
    // upper layer in this test's directory: the replacement never reaches the host's file,
    // and a killed run leaves nothing mounted (the namespace ends with its last process).
    const dir = Deno.makeTempDirSync({ prefix: "lib_users_packages_live_" });
    Deno.mkdirSync(`${dir}/upper`);
    Deno.mkdirSync(`${dir}/work`);
    const before = Deno.statSync(library);
    const child = new Deno.Command("unshare", {
      args: [
        "-m",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        `set -e
        mount -t overlay overlay -o "lowerdir=$2,upperdir=$1/upper,workdir=$1/work" "$2"
        echo ready
        exec env LD_PRELOAD="$3" sleep 1000`,
        "sh",
        dir,
        libDir,
        library,
      ],
      stdout: "piped",
      stdin: "null",
    }).spawn();
    const reader = child.stdout.getReader();
    try {
      const ready = await reader.read();
      assert(!ready.done, "the process mounted its overlay");
      // The shell maps it too: wait for sleep, past the exec, to map the old file.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const exe = Deno.readLinkSync(`/proc/${child.pid}/exe`);
        const maps = Deno.readTextFileSync(`/proc/${child.pid}/maps`);
        if (exe.endsWith("/sleep") && maps.includes("libanl.so.1")) break;
        if (Date.now() > deadline) throw new Error("sleep did not map the library within 10 s");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // What dpkg does on an upgrade: write the new file beside it, rename it over the old
      // one; here inside the process's own view, through its root.
      const inside = `/proc/${child.pid}/root${library}`;
      Deno.copyFileSync(inside, `${inside}.dpkg-new`);
      Deno.renameSync(`${inside}.dpkg-new`, inside);
      const report = JSON.parse((await runCli(["-A"], ["--packages", "--json"])).stdout);
      const group = report.groups.find((g: { pids: number[] }) => g.pids.includes(child.pid));
      assert(group, "the process is reported");
      const file = group.files.find((f: { path: string }) => f.path === library);
      assertEquals(file.package.name, owner);
      assert(file.package.version);
      // The host's file is the one it was.
      const after = Deno.statSync(library);
      assertEquals([after.dev, after.ino, after.mtime], [before.dev, before.ino, before.mtime]);
    } finally {
      child.kill("SIGKILL");
      await reader.cancel();
      await child.status;
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
