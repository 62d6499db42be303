import { assertEquals } from "@std/assert";
import { mapFilesName, parseMapsLine } from "../../lib/proc/maps.ts";
import { decodeName } from "../../lib/proc/names.ts";
import { mutate } from "../_mutate.ts";
import { fuzz } from "../_helpers.ts";

const PREFIX = "7f1c2a000000-7f1c2a021000 r-xp 00000000 fd:01 131090                     ";

Deno.test("parseMapsLine() reports names marked deleted", async (t) => {
  const cases: [string, string][] = [
    ["/usr/lib/libc.so.6 (deleted)", "/usr/lib/libc.so.6"],
    ["/opt/my app/lib/libfoo 1.so (deleted)", "/opt/my app/lib/libfoo 1.so"],
    ["/drm mm object (deleted)", "/drm mm object"],
    ["/data/x (deleted) (deleted)", "/data/x (deleted)"],
    ["/lib/a\\012b.so (deleted)", "/lib/a\nb.so"],
    ["/lib/  two  spaces.so (deleted)", "/lib/  two  spaces.so"],
  ];
  for (const [name, expected] of cases) {
    await t.step(name, () => {
      assertEquals(parseMapsLine(PREFIX + name), {
        range: "7f1c2a000000-7f1c2a021000",
        file: "fd:01 131090",
        path: expected,
      });
    });
  }
});

Deno.test("parseMapsLine() accepts the OpenVZ form with the marker glued before the path", () => {
  assertEquals(
    parseMapsLine(
      "00400000-0048f000 r-xp 00000000 fd:00 16245     (deleted)/v/t/p/usr/sbin/openvpn",
    ),
    { range: "00400000-0048f000", file: "fd:00 16245", path: "/v/t/p/usr/sbin/openvpn" },
  );
});

Deno.test("parseMapsLine() ignores lines whose name is not marked deleted", async (t) => {
  const cases = [
    "/lib64/libx_(deleted)i-2.11.so",
    "/lib64/liby.so (notdeleted)",
    "/lib64/libz.so (delete)",
    "(deleted) /lib64/x.so",
    "/lib64/libc.so(deleted)",
    "/usr/lib/libc.so.6",
    "[heap]",
    "[anon:x (deleted)]",
    "",
  ];
  for (const name of cases) {
    await t.step(JSON.stringify(name), () => assertEquals(parseMapsLine(PREFIX + name), null));
  }
});

Deno.test("parseMapsLine() rejects garbage and truncated lines", async (t) => {
  const cases = [
    "",
    " (deleted)",
    "garbage /x (deleted)",
    "7f00-7f01 r-xp 00000000 fd:01 /x (deleted)",
    "7f00-7f01 r-xp 00000000 fd:01 abc /x (deleted)",
    "7f00-7f01 r\nxp 00000000 fd:01 1 /x (deleted)",
    "7f00-7f01 rwxq 00000000 fd:01 1 /x (deleted)",
    "7f00-7f01 r-xp 0000000g fd:01 1 /x (deleted)",
    "7f00-7f01 r-xp 00000000 fd01 1 /x (deleted)",
    "zz-7f01 r-xp 00000000 fd:01 1 /x (deleted)",
    "7f00-7f01 r-xp",
  ];
  for (const line of cases) {
    await t.step(JSON.stringify(line), () => assertEquals(parseMapsLine(line), null));
  }
});

Deno.test("mapFilesName() drops the zero padding maps prints", () => {
  assertEquals(mapFilesName("00400000-0048f000"), "400000-48f000");
  assertEquals(mapFilesName("7f1c2a000000-7f1c2a021000"), "7f1c2a000000-7f1c2a021000");
  assertEquals(mapFilesName("00000000-00001000"), "0-1000");
});

/** The only shapes of line that may yield a path: the marker at the end, or OpenVZ's. */
function isMarked(line: string): boolean {
  return line.endsWith(" (deleted)") || /^\S+ \S+ \S+ \S+ [0-9]+ +\(deleted\)\//.test(line);
}

Deno.test("parseMapsLine() never throws and only reports marked lines (random and mutated input)", () =>
  fuzz("parseMapsLine", (random) => {
    const encoder = new TextEncoder();
    const real = Deno.readTextFileSync("/proc/self/maps").split("\n").filter(Boolean);
    const marked = [
      `${PREFIX}/usr/lib/libc.so.6 (deleted)`,
      `${PREFIX}/opt/my app/x (deleted) (deleted)`,
      "00400000-0048f000 r-xp 00000000 fd:00 16245     (deleted)/v/t/p/usr/sbin/openvpn",
      `${PREFIX}/lib64/libx_(deleted)i-2.11.so`,
      ...real.map((line) => `${line} (deleted)`),
    ];
    const seeds = [...real, ...marked].map((line) => encoder.encode(line));
    const markedSeeds = marked.map((line) => encoder.encode(line));
    let reported = 0;
    for (let round = 0; round < 20000; round++) {
      const bytes = round % 4 === 0 ? random.bytes(round % 120) : mutate(
        round % 4 === 1 ? markedSeeds[round % markedSeeds.length]! : seeds[round % seeds.length]!,
        random,
      );
      const line = decodeName(bytes);
      const result = parseMapsLine(line);
      if (result === null) continue;
      reported++;
      if (!isMarked(line)) {
        throw new Error(`Reported ${JSON.stringify(result)} for ${JSON.stringify(line)}`);
      }
      assertEquals(result.path.startsWith("/"), true);
    }
    // The mutations keep enough lines intact that the positive path is exercised too.
    assertEquals(reported > 200, true, `only ${reported} lines reported`);
  }));
