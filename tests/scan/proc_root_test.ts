/**
 * What a scan knows of the proc root it was given, and says: a root that
 * holds no process, or a procfs in which the scan cannot find itself, is a
 * failed scan; a procfs at DIR is known as one with only `--allow-read=DIR`
 * (its `hidepid=`, who the scan runs as); processes that could not be read
 * are named, with why; an open file whose name the kernel will not return is
 * still reported.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { type CliRun, decodeRun, ROOT, runCli } from "../_helpers.ts";
import { parseExposition } from "../_exposition.ts";
import { cannotRunAsNobody, prepareNobody } from "../_nobody.ts";
import { deviceName } from "../../lib/proc/mounts.ts";

const MAIN = `${ROOT}/main.ts`;

Deno.test("a proc root that holds no process is a failed scan in every format", async (t) => {
  const dir = Deno.makeTempDirSync({ prefix: "lib_users_noproc_" });
  try {
    Deno.mkdirSync(`${dir}/empty`);
    // Directories, even one named like a PID's entry, but no numeric one.
    Deno.mkdirSync(`${dir}/lookalike/self`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/lookalike/self/maps`, "");
    const roots: [string, string][] = [
      [`${dir}/empty`, dir],
      [`${dir}/lookalike`, dir],
      ["/etc", "/etc"],
    ];
    for (const [root, read] of roots) {
      await t.step(root, async () => {
        const cli = (...args: string[]) =>
          runCli([`--allow-read=${read}`], ["--proc", root, ...args]);
        const reason = `Cannot scan: "${root}" holds no process: it is not a proc root`;
        for (const args of [["-s"], ["--check"], ["-m"], ["--json"]]) {
          const run = await cli(...args);
          assertEquals([run.code, run.stdout], [2, ""], args.join(" "));
          assertEquals(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
          assertStringIncludes(run.stderr, reason);
        }
        const nagios = await cli("--format=nagios");
        assertEquals(nagios.code, 3);
        assertMatch(nagios.stdout, new RegExp(`^UNKNOWN - ${escapeRegExp(reason)}`));
        const prometheus = await cli("--format=prometheus");
        assertEquals(prometheus.code, 2);
        const samples = parseExposition(prometheus.stdout);
        assertEquals(samples.get('lib_users_scan_success{scan="libs"}'), 0);
        assertEquals(samples.has('lib_users_stale_processes_all{scan="libs"}'), false);
      });
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("JSON says whether the proc root is a procfs", async () => {
  const tree = await runCli([`--allow-read=${ROOT}/testdata`], [
    "--proc",
    `${ROOT}/testdata/proc`,
    "--json",
  ]);
  assertEquals(JSON.parse(tree.stdout).procfs, false);
  const live = await runCli(["-A"], [
    "--json",
    "--root",
    `${ROOT}/testdata/root_current`,
    "--proc",
    "/proc",
  ]);
  assertEquals(JSON.parse(live.stdout).procfs, true);
});

const ROOTLESS = Deno.uid() !== 0 ? "not root: cannot mount a procfs" : undefined;

Deno.test({
  name: "a procfs in which the scan cannot find itself (another PID namespace's) is a failed scan",
  ignore: ROOTLESS !== undefined,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "lib_users_pidns_" });
    try {
      // In a private mount namespace: a procfs of a PID namespace of its own, whose only
      // process sleeps; the scan runs beside it, outside that PID namespace.
      const script = `
        unshare --pid --fork --kill-child sh -c 'mount -t proc proc "$1" && exec sleep 30' sh "$1" &
        for i in $(seq 200); do [ -e "$1/1/maps" ] && break; sleep 0.05; done
        [ -e "$1/1/maps" ] || { echo "the procfs was not mounted" >&2; kill $!; exit 97; }
        timeout 60 "$2" run --quiet -A "$3" --proc "$1" --format=nagios
        echo "exit $?"
        kill $!`;
      const output = await new Deno.Command("timeout", {
        args: [
          "90",
          "unshare",
          "--mount",
          "--propagation=private",
          "sh",
          "-c",
          script,
          "sh",
          dir,
          Deno.execPath(),
          MAIN,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const run = decodeRun(output);
      assertEquals(run.code, 0, run.stderr);
      assertMatch(
        run.stdout,
        new RegExp(
          `^UNKNOWN - Cannot scan: "${escapeRegExp(dir)}" is a procfs in which the scan cannot ` +
            "find itself \\(another PID namespace's\\?\\)[^\\n]*\\nexit 3\\n$",
        ),
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

const CANNOT = await cannotRunAsNobody();
if (CANNOT !== undefined) console.warn(`proc_root_test: runs as nobody ignored: ${CANNOT}`);

Deno.test({
  name: "a procfs at DIR is known with --allow-read=DIR alone: hidepid= and who runs are said",
  ignore: CANNOT !== undefined,
  async fn() {
    const cli = await prepareNobody();
    try {
      const proc = `${cli.dir}/proc`;
      Deno.mkdirSync(proc);
      Deno.chmodSync(proc, 0o755);
      const read = [`--allow-read=${proc}`];
      const hidden = { at: proc, options: "hidepid=2" };
      const json = await cli.run(read, ["--proc", proc, "--json"], hidden);
      assertEquals(json.code, 0, json.stderr);
      const report = JSON.parse(json.stdout);
      assertEquals(report.procfs, true);
      assertMatch(
        report.limited,
        new RegExp(
          `^${escapeRegExp(proc)} is mounted with hidepid=(2|invisible): other users' processes ` +
            "are invisible to a scan that is not root \\(uid 65534\\); it has to be run as root",
        ),
      );
      // Only its own processes seen, none stale: that is no "nothing".
      assertEquals(report.verdict, "unknown");
      const machine = await cli.run(read, ["--proc", proc, "-m", "-S"], hidden);
      assertEquals([machine.code, machine.stdout], [0, ""]);
      assertMatch(
        machine.stderr,
        /^Warning: [^\n]* is mounted with hidepid=[^\n]*has to be run as root/m,
      );
      const nagios = await cli.run(read, ["--proc", proc, "--format=nagios"], hidden);
      assertEquals(nagios.code, 3, nagios.stdout);
      assertMatch(nagios.stdout, /^UNKNOWN - .*hidepid=/);
      // Without hidepid=, other users' processes are seen but cannot be read: said too.
      const open = await cli.run(read, ["--proc", proc, "--json"], { at: proc, options: "rw" });
      const openReport = JSON.parse(open.stdout);
      assertEquals(openReport.procfs, true);
      assertMatch(openReport.limited, /^not root \(uid 65534\): \d+ of \d+ processes/);
    } finally {
      cli.close();
    }
  },
});

Deno.test("CLI names the processes it could not read and why, the first few; -q silences only the line", async () => {
  const tree = Deno.makeTempDirSync({ prefix: "lib_users_unreadable_" });
  try {
    for (let pid = 1; pid <= 7; pid++) {
      // A maps that is a directory: unreadable, whoever scans.
      Deno.mkdirSync(`${tree}/${pid}/maps`, { recursive: true });
      Deno.writeTextFileSync(`${tree}/${pid}/cmdline`, "x\0");
    }
    const run = await runCli(["-A"], ["--proc", tree]);
    assertEquals(run.code, 0);
    const why = (pid: number) =>
      `PID ${pid} (cannot read "${tree}/${pid}/maps": not a regular file)`;
    assertStringIncludes(
      run.stderr,
      `Warning: 7 processes could not be read: ${
        [1, 2, 3, 4, 5].map(why).join(", ")
      } and 2 more.\n`,
    );
    const json = JSON.parse((await runCli(["-A"], ["--proc", tree, "--json", "-q"])).stdout);
    assertEquals(json.unreadable, 7);
    assertEquals(json.unreadable_processes.map((p: { pid: number }) => p.pid), [
      1,
      2,
      3,
      4,
      5,
      6,
      7,
    ]);
    assertEquals(
      json.unreadable_processes[6].reason,
      `cannot read "${tree}/7/maps": not a regular file`,
    );
    assertEquals(await runCli(["-A"], ["--proc", tree, "-q"]), { code: 0, stdout: "", stderr: "" });
  } finally {
    Deno.removeSync(tree, { recursive: true });
  }
});

Deno.test({
  name: "live: an open deleted file whose name is too long to read is reported by device and inode",
  ignore: ROOTLESS !== undefined,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "lib_users_longname_" });
    let holder: Deno.ChildProcess | undefined;
    try {
      // 4,090 bytes in all: the kernel's readlink of the fd (with " (deleted)") needs more than
      // the page it allows.
      let path = dir;
      while (path.length < 3800) path += `/${"d".repeat(200)}`;
      Deno.mkdirSync(path, { recursive: true });
      path += `/${"f".repeat(4090 - path.length - 1)}`;
      assertEquals(path.length, 4090);
      Deno.writeTextFileSync(path, "x");
      const { dev, ino } = Deno.statSync(path);
      // A command line of this run's own: no other suite's process joins its group.
      const seconds = `60.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
      holder = new Deno.Command("sh", {
        args: [
          "-c",
          'exec 3<"$1" && rm "$1" && echo ready && exec sleep "$2"',
          "sh",
          path,
          seconds,
        ],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const reader = holder.stdout.getReader();
      const first = await reader.read();
      assertEquals(new TextDecoder().decode(first.value), "ready\n");
      reader.releaseLock();
      const placeholder = `(name too long: device ${deviceName(dev)} inode ${ino})`;
      const machine = await runCli(["-A"], ["--fds", "-m"]);
      const row = machine.stdout.split("\n").find((line) => line.startsWith(`${holder!.pid};`));
      assertEquals(row, `${holder.pid};${placeholder};sleep ${seconds}`);
      const json: CliRun = await runCli(["-A"], ["--fds", "--json"]);
      const group = JSON.parse(json.stdout).groups.find((g: { pids: number[] }) =>
        g.pids.includes(holder!.pid)
      );
      assert(group !== undefined, "the holder is reported");
      assertEquals(group.files, [{
        path: placeholder,
        kind: "fd",
        verified: true,
        // Its path is not known: neither what stands there, nor since when.
        state: null,
        replaced_at: null,
        unnamed: { device: deviceName(dev), inode: ino },
      }]);
    } finally {
      if (holder !== undefined) {
        holder.kill();
        await holder.stdout.cancel().catch(() => {});
        await holder.status;
      }
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
