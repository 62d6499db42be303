import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { canonicalPath, findPackageOwners } from "../lib/packages.ts";
import { formatPackages, packageUses } from "../lib/format/packages.ts";
import type { Group } from "../lib/group.ts";
import { ROOT, runCli } from "./_helpers.ts";
import { parseExposition } from "./_exposition.ts";
import { loadSchema, validate } from "./_json_schema.ts";

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
    ...(unit
      ? { unit: { name: unit, unit, class: "system-service", uid: null, container: null } }
      : {}),
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

Deno.test("CLI --packages names packages in every format, with only --allow-read", async () => {
  const read = [`--allow-read=${DPKG_ROOT}`];
  const args = ["--root", DPKG_ROOT, "--packages"];
  const shown = await runCli(read, [...args, "-s"]);
  assertEquals(shown.code, 0, shown.stderr);
  assertStringIncludes(
    shown.stdout,
    '100 "nginx: master process /usr/sbin/nginx" uses /opt/unowned/libz.so [no package],' +
      `${SSL} [libssl3:amd64 3.0.15-1~deb12u1]\n`,
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
    "--packages: no dpkg database nor rpm SQLite database readable under",
  );
});

/** A library a real package owns, that no running process maps, on a dpkg system; or why not. */
function liveCase(): { library: string; package: string } | string {
  if (Deno.uid() !== 0) return "not root: the test replaces a system file as dpkg does";
  const library = "/usr/lib/x86_64-linux-gnu/libanl.so.1";
  try {
    Deno.statSync(library);
    Deno.statSync("/var/lib/dpkg/info/libc6:amd64.list");
  } catch {
    return `no ${library} owned by libc6 (not a Debian amd64 system)`;
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
    const child = new Deno.Command("/bin/sh", {
      args: ["-c", "echo ready; exec sleep 1000"],
      env: { LD_PRELOAD: library },
      stdout: "piped",
      stdin: "null",
    }).spawn();
    const reader = child.stdout.getReader();
    await reader.read();
    // What dpkg does on an upgrade: write the new file beside it, rename it over the old one.
    const next = `${library}.dpkg-new`;
    Deno.copyFileSync(library, next);
    try {
      for (let tries = 0; tries < 100; tries++) {
        // The shell maps it too: wait for sleep, past the exec, to map the old file.
        const exe = Deno.readLinkSync(`/proc/${child.pid}/exe`);
        const maps = Deno.readTextFileSync(`/proc/${child.pid}/maps`);
        if (exe.endsWith("/sleep") && maps.includes("libanl.so.1")) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      Deno.renameSync(next, library);
      const report = JSON.parse((await runCli(["-A"], ["--packages", "--json"])).stdout);
      const group = report.groups.find((g: { pids: number[] }) => g.pids.includes(child.pid));
      assert(group, "the process is reported");
      const file = group.files.find((f: { path: string }) => f.path === library);
      assertEquals(file.package.name, owner);
      assert(file.package.version);
    } finally {
      try {
        Deno.removeSync(next);
      } catch { /* renamed */ }
      child.kill("SIGKILL");
      await reader.cancel();
      await child.status;
    }
  },
});
