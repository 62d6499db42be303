import { assertEquals } from "@std/assert";
import {
  deviceName,
  isLocalType,
  mapsDeviceName,
  mountOf,
  parseMountInfo,
} from "../../lib/proc/mounts.ts";

const MOUNTINFO = [
  "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
  "31 27 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw",
  "45 27 0:50 / /mnt/remote\\040share rw,nosuid - fuse.sshfs u@h:/ rw,user_id=0",
  "46 45 0:51 / /mnt/remote\\040share/inner rw - ext4 /dev/vdb rw",
  "47 27 0:52 / /srv rw - tmpfs a rw",
  "48 27 0:53 / /srv rw - nfs4 h:/srv rw", // mounted over the tmpfs: the visible one
  "garbage line",
  "49 27 x:y / /bad rw - ext4 /dev/x rw",
  "",
].join("\n");

Deno.test("parseMountInfo() reads IDs, devices, unescaped mount points and types; skips garbage", () => {
  const table = parseMountInfo(MOUNTINFO);
  assertEquals(table.byId.get(45), {
    id: 45,
    device: "0:50",
    point: "/mnt/remote share",
    type: "fuse.sshfs",
    options: "rw,user_id=0",
  });
  assertEquals(table.byDevice.get("254:0")?.point, "/");
  assertEquals(table.byId.has(49), false);
  assertEquals(table.byPoint.get("/srv")?.type, "nfs4");
});

Deno.test("mountOf() finds the mount a path lies on by its longest mount point", async (t) => {
  const table = parseMountInfo(MOUNTINFO);
  const cases: [string, string | undefined][] = [
    ["/", "ext4"],
    ["/usr/lib/libc.so.6", "ext4"],
    ["/mnt/remote share", "fuse.sshfs"],
    ["/mnt/remote share/x", "fuse.sshfs"],
    ["/mnt/remote share/inner/x", "ext4"],
    ["/mnt/remote sharex", "ext4"], // a longer name is not below the mount point
    ["/srv/a", "nfs4"],
  ];
  for (const [path, type] of cases) {
    await t.step(path, () => assertEquals(mountOf(table, path)?.type, type));
  }
  assertEquals(mountOf(parseMountInfo(""), "/x"), undefined);
});

Deno.test("isLocalType() asks only local disk and memory file systems", () => {
  for (const type of ["ext4", "xfs", "btrfs", "tmpfs", "overlay", "squashfs"]) {
    assertEquals(isLocalType(type), true, type);
  }
  for (
    const type of ["fuse", "fuse.sshfs", "fuseblk", "nfs", "nfs4", "cifs", "smb3", "9p", "ceph"]
  ) {
    assertEquals(isLocalType(type), false, type);
  }
  for (const type of ["afs", "autofs", "glusterfs", "virtiofs", "", "unknownfs"]) {
    assertEquals(isLocalType(type), false, type);
  }
});

Deno.test("deviceName() and mapsDeviceName() agree with the kernel's device numbers", () => {
  // glibc's makedev: major 8 minor 1 is 0x801; major 259 minor 300 spreads over both halves.
  assertEquals(deviceName(0x801), "8:1");
  assertEquals(deviceName((259 << 8) + (256 << 12) + 44), "259:300");
  // Above 32 bits: major 4096 lives in the high word.
  assertEquals(deviceName(4096 * 2 ** 32 + (0xfff << 8) + 0xff), "8191:255");
  assertEquals(deviceName(0xfff00 * 2 ** 12 + 0xff), "0:1048575");
  assertEquals(mapsDeviceName("fd:01"), "253:1");
  assertEquals(mapsDeviceName("103:12c"), "259:300");
  // A real one: the root file system's device as stat and mountinfo name it.
  const root = parseMountInfo(Deno.readTextFileSync("/proc/self/mountinfo"));
  const rootDevice = deviceName(Deno.statSync("/proc/self/mountinfo").dev);
  assertEquals(root.byDevice.get(rootDevice)?.type, "proc");
});
