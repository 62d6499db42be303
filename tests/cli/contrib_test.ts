/**
 * The integrations in `contrib/`, checked by the tools that read them where
 * this machine has them: systemd-analyze, visudo and sudo, icinga2, apt-config.
 * A missing tool makes its test ignored, with the reason printed. The CLI is
 * not installed at `/usr/local/bin/lib_users` here, so the files are checked
 * with that path pointing at a stub, and nothing else changed. Nothing is
 * written to the host's `/etc`: the sudoers rule is installed only inside a
 * private mount namespace, on a tmpfs that ends with it.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { decodeRun, findTool, ROOT } from "../_helpers.ts";

const CONTRIB = `${ROOT}/contrib`;
const INSTALLED = "/usr/local/bin/lib_users";

function which(tool: string): string | undefined {
  const path = findTool(tool);
  if (path === undefined) console.warn(`contrib_test: ${tool} not found: its test is ignored`);
  return path;
}

async function run(command: string, args: string[]) {
  return decodeRun(
    await new Deno.Command(command, { args, stdout: "piped", stderr: "piped", stdin: "null" })
      .output(),
  );
}

/**
 * A temporary directory with a stub of the CLI that records its arguments and
 * exits `code`; `mode` 0o700 when only root may even look in.
 */
function withStub(
  code: number,
  body: (dir: string, stub: string) => Promise<void>,
  mode = 0o755,
) {
  const dir = Deno.makeTempDirSync({ prefix: "lib_users_contrib_" });
  Deno.chmodSync(dir, mode);
  const stub = `${dir}/lib_users`;
  Deno.writeTextFileSync(stub, `#!/bin/sh\necho "stub $*"\nexit ${code}\n`);
  Deno.chmodSync(stub, 0o755);
  return body(dir, stub).finally(() => Deno.removeSync(dir, { recursive: true }));
}

const SYSTEMD_ANALYZE = which("systemd-analyze");
const VISUDO = which("visudo");
const SUDO = which("sudo");
const UNSHARE = which("unshare");
const ICINGA2 = which("icinga2");
const APT_CONFIG = which("apt-config");

Deno.test({
  name: "contrib/systemd: the service and timer pass systemd-analyze verify",
  ignore: SYSTEMD_ANALYZE === undefined,
  fn: () =>
    withStub(0, async (dir, stub) => {
      for (const unit of ["lib_users-textfile.service", "lib_users-textfile.timer"]) {
        const text = Deno.readTextFileSync(`${CONTRIB}/systemd/${unit}`);
        Deno.writeTextFileSync(`${dir}/${unit}`, text.replaceAll(INSTALLED, stub));
      }
      const service = Deno.readTextFileSync(`${CONTRIB}/systemd/lib_users-textfile.service`);
      assertStringIncludes(service, "--output /var/lib/prometheus/node-exporter/lib_users.prom");
      const verified = await run(SYSTEMD_ANALYZE!, [
        "verify",
        `${dir}/lib_users-textfile.service`,
        `${dir}/lib_users-textfile.timer`,
      ]);
      assertEquals(verified, { code: 0, stdout: "", stderr: "" });
    }),
});

/** The sudoers file, allowing `user` to run `stub` instead of the installed CLI. */
function sudoersFor(stub: string, user: string): string {
  return Deno.readTextFileSync(`${CONTRIB}/sudoers/lib_users`).replaceAll(INSTALLED, stub)
    .replace(/^nagios /m, `${user} `);
}

/**
 * Installs `sudoers` as the only file of `/etc/sudoers.d` in a private mount
 * namespace (a tmpfs over it that ends with the namespace, so a killed run
 * leaves no grant behind), then asks `sudo -l -U nobody STUB ARGS…` for each
 * argument list: whether the policy lets `nobody` run it, in order.
 */
async function allowedInNamespace(
  sudoers: string | null,
  stub: string,
  argLists: readonly string[],
): Promise<boolean[]> {
  const script = `set -eu
sudoers=$1 stub=$2; shift 2
mount -t tmpfs -o mode=0755,size=64k lib_users_test /etc/sudoers.d
if [ -n "$sudoers" ]; then install -m 0440 -o 0 -g 0 "$sudoers" /etc/sudoers.d/lib_users_test; fi
set -f
for args in "$@"; do
  # Word splitting of $args is wanted: one argument list per parameter.
  if "${SUDO}" -n -l -U nobody "$stub" $args >/dev/null 2>&1; then echo yes; else echo no; fi
done`;
  const ran = await run(UNSHARE!, [
    "-m",
    "--propagation",
    "private",
    "/bin/sh",
    "-c",
    script,
    "sh",
    sudoers ?? "",
    stub,
    ...argLists,
  ]);
  assertEquals(ran.code, 0, ran.stderr);
  const answers = ran.stdout.split("\n").filter(Boolean);
  assertEquals(answers.length, argLists.length, ran.stdout);
  return answers.map((answer) => answer === "yes");
}

/** The names in the host's `/etc/sudoers.d`. */
function hostSudoersD(): string[] {
  return [...Deno.readDirSync("/etc/sudoers.d")].map((entry) => entry.name).sort();
}

Deno.test({
  name: "contrib/sudoers parses, and lets the agent run the check and nothing else",
  ignore: VISUDO === undefined || SUDO === undefined || UNSHARE === undefined ||
    Deno.uid() !== 0,
  fn: () =>
    withStub(0, async (dir, stub) => {
      assertEquals((await run(VISUDO!, ["-cf", `${CONTRIB}/sudoers/lib_users`])).code, 0);
      // For `nobody` and the stub only, in a directory only root may write to.
      Deno.writeTextFileSync(`${dir}/sudoers`, sudoersFor(stub, "nobody"));
      assertEquals((await run(VISUDO!, ["-cf", `${dir}/sudoers`])).code, 0);
      const before = hostSudoersD();
      // What the Nagios and Icinga definitions run.
      const allowedLines = checkCommandLines();
      const refusedLines = [
        "--format=nagios -o /etc/shadow",
        "--format=nagios --output=/etc/shadow",
        "-m",
        "--format=nagios --proc /tmp/x",
        "--format=nagios -w 0;id",
      ];
      const lines = [...allowedLines, ...refusedLines];
      const answers = await allowedInNamespace(`${dir}/sudoers`, stub, lines);
      for (const [i, args] of lines.entries()) {
        assertEquals(answers[i], i < allowedLines.length, args);
      }
      // Without the file, nothing is allowed: the grant above is the rule's, not the host's.
      const without = await allowedInNamespace(null, stub, allowedLines);
      assertEquals(without, allowedLines.map(() => false));
      // The host's policy never saw it.
      assertEquals(hostSudoersD(), before);
    }, 0o700),
});

/** The argument lists the Nagios, NRPE and Icinga definitions pass to the CLI. */
function checkCommandLines(): string[] {
  const nagios = Deno.readTextFileSync(`${CONTRIB}/nagios/lib_users.cfg`);
  const lines = [...nagios.matchAll(/lib_users (--format=nagios[^\n]*)/g)].map((match) =>
    match[1]!.replaceAll("$ARG1$", "0").replaceAll("$ARG2$", "20").trim()
  );
  assertEquals(lines.length, 3);
  // Icinga 2: the command, then its arguments as the service example sets them.
  return [...lines, "--format=nagios -c 20 -t 50", "--format=nagios --fds -w @1:5 -c 10: -t 2.5"];
}

Deno.test({
  name: "contrib/icinga2: the CheckCommand passes icinga2 daemon -C",
  ignore: ICINGA2 === undefined || Deno.uid() !== 0,
  fn: () =>
    withStub(0, async (dir) => {
      // The daemon drops to its own user, which may not read the clone (it may lie in a 0700
      // directory): it reads a copy in this directory, which everyone may read.
      Deno.copyFileSync(`${CONTRIB}/icinga2/lib_users.conf`, `${dir}/lib_users.conf`);
      Deno.chmodSync(`${dir}/lib_users.conf`, 0o644);
      Deno.writeTextFileSync(
        `${dir}/icinga2.conf`,
        `include <itl>
include "${dir}/lib_users.conf"
object Host "h" { check_command = "dummy" }
object Service "s" { host_name = "h"; check_command = "lib_users"; vars.lib_users_critical = 20 }
`,
      );
      const checked = await run(ICINGA2!, ["daemon", "-C", "-c", `${dir}/icinga2.conf`]);
      assertEquals(checked.code, 0, checked.stdout + checked.stderr);
      assertStringIncludes(checked.stdout, "Instantiated 1 Service.");
      assertEquals(/\b(warning|critical)\//.test(checked.stdout), false, checked.stdout);
    }),
});

/** The lib_users hook line of contrib/apt/99lib_users, as apt-config reads it. */
async function aptHook(): Promise<string> {
  const dumped = await run(APT_CONFIG!, [
    "-c",
    `${CONTRIB}/apt/99lib_users`,
    "dump",
    "DPkg::Post-Invoke",
  ]);
  assertEquals(dumped.code, 0, dumped.stderr);
  const found = /^DPkg::Post-Invoke:: "(.*lib_users.*)";$/m.exec(dumped.stdout)?.[1];
  if (found === undefined) throw new Error(`No lib_users hook in ${dumped.stdout}`);
  return found;
}

const APT_LOG = "/var/log/apt/lib_users.log";

Deno.test({
  name: "contrib/apt: the hook parses, runs --apt-hook, logs it, and never fails the upgrade",
  ignore: APT_CONFIG === undefined,
  fn: async () => {
    const hook = await aptHook();
    for (const code of [0, 1, 2, 3]) {
      await withStub(code, async (dir, stub) => {
        const log = `${dir}/apt/lib_users.log`;
        Deno.mkdirSync(`${dir}/apt`);
        const ran = await run("/bin/sh", [
          "-c",
          hook.replaceAll(INSTALLED, stub).replaceAll(APT_LOG, log),
        ]);
        assertEquals([ran.code, ran.stderr], [0, ""]);
        assert(
          /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d lib_users --apt-hook\nstub --apt-hook\n$/.test(
            ran.stdout,
          ),
          ran.stdout,
        );
        // The same lines in the log, after any earlier run's.
        assertEquals(Deno.readTextFileSync(log), ran.stdout);
      });
    }
    // No log directory: the terminal still has it, the upgrade does not fail.
    await withStub(0, async (dir, stub) => {
      const ran = await run("/bin/sh", [
        "-c",
        hook.replaceAll(INSTALLED, stub).replaceAll(APT_LOG, `${dir}/missing/lib_users.log`),
      ]);
      assertEquals(ran.code, 0);
      assertStringIncludes(ran.stdout, "stub --apt-hook\n");
    });
    // No lib_users installed: nothing printed, nothing failed.
    const absent = await run("/bin/sh", [
      "-c",
      hook.replaceAll(INSTALLED, "/nonexistent/lib_users"),
    ]);
    assertEquals(absent, { code: 0, stdout: "", stderr: "" });
  },
});

Deno.test({
  name: "contrib/apt: after-upgrade = restart restarts the safe units unasked, with no terminal",
  ignore: APT_CONFIG === undefined,
  fn: async () => {
    const hook = await aptHook();
    const dir = Deno.makeTempDirSync({ prefix: "lib_users_apt_" });
    try {
      // The CLI on the fixture tree, its configuration file, and a systemctl that only records.
      const calls = `${dir}/calls`;
      Deno.writeTextFileSync(
        `${dir}/systemctl`,
        `#!/bin/sh\nprintf '%s\\n' "$*" >> '${calls}'\nexit 0\n`,
        { mode: 0o755 },
      );
      Deno.writeTextFileSync(`${dir}/lib_users.conf`, "after-upgrade = restart\nnever = ssh*\n");
      Deno.writeTextFileSync(
        `${dir}/lib_users`,
        `#!/bin/sh\nexec env PATH='${dir}:/usr/bin:/bin' LIB_USERS_CONFIG='${dir}/lib_users.conf' ` +
          `NO_COLOR=1 '${Deno.execPath()}' run --quiet -A '${ROOT}/main.ts' ` +
          `--proc '${ROOT}/testdata/proc_units' "$@"\n`,
        { mode: 0o755 },
      );
      const log = `${dir}/lib_users.log`;
      const ran = await run("/bin/sh", [
        "-c",
        hook.replaceAll(INSTALLED, `${dir}/lib_users`).replaceAll(APT_LOG, log),
      ]);
      assertEquals(ran.code, 0, ran.stdout + ran.stderr);
      const restarts = Deno.readTextFileSync(calls).split("\n")
        .filter((call) => call.startsWith("restart "));
      assertEquals(restarts, ["restart -- cron.service", "restart -- nginx.service"]);
      const logged = Deno.readTextFileSync(log);
      assertStringIncludes(logged, "Running: systemctl restart -- cron.service\n");
      // The fixture's processes outlive the stand-in's "restart": said, in the log too.
      assertStringIncludes(logged, "Left: 2 of 2 not clean");
      assertEquals(logged, ran.stdout);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
