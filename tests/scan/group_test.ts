import { assertEquals } from "@std/assert";
import { fileNames, groupByArgv } from "../../lib/scan/group.ts";
import type { ProcessFinding } from "../../lib/scan/model.ts";

function finding(pid: number, argv: string[], files: string[]): ProcessFinding {
  return {
    pid,
    argv,
    cmdline: argv.join(" ").trimEnd(),
    files: files.map((path) => ({ path, kind: "library" })),
  };
}

Deno.test("groupByArgv() merges identical argv, sorting PIDs numerically and files by name", () => {
  const groups = groupByArgv([
    finding(1000, ["/usr/sbin/cron", "-f"], ["/lib/b.so", "/lib/a.so"]),
    finding(99, ["/usr/sbin/cron", "-f"], ["/lib/a.so"]),
    finding(5, ["/bin/other"], ["/lib/c.so"]),
  ]);
  assertEquals(groups.map((g) => g.pids), [[5], [99, 1000]]);
  assertEquals(fileNames(groups[1]!), ["/lib/a.so", "/lib/b.so"]);
});

Deno.test("groupByArgv() keeps argv that only print alike apart", () => {
  const groups = groupByArgv([
    finding(1, ["a b", "c"], ["/x"]),
    finding(2, ["a", "b c"], ["/x"]),
    finding(3, ["a", "b", "c"], ["/x"]),
  ]);
  assertEquals(groups.length, 3);
  assertEquals(groups.map((g) => g.cmdline), ["a b c", "a b c", "a b c"]);
});

Deno.test("groupByArgv() returns nothing for nothing", () => {
  assertEquals(groupByArgv([]), []);
});

Deno.test("fileNames() lists a name used two ways once", () => {
  const [group] = groupByArgv([{
    pid: 1,
    argv: ["x"],
    cmdline: "x",
    files: [{ path: "/a", kind: "executable" }, { path: "/a", kind: "library" }],
  }]);
  assertEquals(group!.files.length, 2);
  assertEquals(fileNames(group!), ["/a"]);
});
