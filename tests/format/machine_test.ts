import { assertEquals, assertThrows } from "@std/assert";
import { formatMachine, parseMachine } from "../../lib/format/machine.ts";
import { groupByArgv } from "../../lib/scan/group.ts";
import { decodeName } from "../../lib/proc/names.ts";

Deno.test("formatMachine() prints PIDS;FILES;CMDLINE as the Python tools do", () => {
  const groups = groupByArgv([
    {
      pid: 1000,
      argv: ["cron", "-f "],
      cmdline: "cron -f",
      files: [{ path: "/lib/b.so", kind: "library" }],
    },
    {
      pid: 99,
      argv: ["cron", "-f "],
      cmdline: "cron -f",
      files: [{ path: "/lib/a.so", kind: "library" }],
    },
    {
      pid: 7,
      argv: ["java", "-Da=b,c"],
      cmdline: "java -Da=b,c",
      files: [{ path: "/my lib.so", kind: "library" }],
    },
  ]);
  assertEquals(
    formatMachine(groups),
    "7;/my lib.so;java -Da=b,c\n99,1000;/lib/a.so,/lib/b.so;cron -f\n",
  );
});

Deno.test("formatMachine() prints nothing for no groups", () => {
  assertEquals(formatMachine([]), "");
});

Deno.test("formatMachine() output cannot be forged and parses back to the exact names", () => {
  const names = [
    "/tmp/a,b.so",
    "/tmp/x;y",
    "/tmp/new\nline",
    "/tmp/back\\slash\\x2c",
    "/tmp/esc\x1b[2J",
    decodeName(Uint8Array.from([0x2f, 0xff, 0xfe])),
  ];
  const argv = ["sh", "-c", "a; b, c\n1;2;3", decodeName(Uint8Array.from([0x80]))];
  const groups = groupByArgv([{
    pid: 42,
    argv,
    cmdline: argv.join(" "),
    files: names.map((path) => ({ path, kind: "fd" as const })),
  }]);
  const text = formatMachine(groups);
  assertEquals(text.split("\n").length, 2);
  assertEquals(text.split("\n")[0]!.split(";").length, 3);
  const [record] = parseMachine(text);
  assertEquals(record!.pids, [42]);
  assertEquals(record!.files, [...names].sort());
  assertEquals(record!.cmdline, argv.join(" "));
});

Deno.test("parseMachine() rejects lines that are not records", () => {
  assertThrows(() => parseMachine("1;a;b;c\n"), SyntaxError);
  assertThrows(() => parseMachine("x;a;b\n"), SyntaxError);
  assertEquals(parseMachine(""), []);
});
