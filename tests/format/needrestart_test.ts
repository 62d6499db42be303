import { assertEquals, assertStringIncludes } from "@std/assert";
import { checkReboot } from "../../lib/answers/reboot.ts";
import { classifyCgroup } from "../../lib/proc/cgroup.ts";
import { formatNeedrestart } from "../../lib/format/needrestart.ts";
import type { Group } from "../../lib/scan/group.ts";
import { ROOT, runCli } from "../_helpers.ts";

function group(pid: number, cgroup: string): Group {
  return { pids: [pid], argv: ["x"], cmdline: "x", files: [], unit: classifyCgroup(cgroup) };
}

Deno.test("formatNeedrestart() speaks needrestart -b: kernel, microcode, services, containers, sessions", () => {
  const reboot = checkReboot({ root: `${ROOT}/testdata/root_newer` });
  const text = formatNeedrestart([
    group(10, "/system.slice/nginx.service"),
    group(11, "/system.slice/cron.service"),
    group(12, "/system.slice/nginx.service"),
    group(13, "/init.scope"),
    group(20, "/lxc.payload.web1/system.slice/nginx.service"),
    group(21, "/machine.slice/systemd-nspawn@deb.service/payload/system.slice/x.service"),
    group(30, "/user.slice/user-1000.slice/session-3.scope"),
    group(31, "/user.slice/user-1000.slice/user@1000.service/app.slice/pipewire.service"),
    group(32, "/user.slice/user-1001.slice/session-12.scope"),
    group(40, "/system.slice/evil\nNEEDRESTART-KSTA: 1.service"),
  ], { reboot, userNames: new Map([[1000, "alice"]]) });
  assertEquals(
    text,
    [
      "NEEDRESTART-VER: 3.6",
      "NEEDRESTART-KCUR: 6.1.0-9-amd64",
      "NEEDRESTART-KEXP: 6.1.0-10-amd64",
      "NEEDRESTART-KSTA: 3",
      `NEEDRESTART-UCSTA: 0`,
      "NEEDRESTART-SVC: cron.service",
      "NEEDRESTART-SVC: evil?NEEDRESTART-KSTA: 1.service",
      "NEEDRESTART-SVC: nginx.service",
      "NEEDRESTART-SVC: systemd-manager",
      "NEEDRESTART-CONT: LXC web1",
      "NEEDRESTART-CONT: machined deb",
      "NEEDRESTART-SESS: 1001 @ session #12",
      "NEEDRESTART-SESS: alice @ session #3",
      "NEEDRESTART-SESS: alice @ user manager service",
      "",
    ].join("\n"),
  );
});

Deno.test("CLI --format=needrestart: the batch lines of a fixture tree, exit 0", async () => {
  const run = await runCli(["-A"], [
    "--root",
    `${ROOT}/testdata/root_newer`,
    "--format=needrestart",
  ]);
  assertEquals(run.code, 0, run.stderr);
  assertStringIncludes(run.stdout, "NEEDRESTART-VER: 3.6\nNEEDRESTART-KCUR: 6.1.0-9-amd64\n");
  assertStringIncludes(run.stdout, "NEEDRESTART-KSTA: 3\n");
});
