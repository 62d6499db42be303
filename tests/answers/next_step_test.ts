import { assertEquals, assertStringIncludes } from "@std/assert";
import { checkReboot, type RebootCheck, type RebootReason } from "../../lib/answers/reboot.ts";
import { nextStep, runningSystemdVersion } from "../../lib/answers/next_step.ts";

/** The fixture's reboot check (the kernel current), with these reasons. */
function rebootFor(
  reasons: RebootReason[],
  kernel: "current" | "unknown" = "current",
): RebootCheck {
  const check = checkReboot({ root: "testdata/root_current" });
  assertEquals(check.kernel.state, "current");
  return {
    ...check,
    required: reasons.length > 0,
    reasons,
    kernel: { ...check.kernel, state: kernel, reason: kernel === "unknown" ? "no image" : "" },
  };
}

const dbus: RebootReason = { kind: "risky", text: "dbus.service uses deleted files" };
const pid1: RebootReason = { kind: "pid1", text: "PID 1 uses deleted files" };
const kernel: RebootReason = { kind: "kernel", text: "6.1.0-30 is installed" };

Deno.test("nextStep(): a soft reboot only where the kernel is current, userspace is left and systemd has one", () => {
  const step = (reasons: RebootReason[], systemd: number | null, state?: "unknown") =>
    nextStep({ restarts: 2, byHand: 1, reboot: rebootFor(reasons, state), systemd });
  assertEquals(step([dbus, pid1], 256), {
    kind: "soft-reboot",
    text:
      "systemctl soft-reboot (the kernel is current; no restart fixes this safely): dbus.service uses deleted files",
  });
  assertEquals(step([dbus], 254).kind, "soft-reboot");
  // systemd 252 has none, an unknown one may not: a reboot, and why.
  assertEquals(
    step([dbus], 252).text,
    "reboot (systemd 252 has no soft-reboot; 254 or later has): dbus.service uses deleted files",
  );
  assertStringIncludes(step([dbus], null).text, "the running one's version is unknown");
  // A new kernel, or a kernel whose state is unknown: only a reboot.
  assertEquals(step([dbus, kernel], 256), {
    kind: "reboot",
    text: "reboot: 6.1.0-30 is installed",
  });
  assertEquals(
    step([{ kind: "microcode" as RebootReason["kind"], text: "µcode" }], 256).kind,
    "reboot",
  );
  assertEquals(step([dbus], 256, "unknown").kind, "reboot");
});

Deno.test("nextStep(): the package system's flag is a soft reboot for userspace packages, a reboot otherwise", () => {
  const flag = (packages?: string[]): RebootReason => ({
    kind: "flag",
    text: "the package system asks for a reboot",
    ...(packages ? { packages } : {}),
  });
  const kind = (reason: RebootReason) =>
    nextStep({ restarts: 0, byHand: 0, reboot: rebootFor([reason]), systemd: 256 }).kind;
  assertEquals(kind(flag(["libc6", "dbus"])), "soft-reboot");
  assertEquals(kind(flag(["libc6", "linux-image-6.1.0-30-amd64"])), "reboot");
  assertEquals(kind(flag(["intel-microcode"])), "reboot");
  assertEquals(kind(flag(["firmware-linux-nonfree"])), "reboot");
  // Which packages asked is not known: a reboot.
  assertEquals(kind(flag()), "reboot");
});

Deno.test("nextStep(): the restarts and items by hand, marked units, nothing, or unknown", () => {
  const reboot = rebootFor([]);
  assertEquals(nextStep({ restarts: 3, byHand: 2, reboot, systemd: null }), {
    kind: "restart",
    text: "the 3 restarts above, then the 2 items by hand",
  });
  assertEquals(
    nextStep({ restarts: 1, byHand: 0, reboot, systemd: null }).text,
    "the 1 restart above",
  );
  assertEquals(
    nextStep({
      restarts: 0,
      byHand: 0,
      marked: {
        units: 2,
        commands: [
          "systemctl reload-or-restart --marked",
          "lxc-attach -n web1 -- systemctl reload-or-restart --marked",
        ],
      },
      reboot,
      systemd: null,
    }).text,
    "systemctl reload-or-restart --marked, lxc-attach -n web1 -- systemctl reload-or-restart " +
      "--marked (2 units marked)",
  );
  assertEquals(nextStep({ restarts: 0, byHand: 0, reboot, systemd: null }), {
    kind: "nothing",
    text: "nothing to do",
  });
  // Never "nothing" when the scan saw only part, or the kernel's state is unknown.
  assertEquals(
    nextStep({ restarts: 0, byHand: 0, reboot, systemd: null, complete: false }).kind,
    "unknown",
  );
  assertEquals(
    nextStep({ restarts: 0, byHand: 0, reboot: rebootFor([], "unknown"), systemd: null }).text,
    "nothing found, but whether a reboot is needed is unknown (no image)",
  );
});

Deno.test("runningSystemdVersion() reads the version from the library PID 1 maps; null when it cannot", () => {
  const proc = Deno.makeTempDirSync({ prefix: "lib_users_systemd_version_" });
  try {
    Deno.mkdirSync(`${proc}/1`);
    const maps = `${proc}/1/maps`;
    Deno.writeTextFileSync(
      maps,
      "55d0c2a00000-55d0c2a2c000 r--p 00000000 fe:01 1234 /usr/lib/systemd/systemd\n" +
        "7f1c2e000000-7f1c2e0b1000 r--p 00000000 fe:01 5678 /usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-256.so\n",
    );
    assertEquals(runningSystemdVersion(proc), 256);
    // Fedora names the release too; an old systemd mapped it as libsystemd-shared-252.so (deleted).
    Deno.writeTextFileSync(
      maps,
      "7f1c-7f1d r--p 0 fe:01 9 /usr/lib64/systemd/libsystemd-shared-255.4-1.fc40.so\n",
    );
    assertEquals(runningSystemdVersion(proc), 255);
    Deno.writeTextFileSync(maps, "7f1c-7f1d r--p 0 fe:01 9 /sbin/init\n");
    assertEquals(runningSystemdVersion(proc), null);
    Deno.removeSync(maps);
    assertEquals(runningSystemdVersion(proc), null);
  } finally {
    Deno.removeSync(proc, { recursive: true });
  }
});
