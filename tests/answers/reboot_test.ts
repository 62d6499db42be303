import { assertEquals } from "@std/assert";
import { checkReboot, verdictOf } from "../../lib/answers/reboot.ts";
import { classifyCgroup } from "../../lib/proc/cgroup.ts";
import type { Group } from "../../lib/scan/group.ts";
import { formatReboot } from "../../lib/format/reboot.ts";
import { ROOT } from "../_helpers.ts";

const at = (name: string) => `${ROOT}/testdata/${name}`;

function group(pids: number[], cgroup: string): Group {
  return {
    pids,
    argv: ["p"],
    cmdline: "p",
    files: [{ path: "/lib/x.so", kind: "library" }],
    unit: classifyCgroup(cgroup),
  };
}

Deno.test("checkReboot() gathers the kernel, the Debian flag and its packages", () => {
  const check = checkReboot({ root: at("root_newer") });
  assertEquals(check.required, true);
  assertEquals(check.reasons, [
    {
      kind: "kernel",
      text: "kernel 6.1.0-10-amd64 is installed, 6.1.0-9-amd64 is running " +
        "(the boot loader's default is not known: no GRUB or systemd-boot configuration found)",
    },
    {
      kind: "flag",
      text: "the package system asks for a reboot (/run/reboot-required)",
      packages: ["linux-image-6.1.0-10-amd64", "libc6"],
    },
  ]);
  assertEquals(verdictOf([], check), "reboot");
  const current = checkReboot({ root: at("root_current") });
  assertEquals([current.required, current.reasons], [false, []]);
  assertEquals(verdictOf([], current), "nothing");
  assertEquals(verdictOf([group([5], "/system.slice/nginx.service")], current), "restart");
});

Deno.test("checkReboot() counts a stale PID 1 and units no restart fixes, not a getty", () => {
  const check = checkReboot({
    root: at("root_current"),
    groups: [
      group([1], "/init.scope"),
      group([230], "/system.slice/dbus.service"),
      group([120], "/system.slice/system-getty.slice/getty@tty1.service"),
      group([100], "/system.slice/nginx.service"),
    ],
  });
  assertEquals(check.reasons.map((r) => r.kind), ["pid1", "risky"]);
  assertEquals(check.reasons[1]!.text.startsWith("dbus.service uses deleted files ("), true);
});

Deno.test("formatReboot() says needed, not needed, or cannot tell; as comments after the plan", () => {
  const noCpuinfo = (root: string) =>
    `CPU microcode: cannot tell: ${at(root)}/proc/cpuinfo cannot be read: it does not exist.\n`;
  assertEquals(
    formatReboot(checkReboot({ root: at("root_newer") })),
    "Reboot needed:\n  kernel 6.1.0-10-amd64 is installed, 6.1.0-9-amd64 is running " +
      "(the boot loader's default is not known: no GRUB or systemd-boot configuration found)\n" +
      "  the package system asks for a reboot (/run/reboot-required): linux-image-6.1.0-10-amd64, libc6\n",
  );
  assertEquals(
    formatReboot(checkReboot({ root: at("root_current") })),
    "No reboot needed: the running kernel 6.1.0-29-amd64 is the newest installed " +
      "(the boot loader's default is not known: no GRUB or systemd-boot configuration found).\n" +
      noCpuinfo("root_current"),
  );
  const unknown = formatReboot(checkReboot({ root: at("root_empty") }), true);
  assertEquals(unknown.startsWith("# Reboot: cannot tell: no kernel image found"), true);
  assertEquals(unknown.split("\n").filter(Boolean).every((line) => line.startsWith("# ")), true);
});

Deno.test("checkReboot() asks a reboot for each risky unit but those with a fix of their own", async (t) => {
  // A fix short of a reboot: a login prompt restarted by hand, a user's manager re-executed.
  const ownFix = [
    "getty@tty1.service",
    "serial-getty@ttyS0.service",
    "container-getty@1.service",
    "console-getty@.service",
    "user@1000.service",
    "user@0.service",
  ];
  for (const unit of ownFix) {
    await t.step(`not for ${unit}`, () => {
      const check = checkReboot({
        root: at("root_current"),
        groups: [group([300], `/system.slice/${unit}`)],
      });
      assertEquals(check.reasons, []);
    });
  }
  for (const unit of ["dbus.service", "sddm.service", "iwd.service", "lxc-net.service"]) {
    await t.step(`for ${unit}`, () => {
      const check = checkReboot({
        root: at("root_current"),
        groups: [group([300], `/system.slice/${unit}`)],
      });
      assertEquals(check.reasons.map((r) => r.kind), ["risky"]);
      assertEquals(check.reasons[0]!.text.startsWith(`${unit} uses deleted files (`), true);
    });
  }
});

Deno.test("checkReboot() counts newer microcode as a reason, and the boot loader's default for the kernel", () => {
  const intel = checkReboot({ root: at("root_ucode_intel") });
  assertEquals(intel.reasons, [{
    kind: "microcode",
    text: "CPU microcode 0xf0 is running, 0xf4 is installed (intel-ucode/06-8e-0a)",
  }]);
  // The kernel there is unknown (no boot/), but the microcode makes the answer "reboot".
  assertEquals([intel.kernel.state, verdictOf([], intel)], ["unknown", "reboot"]);
  const pinned = checkReboot({ root: at("root_grub_pinned") });
  assertEquals([pinned.required, pinned.kernel.boots?.release], [false, "6.1.0-9-amd64"]);
  // Unknown microcode (no cpuinfo) leaves a "nothing" a "nothing".
  assertEquals([pinned.microcode.state, verdictOf([], pinned)], ["unknown", "nothing"]);
});

Deno.test("formatReboot() names the boot loader's choice, and how the microcode stands after a no", () => {
  assertEquals(
    formatReboot(checkReboot({ root: at("root_grub_pinned") })),
    "No reboot needed: the running kernel 6.1.0-9-amd64 is the one the boot loader (GRUB) boots; " +
      "a newer kernel 6.1.0-10-amd64 is installed but the boot loader boots 6.1.0-9-amd64.\n" +
      `CPU microcode: cannot tell: ${
        at("root_grub_pinned")
      }/proc/cpuinfo cannot be read: it does not exist.\n`,
  );
  assertEquals(
    formatReboot(checkReboot({ root: at("root_ucode_intel") })),
    "Reboot needed:\n  CPU microcode 0xf0 is running, 0xf4 is installed (intel-ucode/06-8e-0a)\n",
  );
  const vm = formatReboot(checkReboot({ root: at("root_ucode_vm") }), true);
  assertEquals(
    vm.split("\n")[1],
    "# CPU microcode: not applicable: a virtual machine (the hypervisor flag): its host loads the CPU's microcode.",
  );
  const amd = formatReboot(checkReboot({ root: at("root_ucode_amd") })).split("\n")[1];
  assertEquals(
    amd,
    "CPU microcode 0xa0011d3 is running, none newer is installed (0xa0011d3 in amd-ucode/microcode_amd_fam19h.bin).",
  );
});
