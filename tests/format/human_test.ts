import { assertEquals } from "@std/assert";
import { formatHuman } from "../../lib/format/human.ts";
import { type Group, groupByArgv } from "../../lib/scan/group.ts";
import { decodeName } from "../../lib/proc/names.ts";

const GROUPS: Group[] = groupByArgv([
  {
    pid: 1000,
    argv: ["cron", "-f"],
    cmdline: "cron -f",
    files: [{ path: "/lib/b.so", kind: "library" }],
  },
  {
    pid: 99,
    argv: ["cron", "-f"],
    cmdline: "cron -f",
    files: [{ path: "/lib/a.so", kind: "library" }],
  },
  { pid: 7, argv: ["x"], cmdline: "x", files: [{ path: "/y z", kind: "fd" }] },
]);

Deno.test('formatHuman() prints PIDS "CMDLINE" per group', () => {
  assertEquals(formatHuman(GROUPS), '7 "x"\n99,1000 "cron -f"\n');
});

Deno.test("formatHuman() with showFiles appends the files", () => {
  assertEquals(
    formatHuman(GROUPS, { showFiles: true }),
    '7 "x" uses /y z\n99,1000 "cron -f" uses /lib/a.so,/lib/b.so\n',
  );
});

Deno.test("formatHuman() prints nothing for no groups", () => {
  assertEquals(formatHuman([], { showFiles: true }), "");
});

Deno.test("formatHuman() escapes control characters and raw bytes in names and command lines", () => {
  const evil = "/tmp/a\nb\x1b[31m" + decodeName(Uint8Array.from([0xff]));
  const groups = groupByArgv([{
    pid: 5,
    argv: [evil, "\r"],
    cmdline: `${evil} \r`,
    files: [{ path: evil, kind: "fd" }],
  }]);
  const out = formatHuman(groups, { showFiles: true });
  assertEquals(out, '5 "/tmp/a\\nb\\x1b[31m\\xff \\r" uses /tmp/a\\nb\\x1b[31m\\xff\n');
  assertEquals(out.split("\n").length, 2);
});

Deno.test("formatHuman() -s says what stands at each path and since when, where known", () => {
  const now = Date.parse("2026-12-06T12:00:00Z");
  const groups = groupByArgv([{
    pid: 8,
    argv: ["java"],
    cmdline: "java",
    files: [
      { path: "/opt/a.so", kind: "library" },
      { path: "/tmp/jna1.tmp", kind: "library", state: "deleted" },
      {
        path: "/usr/lib/libz.so.1",
        kind: "library",
        state: "replaced",
        replacedAt: now - 3 * 86_400_000,
      },
      { path: "/usr/lib/odd.so", kind: "library", replacedAt: now - 7_200_000 },
    ],
  }]);
  assertEquals(
    formatHuman(groups, { showFiles: true, now }),
    '8 "java" uses /opt/a.so,/tmp/jna1.tmp (deleted),/usr/lib/libz.so.1 (replaced 3 days ago),' +
      "/usr/lib/odd.so (2 hours ago)\n",
  );
  // Without -s, the Python tools' line, unchanged.
  assertEquals(formatHuman(groups, { now }), '8 "java"\n');
});

Deno.test("formatHuman() applies a style to each part", () => {
  const out = formatHuman(GROUPS.slice(0, 1), {
    showFiles: true,
    style: { pids: (t) => `<${t}>`, cmdline: (t) => `[${t}]`, files: (t) => `{${t}}` },
  });
  assertEquals(out, '<7> ["x"] uses {/y z}\n');
});
