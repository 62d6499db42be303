/**
 * `--format=needrestart` beside the real `needrestart -b` (Debian's package,
 * which `.ci/run` installs with NEEDRESTART_SUSPEND=1) on the same live
 * state: units of a systemd 252 booted by the test whose library an
 * "update" replaced, judged by both from inside that system.
 */

import { assert, assertEquals } from "@std/assert";
import { cannotBootSystemd, cliInside, waitForMapped, withCliBoot } from "../_systemd.ts";
import { realLibrary } from "../_live.ts";
import { findTool, runCli } from "../_helpers.ts";

const NEEDRESTART = findTool("needrestart");
const CANNOT = (await cannotBootSystemd()) ??
  (NEEDRESTART === undefined ? "needrestart is not installed" : undefined);
if (CANNOT !== undefined) console.warn(`needrestart_systemd_test: ignored: ${CANNOT}`);

/** The values of one batch key, sorted. */
function values(text: string, key: string): string[] {
  return text.split("\n").filter((line) => line.startsWith(`NEEDRESTART-${key}: `))
    .map((line) => line.slice(`NEEDRESTART-${key}: `.length)).sort();
}

Deno.test({
  name:
    "--format=needrestart and needrestart -b name the same stale services, from inside one system",
  ignore: CANNOT !== undefined,
  async fn() {
    await withCliBoot("lib_users_needrestart_", async (booted, dir) => {
      Deno.copyFileSync(realLibrary(), `${dir}/lib.so`);
      // Outside /tmp, which needrestart leaves out of its judgement.
      const libs = `/opt/lu-${booted.tag}`;
      const units = ["a", "b"].map((name) => `lu-nr-${name}-${booted.tag}.service`);
      const copied = await booted.run([
        "sh",
        "-c",
        `mkdir -p ${libs} && cp ${dir}/lib.so ${libs}/a.so && cp ${dir}/lib.so ${libs}/b.so`,
      ]);
      assertEquals(copied.code, 0, copied.stderr);
      for (const [i, unit] of units.entries()) {
        const lib = `${libs}/${"ab"[i]}.so`;
        await booted.installUnit(
          unit,
          `[Service]\nEnvironment=LD_PRELOAD=${lib}\nExecStart=/bin/sleep 1000\n`,
        );
        assertEquals((await booted.systemctl("start", "--", unit)).code, 0);
        await waitForMapped(booted, unit, lib);
      }
      const updated = await booted.run([
        "sh",
        "-c",
        `for l in a b; do cp ${libs}/$l.so ${libs}/$l.new && mv ${libs}/$l.new ${libs}/$l.so; done`,
      ]);
      assertEquals(updated.code, 0, updated.stderr);

      const theirs = await booted.run(["env", "NEEDRESTART_SUSPEND=1", "needrestart", "-b"], {
        deadlineMs: 90_000,
      });
      assertEquals(theirs.code, 0, theirs.stderr);
      const ours = await cliInside(booted, "--format=needrestart");
      assertEquals(ours.code, 0, ours.stderr);
      // The test's own units, named alike by both; the rest of the system is not judged here.
      const mine = (text: string) => values(text, "SVC").filter((unit) => units.includes(unit));
      assertEquals(mine(ours.stdout), units.toSorted());
      assertEquals(mine(theirs.stdout), units.toSorted(), theirs.stdout);
      // needrestart leaves out the kernel and microcode inside a container (this boot says
      // container=lxc); both begin with the version of the language (Debian 12's is 3.6).
      assert(ours.stdout.startsWith("NEEDRESTART-VER: 3.6\n"), ours.stdout);
      assert(/^NEEDRESTART-VER: \d+\.\d+/m.test(theirs.stdout), theirs.stdout);
    });
  },
});

Deno.test({
  name: "--format=needrestart and needrestart -b -k say the same running kernel on this host",
  ignore: NEEDRESTART === undefined,
  async fn() {
    const theirs = new Deno.Command(NEEDRESTART!, {
      args: ["-b", "-k"],
      env: { NEEDRESTART_SUSPEND: "1" },
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const text = new TextDecoder().decode(theirs.stdout);
    const ours = await runCli(["-A"], ["--format=needrestart"]);
    assertEquals(ours.code, 0, ours.stderr);
    assertEquals(values(ours.stdout, "KCUR"), values(text, "KCUR"), text);
    // The status may differ where the boot loader pins a kernel (see docs/formats.md); both are one.
    for (const status of [values(ours.stdout, "KSTA"), values(text, "KSTA")]) {
      assert(status.length === 1 && /^[0-3]$/.test(status[0]!), String(status));
    }
  },
});
