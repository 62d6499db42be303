/**
 * A file system unmounted or swapped under a process, as image-based updates
 * do: a library mapped from a squashfs image that is unmounted lazily, then
 * replaced by a new image. maps then shows the name the file has inside its
 * image (`/lib/x.so` for an image mounted at `/opt/app`), without a marker;
 * the mapping's device is in no mount table, and that decides. The image here
 * holds the library under this run's own temporary path, as an image of `/`
 * would, so that the name maps shows after the unmount is a path the test owns.
 * Everything happens in a private mount namespace: a killed run leaves no mount.
 */

import { assert, assertEquals } from "@std/assert";
import { findTool, LineReader, ROOT, runCli } from "../_helpers.ts";
import { realLibrary } from "../_live.ts";
import { MapsReader } from "../../lib/proc/maps_reader.ts";

function missing(): string | undefined {
  if (Deno.uid() !== 0) return "not root: cannot mount";
  // Looked for where the system keeps them, not on PATH: a PATH without sbin hides losetup.
  for (const tool of ["mksquashfs", "unshare", "losetup"]) {
    if (findTool(tool) === undefined) return `no ${tool}`;
  }
  return undefined;
}

const MISSING = missing();
if (MISSING !== undefined) console.warn(`swapped_fs_test: ignored: ${MISSING}`);

/**
 * Mounts image a, starts a sleeper that maps the library from it, then on each
 * line read: unmounts lazily; mounts image b in its place; ends.
 */
const SCRIPT = `
set -eu
dir=$1 seconds=$2
mount -o loop,ro "$dir/a.sqfs" "$dir/mnt"
LD_PRELOAD="$dir/mnt$dir/swap/libsnap.so.1" sleep "$seconds" &
sleeper=$!
trap 'kill $sleeper 2>/dev/null || true' EXIT
i=0
until grep -q libsnap "/proc/$sleeper/maps" 2>/dev/null; do
  i=$((i+1)); [ $i -lt 200 ] || { echo "never mapped" >&2; exit 97; }; sleep 0.05
done
echo "mapped $sleeper"
read step; umount -l "$dir/mnt"; echo unmounted
read step; mount -o loop,ro "$dir/b.sqfs" "$dir/mnt"; mkdir "$dir/swap"
cp "$dir/mnt$dir/swap/libsnap.so.1" "$dir/swap/libsnap.so.1"; echo swapped
read step
`;

Deno.test({
  name: "live: a library on a squashfs image unmounted, then swapped, under a process is reported",
  ignore: MISSING !== undefined,
  async fn() {
    const began = Date.now();
    const dir = Deno.makeTempDirSync({ prefix: "lib_users_swapped_" });
    let child: Deno.ChildProcess | undefined;
    let lines: LineReader | undefined;
    let pid = 0;
    // A command line of this run's own: no other process shares its group.
    const seconds = `300.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
    try {
      for (const image of ["a", "b"]) {
        Deno.mkdirSync(`${dir}/${image}${dir}/swap`, { recursive: true });
        Deno.copyFileSync(realLibrary(), `${dir}/${image}${dir}/swap/libsnap.so.1`);
        const made = await new Deno.Command("mksquashfs", {
          args: [`${dir}/${image}`, `${dir}/${image}.sqfs`, "-quiet", "-noappend"],
          stdout: "null",
          stderr: "piped",
        }).output();
        assert(made.success, new TextDecoder().decode(made.stderr));
      }
      Deno.mkdirSync(`${dir}/mnt`);
      child = new Deno.Command("unshare", {
        args: ["--mount", "--propagation=private", "sh", "-c", SCRIPT, "sh", dir, seconds],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      lines = new LineReader(child.stdout);
      const writer = child.stdin.getWriter();
      const step = () => writer.write(new TextEncoder().encode("next\n"));
      const mapped = await lines.next("mapped");
      pid = Number(/^mapped (\d+)$/.exec(mapped)?.[1]);
      assert(pid > 0, mapped);
      // The name inside the image, which maps shows once it is unmounted.
      const library = `${dir}/swap/libsnap.so.1`;
      const filesOf = async () => {
        const run = await runCli(["-A"], [
          "--json",
          "--root",
          `${ROOT}/testdata/root_current`,
          "--proc",
          "/proc",
        ]);
        const group = JSON.parse(run.stdout).groups.find((g: { pids: number[] }) =>
          g.pids.includes(pid)
        );
        return group?.files;
      };

      // Mounted: nothing stale.
      assertEquals(await filesOf(), undefined);

      step();
      assertEquals(await lines.next("unmounted"), "unmounted");
      // Unmounted, nothing at its path: reported, as what could not be verified.
      const unmounted = await filesOf();
      assertEquals(unmounted?.length, 1, JSON.stringify(unmounted));
      assertEquals(unmounted[0].path, library);
      assertEquals(unmounted[0].verified, false);
      assert(
        /is mounted nowhere now, and nothing is at its path$/.test(unmounted[0].unverified_reason),
        unmounted[0].unverified_reason,
      );

      step();
      assertEquals(await lines.next("swapped"), "swapped");
      // The new image in, its library at that path: stale, verified, and why.
      const swapped = await filesOf();
      assertEquals(swapped, [{
        path: library,
        kind: "library",
        verified: true,
        // The new image's library stands at its path, since the swap.
        state: "replaced",
        replaced_at: swapped?.[0]?.replaced_at,
        stale_reason: swapped?.[0]?.stale_reason,
      }]);
      assert(Date.parse(swapped[0].replaced_at) >= began - 1000, swapped[0].replaced_at);
      assert(
        /^its file system \(device 7:\d+\) is mounted nowhere now: its path names another file$/
          .test(swapped[0].stale_reason),
        swapped[0].stale_reason,
      );
      // Scripts see it too.
      const machine = await runCli(["-A"], ["-m"]);
      assert(
        machine.stdout.split("\n").some((line) => line === `${pid};${library};sleep ${seconds}`),
      );
      step();
      await writer.close().catch(() => {});
      const status = await child.status;
      assertEquals(
        status.code,
        0,
        new TextDecoder().decode(await new Response(child.stderr).arrayBuffer()),
      );
    } finally {
      await lines?.cancel();
      // The sleeper holds the namespace and its mounts: it goes, whatever happened.
      if (pid > 0) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      if (child !== undefined) {
        try {
          child.kill("SIGKILL");
        } catch { /* ended */ }
        await child.status;
        await child.stderr.cancel().catch(() => {});
      }
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("MapsReader takes unmarked lines only of a device mounted nowhere, asking once per device", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const maps = [
      "55d0c3a4f000-55d0c3a51000 r--p 00000000 08:01 11 /usr/bin/app",
      "7f0000000000-7f0000001000 r-xp 00001000 07:00 12 /lib/libsnap.so.1",
      "7f0000001000-7f0000002000 r--p 00002000 07:00 12 /lib/libsnap.so.1",
      "7f0000002000-7f0000003000 r--p 00000000 07:00 13 /lib/gone.so (deleted)",
      "7f0000003000-7f0000004000 rw-s 00000000 07:00 14 /dmabuf:",
      "7f0000004000-7f0000005000 rw-p 00000000 00:00 0 ",
      "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]",
      "ffffffffff600000-ffffffffff601000 --xp 100000000 fd:1a 15 /opt/wide.so",
    ].join("\n") + "\n";
    Deno.writeTextFileSync(`${dir}/maps`, maps);
    const asked: string[] = [];
    const reader = new MapsReader({ ignored: () => false });
    const mounted = (device: string) => {
      asked.push(device);
      return device !== "7:0";
    };
    const found = reader.read(`${dir}/maps`, undefined, Infinity, { mounted });
    assertEquals(asked, ["8:1", "7:0", "253:26"]);
    const files = [...found.keys()].map((f) => [f.path, f.device, f.unmounted ?? false]);
    assertEquals(files, [
      ["/lib/gone.so", "7:0", false],
      ["/lib/libsnap.so.1", "7:0", true],
    ]);
    // Without the check, unmarked lines are never looked at.
    assertEquals([...reader.read(`${dir}/maps`).keys()].map((f) => f.path), ["/lib/gone.so"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
