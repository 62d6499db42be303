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
});

Deno.test("formatServices() says no unit known for the PIDs it cannot place, as the restart plan does", () => {
  const groups = groupByArgv([
    { pid: 99, argv: ["cron"], cmdline: "cron", files: [{ path: "/a", kind: "library" }] },
    { pid: 240, argv: ["daemon"], cmdline: "daemon", files: [{ path: "/a", kind: "library" }] },
    { pid: 250, argv: ["daemon"], cmdline: "daemon", files: [{ path: "/a", kind: "library" }] },
  ]);
  assertEquals(
    formatServices(groups, new Map([[99, "cron.service"]])),
    "99 belong to cron.service\nno unit known: PIDs 240,250\n",
  );
  assertEquals(formatServices(groups, new Map()), "no unit known: PIDs 99,240,250\n");
  assertEquals(formatServices([], new Map()), "");
});
