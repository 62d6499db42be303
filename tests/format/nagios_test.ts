import { assertEquals, assertMatch } from "@std/assert";
import { classifyCgroup } from "../../lib/cgroup.ts";
import { formatNagios, NAGIOS_STATUS } from "../../lib/format/nagios.ts";
import type { Group } from "../../lib/group.ts";

function group(pids: number[], cgroup: string, path = "/lib/x.so"): Group {
  return {
    pids,
    argv: ["p"],
    cmdline: "p",
    files: [{ path, kind: "library" }],
    unit: classifyCgroup(cgroup),
  };
}

/** Parses a plugin line per the Nagios plugin API: `STATE - text | label=value;warn;crit;min;max ...`. */
function parsePluginLine(text: string) {
  assertEquals(text.endsWith("\n") && text.indexOf("\n") === text.length - 1, true, "one line");
  const [status, perf] = text.trimEnd().split(" | ");
  const state = /^(OK|WARNING|CRITICAL|UNKNOWN) - /.exec(status!)?.[1];
  const perfdata = Object.fromEntries(
    perf!.split(" ").map((item) => {
      const match = /^([a-z_]+)=(\d+);(\d*);(\d*);(\d*);(\d*)$/.exec(item);
      if (!match) throw new Error(`Bad perfdata "${item}"`);
      return [match[1], { value: Number(match[2]), warn: match[3], crit: match[4], min: match[5] }];
    }),
  );
  return { state, status: status!, perfdata };
}

Deno.test("formatNagios() is OK with nothing stale and WARNING above the warning threshold", () => {
  const ok = parsePluginLine(formatNagios([], { scan: "libs" }).text);
  assertEquals(ok.state, "OK");
  assertEquals(ok.status, "OK - no process uses deleted libraries");
  assertEquals(ok.perfdata.stale_processes, { value: 0, warn: "0", crit: "", min: "0" });

  const groups = [
    group([1, 2], "/system.slice/nginx.service"),
    group([3], "/system.slice/cron.service", "/b"),
  ];
  const result = formatNagios(groups, { scan: "libs", unreadable: 2 });
  assertEquals(result.exitCode, NAGIOS_STATUS.WARNING);
  const warn = parsePluginLine(result.text);
  assertEquals(
    warn.status,
    "WARNING - 3 processes use deleted libraries: nginx.service, cron.service (2 unreadable)",
  );
  assertEquals(warn.perfdata.stale_processes!.value, 3);
  assertEquals(warn.perfdata.stale_groups!.value, 2);
  assertEquals(warn.perfdata.stale_files!.value, 2);
  assertEquals(warn.perfdata.unreadable_processes!.value, 2);
});

Deno.test("formatNagios() honours the thresholds: above warning WARNING, above critical CRITICAL", () => {
  const groups = [group([1, 2, 3], "/system.slice/a.service")];
  assertEquals(formatNagios(groups, { scan: "fds", warning: 3 }).exitCode, NAGIOS_STATUS.OK);
  assertEquals(formatNagios(groups, { scan: "fds", warning: 2 }).exitCode, NAGIOS_STATUS.WARNING);
  const critical = formatNagios(groups, { scan: "fds", warning: 0, critical: 2 });
  assertEquals(critical.exitCode, NAGIOS_STATUS.CRITICAL);
  assertEquals(parsePluginLine(critical.text).perfdata.stale_processes!.crit, "2");
  assertMatch(critical.text, /^CRITICAL - 3 processes use deleted open files: a\.service \| /);
});

Deno.test("formatNagios() names at most five units and keeps | out of the summary", () => {
  const groups = Array.from(
    { length: 7 },
    (_, i) => group([i + 1], `/system.slice/s${i}|x.service`),
  );
  const { text } = formatNagios(groups, { scan: "libs" });
  assertEquals(text.split(" | ").length, 2);
  assertMatch(text, /s4\\x7cx\.service and 2 more \| /);
});
