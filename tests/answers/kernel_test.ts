import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  checkKernel,
  findInstalledKernels,
  parseKernelImageVersion,
} from "../../lib/answers/kernel.ts";
import { ROOT, withFixtureCopy } from "../_helpers.ts";
import { kernelImage } from "../../tools/make_fixtures.ts";

const at = (name: string) => `${ROOT}/testdata/${name}`;

function header(text: Uint8Array, pointer = 0x100, size = 0x400): Uint8Array {
  const image = new Uint8Array(size);
  image.set(new TextEncoder().encode("HdrS"), 0x202);
  new DataView(image.buffer).setUint16(0x20e, pointer, true);
  if (pointer + 0x200 < size) image.set(text.subarray(0, size - pointer - 0x200), pointer + 0x200);
  return image;
}

Deno.test("parseKernelImageVersion() reads the boot header's version string, or nothing", () => {
  const encode = (text: string) => new TextEncoder().encode(text);
  const debian =
    "6.1.0-29-amd64 (debian-kernel@lists.debian.org) (gcc-12) #1 SMP PREEMPT_DYNAMIC Debian 6.1.123-1 (2025-01-02)";
  assertEquals(parseKernelImageVersion(header(encode(`${debian}\0`))), {
    release: "6.1.0-29-amd64",
    build: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.123-1 (2025-01-02)",
  });
  assertEquals(parseKernelImageVersion(header(encode("6.6.1\0"))), {
    release: "6.6.1",
    build: null,
  });
  const garbage: [string, Uint8Array][] = [
    ["empty", new Uint8Array()],
    ["truncated before the pointer", header(encode("x\0")).subarray(0, 0x20f)],
    ["pointer past the end", header(encode("x\0"), 0xfff0)],
    ["pointer zero", header(encode("x\0"), 0)],
    ["no NUL", header(encode("6.1.0 ".repeat(200)))],
    ["non-ASCII", header(Uint8Array.from([0x36, 0x2e, 0xe9, 0x00]))],
    ["empty string", header(Uint8Array.from([0]))],
  ];
  const noMagic = header(encode("6.1.0\0"));
  noMagic.fill(0, 0x202, 0x206);
  garbage.push(["no HdrS", noMagic]);
  for (const [what, bytes] of garbage) assertEquals(parseKernelImageVersion(bytes), null, what);
});

Deno.test("checkKernel() tells each state on fixture roots, always with a reason", async (t) => {
  const cases: [string, string, string | undefined, RegExp][] = [
    ["root_current", "current", "6.1.0-29-amd64", /is the newest installed/],
    [
      "root_rebuilt",
      "rebuilt",
      "6.1.0-29-amd64",
      /in another build \(#1 .*6\.1\.124-1.*\) than the running one/,
    ],
    [
      "root_newer",
      "newer",
      "6.1.0-10-amd64",
      /^kernel 6\.1\.0-10-amd64 is installed, 6\.1\.0-9-amd64 is running \(the boot loader's default is not known: no GRUB or systemd-boot configuration found\)$/,
    ],
    ["root_modules", "newer", "6.6.2-arch1-1", /6\.6\.2-arch1-1 is installed/],
    ["root_garbage", "newer", "6.1.0-44-amd64", /6\.1\.0-44-amd64 is installed/],
    ["root_empty", "unknown", undefined, /no kernel image found.*container/],
    ["no_such_root", "unknown", undefined, /release cannot be read/],
  ];
  for (const [root, state, newest, reason] of cases) {
    await t.step(root, () => {
      const status = checkKernel({ root: at(root) });
      assertEquals([status.state, status.newest?.release], [state, newest]);
      assertMatch(status.reason, reason);
    });
  }
});

Deno.test("findInstalledKernels() falls back to names for images it cannot read, and skips initrds", () => {
  const garbage = findInstalledKernels(at("root_garbage")).kernels;
  assertEquals(garbage.map((k) => [k.release, k.build]), [
    ["6.1.0-40-amd64", null], // truncated
    ["6.1.0-41-amd64", null], // pointer past the end
    ["6.1.0-42-amd64", null], // not ASCII
    ["6.1.0-43-amd64", null], // no HdrS
    ["6.1.0-44-amd64", null], // no NUL
  ]);
  const current = findInstalledKernels(at("root_current")).kernels;
  assertEquals(current.map((k) => k.path.slice(at("root_current").length)), [
    "/boot/vmlinuz-6.1.0-28-amd64",
    "/boot/vmlinuz-6.1.0-29-amd64",
  ]);
  // The usrmerge location, read from its header (the fixture's pointer differs).
  const newer = findInstalledKernels(at("root_newer")).kernels;
  assert(
    newer.some((k) =>
      k.path.endsWith("/usr/lib/modules/6.1.0-10-amd64/vmlinuz") && k.build !== null
    ),
  );
});

Deno.test("checkKernel() on the live host finds the running kernel and gives a state", () => {
  const status = checkKernel();
  assertEquals(status.running.release, Deno.osRelease());
  assert(["current", "rebuilt", "newer", "unknown"].includes(status.state));
  assert(status.reason.length > 0);
});

Deno.test("checkKernel() measures against the boot loader's default where it is known", async (t) => {
  const cases: [string, string, string | undefined, string | undefined, RegExp][] = [
    [
      "root_grub_pinned",
      "current",
      "6.1.0-9-amd64",
      "6.1.0-10-amd64",
      /^the running kernel 6\.1\.0-9-amd64 is the one the boot loader \(GRUB\) boots; a newer kernel 6\.1\.0-10-amd64 is installed but the boot loader boots 6\.1\.0-9-amd64$/,
    ],
    [
      "root_grub_submenu",
      "newer",
      "6.1.0-10-amd64",
      "6.1.0-11-amd64",
      /^the boot loader \(GRUB\) boots kernel 6\.1\.0-10-amd64, 6\.1\.0-9-amd64 is running$/,
    ],
    [
      "root_bls",
      "current",
      "6.5.6-300.fc39.x86_64",
      "6.5.7-200.fc39.x86_64",
      /\(GRUB, a BLS entry\) boots; a newer/,
    ],
    [
      "root_sdboot",
      "newer",
      "6.1.0-10-amd64",
      "6.1.0-10-amd64",
      /\(systemd-boot\) boots kernel 6\.1\.0-10/,
    ],
  ];
  for (const [root, state, boots, newest, reason] of cases) {
    await t.step(root, () => {
      const status = checkKernel({ root: at(root) });
      assertEquals([status.state, status.boots?.release, status.newest?.release], [
        state,
        boots,
        newest,
      ]);
      assertMatch(status.reason, reason);
    });
  }
  await t.step("the build comes from the default's image", () => {
    const status = checkKernel({ root: at("root_grub_pinned") });
    assertEquals(status.boots?.build, "#1 SMP PREEMPT_DYNAMIC Debian 6.1.27-1 (2023-05-08)");
    assertEquals(status.boots?.path, at("root_grub_pinned/boot/vmlinuz-6.1.0-9-amd64"));
  });
});

Deno.test("checkKernel() with a default it cannot use falls back to the newest installed, and says why", async (t) => {
  await t.step(
    "the default entry's kernel is gone",
    () =>
      withFixtureCopy("root_grub_pinned", (root) => {
        Deno.removeSync(`${root}/boot/vmlinuz-6.1.0-9-amd64`);
        const status = checkKernel({ root });
        assertEquals([status.state, status.boots, status.newest?.release], [
          "newer",
          null,
          "6.1.0-10-amd64",
        ]);
        assertMatch(
          status.reason,
          /^kernel 6\.1\.0-10-amd64 is installed, 6\.1\.0-9-amd64 is running \(the boot loader's default is not known: grub entry ".*" boots \/boot\/vmlinuz-6\.1\.0-9-amd64, which is not there\)$/,
        );
      }),
  );
  await t.step("garbage for grub.cfg", () =>
    withFixtureCopy("root_grub_pinned", (root) => {
      Deno.writeFileSync(
        `${root}/boot/grub/grub.cfg`,
        Uint8Array.from({ length: 999 }, (_, i) => i % 251),
      );
      const status = checkKernel({ root });
      assertEquals([status.state, status.boots], ["newer", null]);
      assertMatch(
        status.reason,
        /\(the boot loader's default is not known: boot\/grub\/grub\.cfg: /,
      );
    }));
});

Deno.test("checkKernel() against a default older than the running kernel, or a rebuild of it", async (t) => {
  await t.step(
    "older: no reboot for the kernel (a reboot would go back)",
    () =>
      withFixtureCopy("root_grub_pinned", (root) => {
        Deno.writeTextFileSync(`${root}/proc/sys/kernel/osrelease`, "6.1.0-10-amd64\n");
        const status = checkKernel({ root });
        assertEquals(status.state, "current");
        assertEquals(
          status.reason,
          "the boot loader (GRUB) boots kernel 6.1.0-9-amd64, older than the running 6.1.0-10-amd64",
        );
      }),
  );
  await t.step(
    "the default's image is another build of the running release",
    () =>
      withFixtureCopy("root_grub_pinned", (root) => {
        const rebuilt =
          "6.1.0-9-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.27-2 (2023-05-20)";
        Deno.writeFileSync(`${root}/boot/vmlinuz-6.1.0-9-amd64`, kernelImage(rebuilt));
        const status = checkKernel({ root });
        assertEquals(status.state, "rebuilt");
        assertMatch(
          status.reason,
          /another build \(#1 .*6\.1\.27-2 .*\) than the running one \(#1 .*6\.1\.27-1 .*\), and the boot loader \(GRUB\) boots it$/,
        );
      }),
  );
  await t.step(
    "the default's image has no readable header: the release's other image tells its build",
    () =>
      withFixtureCopy("root_grub_pinned", (root) => {
        Deno.writeFileSync(`${root}/boot/vmlinuz-6.1.0-9-amd64`, new Uint8Array(1024));
        Deno.mkdirSync(`${root}/usr/lib/modules/6.1.0-9-amd64`, { recursive: true });
        Deno.writeFileSync(
          `${root}/usr/lib/modules/6.1.0-9-amd64/vmlinuz`,
          kernelImage(
            "6.1.0-9-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.27-2 (2023-05-20)",
          ),
        );
        const status = checkKernel({ root });
        assertEquals([status.boots?.build, status.state], [null, "rebuilt"]);
      }),
  );
});
