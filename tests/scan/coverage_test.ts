/**
 * Coverage on the live kernel: a scan that runs as an unprivileged user, or on
 * a procfs mounted with `hidepid=`, sees only part of the processes, and
 * monitoring must hear it. The CLI runs bundled (the unprivileged user cannot
 * read root's Deno cache) as `nobody`, with a copy of the deno binary.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { decodeRun, findTool, ROOT, runCli } from "../_helpers.ts";
import { parseExposition } from "../_exposition.ts";
import { loadSchema, validate } from "../_json_schema.ts";
import { spawnStale } from "../_live.ts";
import { cannotRunAsNobody, prepareNobody } from "../_nobody.ts";

const MISSING = await cannotRunAsNobody();
if (MISSING !== undefined) console.warn(`coverage_test: ignored: ${MISSING}`);

const UNSHARE = findTool("unshare");
const MOUNT = findTool("mount");

/**
 * Why a procfs cannot be mounted with hidepid= here, or undefined: asked
 * beforehand, in a private mount namespace that ends with the probe.
 */
async function hidepidMissing(): Promise<string | undefined> {
  if (MISSING !== undefined) return MISSING;
  if (UNSHARE === undefined || MOUNT === undefined) return "no unshare or mount (util-linux)";
  const dir = Deno.makeTempDirSync({ prefix: "lib_users_hidepid_probe_" });
  try {
    const probe = await new Deno.Command(UNSHARE, {
      args: [
        "-m",
        "--propagation",
        "private",
        MOUNT,
        "-t",
        "proc",
        "-o",
        "hidepid=invisible",
        "proc",
        dir,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    const why = new TextDecoder().decode(probe.stderr).trim();
    return probe.success ? undefined : `procfs cannot be mounted with hidepid=invisible: ${why}`;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const NO_HIDEPID = await hidepidMissing();
if (NO_HIDEPID !== undefined && MISSING === undefined) {
  console.warn(`coverage_test: hidepid case ignored: ${NO_HIDEPID}`);
}

/**
 * The command line that runs `command` in a private mount namespace with a
 * procfs mounted `hidepid=invisible` at `proc`: the mount ends with the
 * command, so a killed run leaves none behind.
 */
function withHidepid(proc: string, command: readonly string[]): string[] {
  return [
    UNSHARE!,
    "-m",
    "--propagation",
    "private",
    "/bin/sh",
    "-c",
    '"$1" -t proc -o hidepid=invisible proc "$2" && shift 2 && exec "$@"',
    "sh",
    MOUNT!,
    proc,
    ...command,
  ];
}

/** The CLI as nobody, with every Deno permission, as an unprivileged agent runs it. */
async function prepare() {
  const cli = await prepareNobody();
  const hidepid = (proc: string) => ({ at: proc, options: "hidepid=invisible" });
  return {
    dir: cli.dir,
    /** Runs it; with `hiddenAt`, over a procfs mounted there with hidepid=invisible. */
    run: (args: string[], hiddenAt?: string) =>
      cli.run(["-A"], args, hiddenAt === undefined ? undefined : hidepid(hiddenAt)),
  };
}

Deno.test({
  name: "a scan that is not root says so: Nagios UNKNOWN, scan_success 0, unless --allow-partial",
  ignore: MISSING !== undefined,
  async fn() {
    const { dir, run } = await prepare();
    // A root process that maps a deleted library: what an unprivileged scan cannot see.
    const stale = await spawnStale({
      program: "sleep",
      exe: "cover-sleep",
      libs: ["libcover.so.1"],
    });
    try {
      const nagios = await run(["--format=nagios"]);
      assertEquals(nagios.code, 3, nagios.stdout + nagios.stderr);
      assertMatch(
        nagios.stdout,
        // The Python tools' words, what would fix it and the count; the kernel's state may be
        // unknown here (no /boot), which is said first.
        /^UNKNOWN - (?:whether a reboot is needed is unknown \([^\n|]*\); )?not root \(uid 65534\): \d+ of \d+ processes \(other users'\) could not be read; it has to be run as root, or with CAP_SYS_PTRACE \(and CAP_CHECKPOINT_RESTORE to check identities\); of the processes read, none uses deleted libraries \(\d+ unreadable\) \| .*scanned_processes=[1-9]\d*;;;0;( reboot_required=[01];;;0;1)?\n/,
      );

      const accepted = await run(["--format=nagios", "--allow-partial"]);
      assertEquals(accepted.code, 0, accepted.stdout);
      assertMatch(
        accepted.stdout,
        /^OK - (?:whether a reboot is needed is unknown \([^\n|]*\); )?no process uses deleted libraries \(\d+ unreadable\) \| /,
      );

      const metrics = await run(["--format=prometheus"]);
      assertEquals(metrics.code, 0);
      const samples = parseExposition(metrics.stdout);
      assertEquals(samples.get('lib_users_scan_success{scan="libs"}'), 0);
      assert(samples.get('lib_users_unreadable_processes{scan="libs"}')! > 0);
      assert(samples.get('lib_users_scanned_processes{scan="libs"}')! >= 1);
      // No count that would read as "nothing stale".
      assertEquals(samples.has('lib_users_stale_processes_all{scan="libs"}'), false);
      const acceptedMetrics = parseExposition(
        (await run(["--format=prometheus", "--allow-partial"])).stdout,
      );
      assertEquals(acceptedMetrics.get('lib_users_scan_success{scan="libs"}'), 1);

      const report = JSON.parse((await run(["--json"])).stdout);
      assertEquals(validate(await loadSchema(), report), []);
      assertMatch(report.limited, /^not root \(uid 65534\): .* has to be run as root/);
      // Nothing found, but a partial view: the verdict is no "nothing".
      assertEquals(report.verdict, "unknown");
      assert(report.unreadable > 0 && report.scanned >= 1);

      const human = await run([]);
      assertEquals([human.code, human.stdout], [0, ""]);
      assertStringIncludes(human.stderr, "Warning: Some files could not be read.\n");
      assertStringIncludes(human.stderr, "Warning: not root (uid 65534): ");
      assertStringIncludes(human.stderr, "has to be run as root");
      assertEquals(human.stderr.includes("Note that"), false, "one explanation, not two");
      assertEquals(await run(["-q"]), { code: 0, stdout: "", stderr: "" });

      // Root sees the stale process; PID 1, unreadable even to root here, is a counted warning.
      // (A fixture root whose kernel is known: this host's may not be.)
      const known = ["--root", `${ROOT}/testdata/root_current`, "--proc", "/proc"];
      const asRoot = await runCli(["-A"], ["--format=nagios", ...known]);
      assertEquals(asRoot.code, 1, asRoot.stdout);
      assertMatch(asRoot.stdout, /^WARNING - \d+ process/);
      assert(
        asRoot.stdout.split("\n").some((l) => l.startsWith(`PIDs ${stale.pid} `)),
        asRoot.stdout,
      );
    } finally {
      await stale.stop();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a procfs mounted with hidepid= makes a scan that is not root UNKNOWN",
  ignore: NO_HIDEPID !== undefined,
  async fn() {
    const { dir, run } = await prepare();
    const proc = `${dir}/proc`;
    Deno.mkdirSync(proc);
    const hidden = (command: string[]) => withHidepid(proc, command);
    const asRoot = async (args: string[]) => {
      const command = hidden([Deno.execPath(), "run", "--quiet", "-A", `${ROOT}/main.ts`, ...args]);
      return decodeRun(
        await new Deno.Command(command[0]!, {
          args: command.slice(1),
          env: { NO_COLOR: "1" },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output(),
      );
    };
    try {
      // Other users' processes are not unreadable here: they are not listed at all.
      const nagios = await run(["--format=nagios", "--proc", proc], proc);
      assertEquals(nagios.code, 3, nagios.stdout + nagios.stderr);
      assertMatch(
        nagios.stdout,
        new RegExp(
          `^UNKNOWN - (?:whether a reboot is needed is unknown \\([^\n|]*\\); )?${proc} is mounted with hidepid=invisible: other users' processes are invisible to a scan that is not root \\(uid 65534\\); it has to be run as root, or with CAP_SYS_PTRACE \\(and CAP_CHECKPOINT_RESTORE to check identities\\); .* \\(?`,
        ),
      );
      assertStringIncludes(nagios.stdout, "unreadable_processes=0;");
      const rootPartial = await asRoot(["--format=nagios", "--proc", proc, "--allow-partial"]);
      assert(!rootPartial.stdout.startsWith("UNKNOWN"), rootPartial.stdout + rootPartial.stderr);
      // A fixture root whose kernel is known: nothing else may make it UNKNOWN.
      const known = `${ROOT}/testdata/root_current`;
      const rootStrict = await asRoot(["--format=nagios", "--proc", proc, "--root", known]);
      assert(!rootStrict.stdout.startsWith("UNKNOWN"), rootStrict.stdout + rootStrict.stderr);
      // Nothing was mounted here: the procfs lived in the namespaces only.
      assertEquals([...Deno.readDirSync(proc)], []);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
