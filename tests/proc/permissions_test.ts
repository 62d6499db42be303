import { assert, assertEquals, assertFalse } from "@std/assert";
import {
  isGranted,
  needsAllowAll,
  PASSWD_PERMISSION,
  scanPermission,
  SYSTEMCTL_PERMISSION,
} from "../../lib/proc/permissions.ts";

Deno.test("scanPermission() and SYSTEMCTL_PERMISSION describe what each feature needs", () => {
  assertEquals(scanPermission("/mnt/proc"), { name: "read", path: "/mnt/proc" });
  assertEquals(SYSTEMCTL_PERMISSION, { name: "run", command: "systemctl" });
  assertEquals(PASSWD_PERMISSION, { name: "read", path: "/etc/passwd" });
});

Deno.test("needsAllowAll() is true exactly under /proc, /sys and /dev", () => {
  for (const path of ["/proc", "/proc/", "/proc/1/maps", "/sys", "/dev/shm"]) {
    assert(needsAllowAll(path), path);
  }
  for (const path of ["/mnt/proc", "/procfs", "/tmp", "testdata/proc"]) {
    assertFalse(needsAllowAll(path), path);
  }
});

Deno.test({
  name: "isGranted() reflects the test's permissions without prompting",
  permissions: { read: ["/tmp"], run: false },
  fn() {
    assert(isGranted({ name: "read", path: "/tmp" }));
    assertFalse(isGranted(SYSTEMCTL_PERMISSION));
  },
});
