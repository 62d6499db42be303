import { assertEquals, assertRejects } from "@std/assert";
import { scanFds, scanLibs } from "../lib/scan.ts";
import { FIXTURE_PROC } from "./_helpers.ts";
import { encodeName } from "../lib/names.ts";

const READ_FIXTURE: Deno.PermissionOptions = { read: [FIXTURE_PROC] };

Deno.test({
  name: "scanLibs() finds deleted mappings in the fixture tree, with argv and kinds",
  permissions: READ_FIXTURE,
  async fn() {
    const result = await scanLibs({ proc: FIXTURE_PROC });
    assertEquals(result.unreadable, 0);
    assertEquals(result.processes.map((p) => p.pid), [99, 1000, 1234, 1235, 2000, 3000, 5000]);
    const server = result.processes.find((p) => p.pid === 1234)!;
    assertEquals(server.argv, ["/opt/my app/bin/server", "--name", "a b"]);
    assertEquals(server.cmdline, "/opt/my app/bin/server --name a b");
    assertEquals(server.files, [
      { path: "/opt/my app/bin/server", kind: "executable" },
      { path: "/opt/my app/lib/libfoo 1.so", kind: "library" },
    ]);
    const xorg = result.processes.find((p) => p.pid === 3000)!;
    assertEquals(xorg.files.map((f) => f.path), ["/lib/SYSV00000000", "/usr/lib/i915"]);
    const python = result.processes.find((p) => p.pid === 5000)!;
    assertEquals(python.cmdline, "/usr/bin/python3 /srv/app.py");
    assertEquals(python.argv, ["/usr/bin/python3", "/srv/app.py   "]);
  },
});

Deno.test({
  name: "scanLibs() reads the OpenVZ form and de-duplicates a file mapped twice",
  permissions: READ_FIXTURE,
  async fn() {
    const result = await scanLibs({ proc: FIXTURE_PROC });
    const openvpn = result.processes.find((p) => p.pid === 2000)!;
    assertEquals(openvpn.files, [{ path: "/v/t/p/usr/sbin/openvpn", kind: "library" }]);
  },
});

Deno.test({
  name: "scanLibs() with no ignore rules reports the pseudo files too",
  permissions: READ_FIXTURE,
  async fn() {
    const result = await scanLibs({ proc: FIXTURE_PROC, ignore: { patterns: [], literals: [] } });
    const xorg = result.processes.find((p) => p.pid === 3000)!;
    assertEquals(xorg.files.length, 15);
  },
});

Deno.test({
  name: "scanFds() finds deleted open files and applies the same ignores",
  permissions: READ_FIXTURE,
  async fn() {
    const result = await scanFds({ proc: FIXTURE_PROC });
    assertEquals(
      result.processes.map((p) => [p.pid, p.files.map((f) => `${f.kind}:${f.path}`)]),
      [
        [99, ["fd:/var/log/cron.log.1"]],
        [1000, ["fd:/var/log/cron.log.1"]],
        [1234, ["fd:/tmp/data"]],
      ],
    );
  },
});

Deno.test({
  name: "scanLibs() throws NotFound for a missing proc root",
  permissions: READ_FIXTURE,
  async fn() {
    await assertRejects(
      () => scanLibs({ proc: `${FIXTURE_PROC}/nonexistent` }),
      Deno.errors.NotFound,
    );
  },
});

Deno.test({
  name: "scanLibs() lets NotCapable through instead of reporting nothing",
  permissions: READ_FIXTURE,
  async fn() {
    await assertRejects(() => scanLibs({ proc: "/tmp" }), Deno.errors.NotCapable);
  },
});

Deno.test("scanLibs() splits argv at NULs exactly: empty, raw and unterminated arguments", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const line = "7f00-7f21 r-xp 00000000 fd:01 42 /usr/lib/libgone.so.1 (deleted)\n";
    const cmdlines: Record<string, Uint8Array> = {
      "10": Uint8Array.from([0x61, 0, 0, 0x62, 0xff, 0]), // "a", "", "b\xff"
      "11": Uint8Array.from([0x61, 0, 0x62]), // rewritten by the process: no final NUL
      "12": Uint8Array.from([0, 0]), // two empty arguments
      "13": new Uint8Array(), // a kernel thread: no argv, left out
    };
    for (const [pid, cmdline] of Object.entries(cmdlines)) {
      Deno.mkdirSync(`${dir}/${pid}`);
      Deno.writeTextFileSync(`${dir}/${pid}/maps`, line);
      Deno.writeFileSync(`${dir}/${pid}/cmdline`, cmdline);
    }
    const { processes } = await scanLibs({ proc: dir });
    assertEquals(processes.map((p) => [p.pid, p.argv.map(encodeName)]), [
      [10, [[0x61], [], [0x62, 0xff]].map((b) => Uint8Array.from(b))],
      [11, [[0x61], [0x62]].map((b) => Uint8Array.from(b))],
      [12, [new Uint8Array(), new Uint8Array()]],
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("scanLibs() judges each line by its own address range, though it parses a file once", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const rest = " r-xp 00000000 fd:01 42 /usr/lib/libgone.so.1 (deleted)\n";
    const ignored = "7f00-7f21 r-xp 00000000 00:05 7 /dev/shm/x (deleted)\n";
    const maps: Record<string, string> = {
      "20": `zz-7f21${rest}${ignored}`, // a garbled range first: not a mapping
      "21": `7f00-7f21${rest}${ignored}`,
      "22": `7e00-7e21${rest}`,
    };
    for (const [pid, text] of Object.entries(maps)) {
      Deno.mkdirSync(`${dir}/${pid}`);
      Deno.writeTextFileSync(`${dir}/${pid}/maps`, text);
      Deno.writeTextFileSync(`${dir}/${pid}/cmdline`, "x\0");
    }
    const { processes } = await scanLibs({ proc: dir });
    assertEquals(processes.map((p) => [p.pid, p.files.map((f) => f.path)]), [
      [21, ["/usr/lib/libgone.so.1"]],
      [22, ["/usr/lib/libgone.so.1"]],
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
