/**
 * The integrations in `contrib/`, checked by the tools that read them where
 * this machine has them: systemd-analyze, visudo and sudo, icinga2, apt-config.
 * A missing tool makes its test ignored, with the reason printed. The CLI is
 * not installed at `/usr/local/bin/lib_users` here, so the files are checked
 * with that path pointing at a stub, and nothing else changed.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { decodeRun, findTool, ROOT } from "./_helpers.ts";

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

/** A temporary directory with a stub of the CLI that records its arguments and exits `code`. */
function withStub(code: number, body: (dir: string, stub: string) => Promise<void>) {
  const dir = Deno.makeTempDirSync({ prefix: "lib_users_contrib_" });
  Deno.chmodSync(dir, 0o755);
  const stub = `${dir}/lib_users`;
  Deno.writeTextFileSync(stub, `#!/bin/sh\necho "stub $*"\nexit ${code}\n`);
  Deno.chmodSync(stub, 0o755);
  return body(dir, stub).finally(() => Deno.removeSync(dir, { recursive: true }));
}

const SYSTEMD_ANALYZE = which("systemd-analyze");
const VISUDO = which("visudo");
const SUDO = which("sudo");
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

Deno.test({
  name: "contrib/sudoers parses, and lets the agent run the check and nothing else",
  ignore: VISUDO === undefined || SUDO === undefined || Deno.uid() !== 0,
  fn: () =>
    withStub(0, async (dir, stub) => {
      assertEquals((await run(VISUDO!, ["-cf", `${CONTRIB}/sudoers/lib_users`])).code, 0);
      // Installed for a moment under a name of its own, for `nobody` and the stub only.
      const installed = `/etc/sudoers.d/lib_users_test_${crypto.randomUUID().slice(0, 8)}`;
      Deno.writeTextFileSync(`${dir}/sudoers`, sudoersFor(stub, "nobody"));
      assertEquals((await run(VISUDO!, ["-cf", `${dir}/sudoers`])).code, 0);
      Deno.copyFileSync(`${dir}/sudoers`, installed);
      Deno.chmodSync(installed, 0o440);
      try {
        const allowed = async (args: string) =>
          (await run(SUDO!, ["-l", "-U", "nobody", stub, ...args.split(" ")])).code === 0;
        // What the Nagios and Icinga definitions run.
        for (const args of checkCommandLines()) assert(await allowed(args), args);
        for (
          const args of [
            "--format=nagios -o /etc/shadow",
            "--format=nagios --output=/etc/shadow",
            "-m",
            "--format=nagios --proc /tmp/x",
            "--format=nagios -w 0;id",
          ]
        ) {
          assertEquals(await allowed(args), false, args);
        }
      } finally {
        Deno.removeSync(installed);
      }
    }),
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
      Deno.writeTextFileSync(
        `${dir}/icinga2.conf`,
        `include <itl>
include "${CONTRIB}/icinga2/lib_users.conf"
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

Deno.test({
  name: "contrib/apt: the hook parses, prints the plan, and never fails the upgrade",
  ignore: APT_CONFIG === undefined,
  fn: async () => {
    const dumped = await run(APT_CONFIG!, [
      "-c",
      `${CONTRIB}/apt/99lib_users`,
      "dump",
      "DPkg::Post-Invoke",
    ]);
    assertEquals(dumped.code, 0, dumped.stderr);
    const found = /^DPkg::Post-Invoke:: "(.*lib_users.*)";$/m.exec(dumped.stdout)?.[1];
    if (found === undefined) throw new Error(`No lib_users hook in ${dumped.stdout}`);
    const hook = found;
    for (const code of [0, 1, 2, 3]) {
      await withStub(code, async (_dir, stub) => {
        const ran = await run("/bin/sh", ["-c", hook.replaceAll(INSTALLED, stub)]);
        assertEquals(ran, { code: 0, stdout: "stub -q --restart-hints\n", stderr: "" });
      });
    }
    // No lib_users installed: nothing printed, nothing failed.
    const absent = await run("/bin/sh", [
      "-c",
      hook.replaceAll(INSTALLED, "/nonexistent/lib_users"),
    ]);
    assertEquals(absent, { code: 0, stdout: "", stderr: "" });
  },
});
