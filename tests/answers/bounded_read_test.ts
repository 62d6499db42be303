import { assertEquals } from "@std/assert";
import { mustNotAskIn } from "../../lib/answers/bounded_read.ts";
import { parseMountInfo } from "../../lib/proc/mounts.ts";

Deno.test("mustNotAskIn(): an ESP automount not mounted now, or a network file system, is never asked", () => {
  const line = (id: number, point: string, type: string) =>
    `${id} 1 0:${id} / ${point} rw,relatime shared:${id} - ${type} ${type} rw\n`;
  const unmounted = parseMountInfo(
    line(1, "/", "ext4") + line(2, "/efi", "autofs") + line(3, "/srv/nfs", "nfs4"),
  );
  assertEquals(mustNotAskIn(unmounted, "/efi/loader/loader.conf"), "an automount, not mounted now");
  assertEquals(mustNotAskIn(unmounted, "/efi"), "an automount, not mounted now");
  assertEquals(mustNotAskIn(unmounted, "/srv/nfs/boot/grub.cfg"), "on nfs4, which may not answer");
  assertEquals(mustNotAskIn(unmounted, "/boot/grub/grub.cfg"), undefined);
  // Mounted now: the ESP's own file system lies over the trigger, and may be read.
  const mounted = parseMountInfo(
    line(1, "/", "ext4") + line(2, "/efi", "autofs") + line(4, "/efi", "vfat"),
  );
  assertEquals(mustNotAskIn(mounted, "/efi/loader/loader.conf"), undefined);
});
