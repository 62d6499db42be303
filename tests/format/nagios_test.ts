import { assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { classifyCgroup } from "../../lib/proc/cgroup.ts";
import {
  formatNagios,
  NAGIOS_STATUS,
  nagiosRangeAlerts,
  parseNagiosRange,
} from "../../lib/format/nagios.ts";
import type { Group } from "../../lib/scan/group.ts";

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
  assertEquals(text.endsWith("\n"), true, "ends with a newline");
  const first = text.slice(0, text.indexOf("\n"));
  const [status, perf, ...more] = first.split(" | ");
  assertEquals(more, [], "one | on the status line");
  const state = /^(OK|WARNING|CRITICAL|UNKNOWN) - /.exec(status!)?.[1];
  const perfdata = Object.fromEntries(
    perf!.split(" ").map((item) => {
      const match = /^([a-z_]+)=(\d+);([@~:\d.-]*);([@~:\d.-]*);(\d*);(\d*)$/.exec(item);
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
  assertEquals(text.split("\n")[0]!.split(" | ").length, 2);
  assertStringIncludes(text, "|");
  assertEquals(text.split("\n").slice(1).join("\n").includes("|"), false);
  assertMatch(text, /s4\\x7cx\.service and 2 more \| /);
});

Deno.test("formatNagios() keeps the status line short and lists every group after it", () => {
  const java = `java ${"-Dx=y ".repeat(1200)}-jar app.jar`;
  const groups: Group[] = [
    {
      pids: [7, 8],
      argv: java.split(" "),
      cmdline: java,
      files: [{ path: "/a", kind: "library" }],
    },
    ...Array.from({ length: 3 }, (_, i) => ({
      pids: [20 + i],
      argv: [`p${i}`],
      cmdline: `p${i}`,
      files: [{ path: "/a", kind: "library" as const }],
    })),
  ];
  const { text } = formatNagios(groups, { scan: "libs", scanned: 90 });
  const [first, ...rest] = text.trimEnd().split("\n");
  assertEquals(first!.length < 600, true, `${first!.length} characters`);
  assertMatch(
    first!,
    /^WARNING - 5 processes use deleted libraries: java -Dx=y.*\.\.\. and 3 more \| /,
  );
  assertEquals(parsePluginLine(text).perfdata.scanned_processes!.value, 90);
  assertEquals(rest.length, 4);
  assertEquals(rest[0], `PIDs 7,8 ${java}`);
  assertEquals(rest[3], "PIDs 22 p2");
});

Deno.test("formatNagios() is UNKNOWN when the answer is incomplete, saying what is known", () => {
  const groups = [group([1], "/system.slice/a.service")];
  const result = formatNagios(groups, {
    scan: "libs",
    unreadable: 40,
    incomplete: "not root: 40 of 50 processes (other users') could not be read",
  });
  assertEquals(result.exitCode, NAGIOS_STATUS.UNKNOWN);
  assertEquals(
    parsePluginLine(result.text).status,
    "UNKNOWN - not root: 40 of 50 processes (other users') could not be read; of the processes " +
      "read, 1 process uses deleted libraries: a.service (40 unreadable)",
  );
  assertEquals(result.text.split("\n")[1], "a.service: PIDs 1 p");
});

Deno.test("formatNagios() says what --min-age and --replaced-only left out, in the summary and perfdata", () => {
  const { state, status, perfdata } = parsePluginLine(
    formatNagios([group([5], "/system.slice/nginx.service")], {
      scan: "libs",
      narrowed: {
        minAgeMs: 21_600_000,
        replacedOnly: true,
        leftOut: { young: 2, deleted: 1, processes: 3 },
      },
    }).text,
  );
  assertEquals(state, "WARNING");
  assertStringIncludes(
    status,
    "(--min-age 6 hours left out 2 files replaced less long ago; --replaced-only left out 1 " +
      "deleted file (3 processes had nothing else))",
  );
  assertEquals([perfdata.left_out_young?.value, perfdata.left_out_deleted?.value], [2, 1]);
  const plain = parsePluginLine(formatNagios([], { scan: "libs" }).text);
  assertEquals([plain.perfdata.left_out_young, plain.perfdata.left_out_deleted], [
    undefined,
    undefined,
  ]);
});

Deno.test("parseNagiosRange() reads the guidelines' range forms", () => {
  const alerts = (range: string, values: number[]) =>
    values.map((value) => nagiosRangeAlerts(parseNagiosRange(range)!, value));
  assertEquals(alerts("10", [-1, 0, 10, 11]), [true, false, false, true]);
  assertEquals(alerts("10:", [9, 10, 1e9]), [true, false, false]);
  assertEquals(alerts("~:10", [-1e9, 10, 11]), [false, false, true]);
  assertEquals(alerts("10:20", [9, 10, 20, 21]), [true, false, false, true]);
  assertEquals(alerts("@10:20", [9, 10, 20, 21]), [false, true, true, false]);
  for (const bad of ["", "@", "x", "20:10", "1:2:3", "--1", ":"]) {
    assertEquals(parseNagiosRange(bad), null, bad);
  }
  const groups = [group([1, 2, 3], "/system.slice/a.service")];
  const ranged = formatNagios(groups, {
    scan: "libs",
    warning: parseNagiosRange("5:")!,
    critical: parseNagiosRange("@3:3")!,
  });
  assertEquals(ranged.exitCode, NAGIOS_STATUS.CRITICAL);
  assertEquals(parsePluginLine(ranged.text).perfdata.stale_processes!.warn, "5:");
});
