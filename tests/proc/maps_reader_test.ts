import { assertEquals, assertThrows } from "@std/assert";
import { forEachCandidateLine, MapsReader } from "../../lib/proc/maps_reader.ts";
import { parseMapsLine } from "../../lib/proc/maps.ts";
import { mapsDeviceName } from "../../lib/proc/mounts.ts";
import { decodeName, encodeName } from "../../lib/proc/names.ts";
import { mutate } from "../_mutate.ts";
import { fuzz } from "../_helpers.ts";

/** What one read hands over: each file with its first range, as `range device inode path`. */
function candidates(reader: MapsReader, path: string): string[] {
  return [...reader.read(path)].map(([file, range]) =>
    `${range} ${file.device} ${file.inode} ${file.path}`
  );
}

function withDir(run: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync();
  try {
    run(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const plainReader = () => new MapsReader({ ignored: () => false });

Deno.test("MapsReader finds lines across chunk borders in a long maps file", () => {
  withDir((dir) => {
    const filler = "7f0000000000-7f0000001000 r-xp 00000000 fd:01 1 /usr/lib/live.so\n";
    let text = "";
    const expected: string[] = [];
    for (let i = 0; i < 20000; i++) {
      if (i % 997 === 0) {
        text += `7f0000000000-7f0000001000 r-xp 00000000 fd:01 ${i} /lib/gone${i}.so (deleted)\n`;
        expected.push(`7f0000000000-7f0000001000 253:1 ${i} /lib/gone${i}.so`);
      } else {
        text += filler;
      }
    }
    text += "7f0000000000-7f0000001000 r-xp 00000000 fd:01 1 /lib/last.so (deleted)"; // no newline
    expected.push("7f0000000000-7f0000001000 253:1 1 /lib/last.so");
    Deno.writeTextFileSync(`${dir}/maps`, text);
    assertEquals(candidates(plainReader(), `${dir}/maps`), expected);
  });
});

Deno.test("MapsReader reads a line longer than its buffer, and an empty file", () => {
  withDir((dir) => {
    const name = `/${"x".repeat(200_000)}`;
    Deno.writeTextFileSync(`${dir}/maps`, `1-2 r-xp 0 0:0 1 ${name} (deleted)\n`);
    const reader = plainReader();
    assertEquals(candidates(reader, `${dir}/maps`), [`1-2 0:0 1 ${name}`]);
    Deno.writeTextFileSync(`${dir}/empty`, "");
    assertEquals(candidates(reader, `${dir}/empty`), []);
  });
});

Deno.test("MapsReader hands over each file once, by device, inode and name", () => {
  withDir((dir) => {
    const line = (range: string, name: string, inode = 7) =>
      `${range} r-xp 00000000 fd:01 ${inode}   ${name} (deleted)`;
    Deno.writeTextFileSync(
      `${dir}/maps`,
      [
        line("1-2", "/lib/a.so"),
        line("2-3", "/lib/a.so"),
        line("3-4", "/lib/b.so"),
        line("4-5", "/lib/a.so"),
        line("5-6", "/lib/a.sx"),
        // The same name on another inode (a live decoy named `a.sx (deleted)`): another file.
        line("6-7", "/lib/a.sx", 8),
      ].join("\n") + "\n",
    );
    // a.so again after b.so is the same file: not handed over again.
    assertEquals(candidates(plainReader(), `${dir}/maps`), [
      "1-2 253:1 7 /lib/a.so",
      "3-4 253:1 7 /lib/b.so",
      "5-6 253:1 7 /lib/a.sx",
      "6-7 253:1 8 /lib/a.sx",
    ]);
  });
});

Deno.test("MapsReader parses a file once per scan, and leaves ignored names out", () => {
  withDir((dir) => {
    const kept: string[] = [];
    const reader = new MapsReader({
      ignored: (path) => path.startsWith("/dev/shm/"),
      keep: (text) => kept.push(text) > 0,
    });
    const text = "1-2 r--s 0 0:1 5 /dev/shm/x (deleted)\n1-2 r-xp 0 8:1 9 /a\\012b (deleted)\n";
    Deno.writeTextFileSync(`${dir}/a`, text);
    Deno.writeTextFileSync(`${dir}/b`, text.replaceAll("1-2", "3-4"));
    const first = [...reader.read(`${dir}/a`)];
    const second = [...reader.read(`${dir}/b`)];
    assertEquals(first.map(([, range]) => range), ["1-2"]);
    assertEquals(second.map(([, range]) => range), ["3-4"]);
    // The same object in both processes: its verdict may be shared.
    assertEquals(first[0]![0] === second[0]![0], true);
    assertEquals(first[0]![0], {
      path: "/a\nb",
      printed: "/a\nb (deleted)",
      device: "8:1",
      inode: "9",
      ambiguous: true,
    });
    assertEquals(kept, ["0:1 5 /dev/shm/x (deleted)", "8:1 9 /a\\012b (deleted)"]);
  });
});

Deno.test("MapsReader starts clean after a read that failed part-way", () => {
  withDir((dir) => {
    // A candidate, then a line longer than the buffer may grow: the read fails after the first.
    const file = Deno.openSync(`${dir}/broken`, { write: true, create: true });
    file.writeSync(new TextEncoder().encode("1-2 r-xp 0 0:0 1 /lib/gone.so (deleted)\n"));
    const chunk = new Uint8Array(1 << 20).fill(0x61);
    for (let i = 0; i < 17; i++) file.writeSync(chunk);
    file.close();
    const reader = plainReader();
    assertThrows(() => reader.read(`${dir}/broken`), RangeError);
    Deno.writeTextFileSync(`${dir}/maps`, "1-2 r-xp 0 0:0 2 /lib/other.so (deleted)\n");
    assertEquals(candidates(reader, `${dir}/maps`), ["1-2 0:0 2 /lib/other.so"]);
  });
});

Deno.test("MapsReader refuses what a procfs would not hold when given a limit", () => {
  withDir((dir) => {
    Deno.writeTextFileSync(`${dir}/maps`, "1-2 r-xp 0 0:0 2 /lib/other.so (deleted)\n");
    Deno.symlinkSync(`${dir}/maps`, `${dir}/link`);
    const reader = plainReader();
    assertThrows(() => reader.read(`${dir}/link`, { maxBytes: 1000 }), TypeError);
    assertThrows(() => reader.read(`${dir}/maps`, { maxBytes: 10 }), RangeError);
    assertEquals(reader.read(`${dir}/maps`, { maxBytes: 1000 }).size, 1);
  });
});

Deno.test("forEachCandidateLine() visits only complete lines containing (deleted)", () => {
  const text = "a\nb (deleted)\nc (x)\n(deleted)d\ne (deleted)";
  const bytes = new TextEncoder().encode(text);
  const seen: string[] = [];
  const consumed = forEachCandidateLine(bytes, bytes.length, (start, end) => {
    seen.push(new TextDecoder().decode(bytes.subarray(start, end)));
  });
  assertEquals(seen, ["b (deleted)", "(deleted)d"]);
  assertEquals(consumed, text.lastIndexOf("\n") + 1);
  assertEquals(forEachCandidateLine(bytes, 0, () => seen.push("never")), 0);
});

Deno.test("MapsReader reads every line as parseMapsLine() does (random and mutated input)", () =>
  fuzz("MapsReader against parseMapsLine", (random) => {
    const prefix = "7f1c2a000000-7f1c2a021000 r-xp 00000000 fd:01 131090                     ";
    const seeds = [
      `${prefix}/usr/lib/libc.so.6 (deleted)`,
      `${prefix}/opt/my app/x (deleted) (deleted)`,
      "00400000-0048f000 r-xp 00000000 fd:00 16245     (deleted)/v/t/p/usr/sbin/openvpn",
      "00400000-0048f000 rw-s 0000f000 103:0a 1 /memfd:x (deleted)",
      `${prefix}/lib64/libx_(deleted)i-2.11.so`,
      ...Deno.readTextFileSync("/proc/self/maps").split("\n").filter((line) => line.includes(" /"))
        .slice(0, 10).map((line) => `${line} (deleted)`),
    ].map((line) => encodeName(line));
    const reader = plainReader();
    withDir((dir) => {
      let agreed = 0;
      for (let round = 0; round < 3000; round++) {
        const bytes = mutate(seeds[round % seeds.length]!, random);
        if (bytes.includes(0x0a)) continue; // two lines: each is checked in other rounds
        Deno.writeFileSync(`${dir}/maps`, bytes);
        const line = decodeName(bytes);
        const expected = parseMapsLine(line);
        const got = [...reader.read(`${dir}/maps`)];
        const want = expected === null ? [] : [[
          expected.range,
          mapsDeviceName(expected.file.split(" ")[0]!),
          expected.file.split(" ")[1],
          expected.path,
        ]];
        assertEquals(
          got.map(([file, range]) => [range, file.device, file.inode, file.path]),
          want,
          `for ${JSON.stringify(line)}`,
        );
        if (expected !== null) agreed++;
      }
      // The mutations keep enough lines intact that the positive path is exercised too.
      assertEquals(agreed > 200, true, `only ${agreed} lines reported`);
    });
  }));

Deno.test("MapsReader keeps at most maxFiles files of one read and counts the others once", () => {
  withDir((dir) => {
    const line = (i: number, name: string) =>
      `7f${String(i).padStart(10, "0")}-7f${String(i + 1).padStart(10, "0")} r--p 00000000 fd:01 ${
        1000 + i
      } ${name} (deleted)\n`;
    let text = "";
    for (let i = 0; i < 10; i++) text += line(i, `/tmp/f${i}`);
    // Past the fifth: a kept file again, files past the cap twice, and an ignored one.
    text += line(0, "/tmp/f0") + line(7, "/tmp/f7") + line(8, "/tmp/f8") + line(20, "/dev/shm/x");
    Deno.writeTextFileSync(`${dir}/maps`, text);
    const reader = new MapsReader({ ignored: (path) => path.startsWith("/dev/shm/") });
    const kept = [...reader.read(`${dir}/maps`, undefined, 5).keys()].map((file) => file.path);
    assertEquals(kept, ["/tmp/f0", "/tmp/f1", "/tmp/f2", "/tmp/f3", "/tmp/f4"]);
    assertEquals(reader.notListed, 5);
    // Each read starts its count anew.
    assertEquals(reader.read(`${dir}/maps`).size, 10);
    assertEquals(reader.notListed, 0);
  });
});
