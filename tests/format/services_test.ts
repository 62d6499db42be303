import { assertEquals } from "@std/assert";
import { groupByArgv } from "../../lib/scan/group.ts";
import { formatServices } from "../../lib/format/services.ts";

Deno.test("formatServices() prints PIDS belong to UNIT per unit", () => {
  const groups = groupByArgv([
    { pid: 99, argv: ["cron"], cmdline: "cron", files: [{ path: "/a", kind: "library" }] },
    { pid: 7, argv: ["x"], cmdline: "x", files: [{ path: "/a", kind: "library" }] },
    { pid: 100, argv: ["cron"], cmdline: "cron", files: [{ path: "/a", kind: "library" }] },
  ]);
  const units = new Map([[99, "cron.service"], [100, "cron.service"], [7, "evil\x1b[2J.scope"]]);
  assertEquals(
    formatServices(groups, units),
    "7 belong to evil\\x1b[2J.scope\n99,100 belong to cron.service\n",
  );
  assertEquals(formatServices(groups, new Map()), "");
});
