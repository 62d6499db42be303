import { assertEquals } from "@std/assert";
import { classifyCgroup } from "../../lib/proc/cgroup.ts";
import { formatPrometheus } from "../../lib/format/prometheus.ts";
import type { Group } from "../../lib/scan/group.ts";
import { parseExposition } from "../_exposition.ts";
import { checkReboot } from "../../lib/answers/reboot.ts";
import { ROOT } from "../_helpers.ts";

Deno.test("formatPrometheus() prints a gauge per class and unit, files, unreadable and success", () => {
  const groups: Group[] = [
    {
      pids: [1, 2],
      argv: ["a"],
      cmdline: "a",
      files: [{ path: "/x", kind: "library" }],
      unit: classifyCgroup("/system.slice/nginx.service"),
    },
    {
      pids: [3],
      argv: ["b"],
      cmdline: "b",
      files: [{ path: "/y", kind: "library" }],
      unit: classifyCgroup("/system.slice/nginx.service"),
    },
    { pids: [4], argv: ["c"], cmdline: "c", files: [{ path: "/x", kind: "library" }] },
    {
      pids: [5],
      argv: ["d"],
      cmdline: "d",
      files: [{ path: "/z", kind: "library" }],
      unit: classifyCgroup(
        '/user.slice/user-1000.slice/user@1000.service/app.slice/q"\\\n.service',
      ),
    },
  ];
  const samples = parseExposition(
    formatPrometheus(groups, {
      scan: "libs",
      unreadable: 3,
      scanned: 40,
      notListed: 12,
      version: "9.9.9",
    }),
  );
  assertEquals(Object.fromEntries(samples), {
    'lib_users_stale_processes{scan="libs",class="system-service",unit="nginx.service"}': 3,
    'lib_users_stale_processes{scan="libs",class="unknown",unit=""}': 1,
    // The newline shown as the human output shows it (\n), then escaped for the format.
    'lib_users_stale_processes{scan="libs",class="user-service",unit="q\\"\\\\\\\\n.service"}': 1,
    'lib_users_stale_processes_all{scan="libs"}': 5,
    'lib_users_stale_files{scan="libs"}': 3,
    'lib_users_unreadable_processes{scan="libs"}': 3,
    'lib_users_files_not_listed{scan="libs"}': 12,
    'lib_users_scanned_processes{scan="libs"}': 40,
    'lib_users_scan_success{scan="libs"}': 1,
    'lib_users_info{version="9.9.9"}': 1,
    'lib_users_stale_processes_by_state{scan="libs",state="replaced"}': 0,
    'lib_users_stale_processes_by_state{scan="libs",state="deleted"}': 0,
    'lib_users_stale_processes_by_state{scan="libs",state="unknown"}': 5,
  });
});

Deno.test("formatPrometheus() has a zero sample for every count when nothing is stale", () => {
  const samples = parseExposition(formatPrometheus([], { scan: "libs", scanned: 7 }));
  assertEquals(Object.fromEntries(samples), {
    'lib_users_stale_processes_all{scan="libs"}': 0,
    'lib_users_stale_files{scan="libs"}': 0,
    'lib_users_unreadable_processes{scan="libs"}': 0,
    'lib_users_files_not_listed{scan="libs"}': 0,
    'lib_users_scanned_processes{scan="libs"}': 7,
    'lib_users_scan_success{scan="libs"}': 1,
    'lib_users_stale_processes_by_state{scan="libs",state="replaced"}': 0,
    'lib_users_stale_processes_by_state{scan="libs",state="deleted"}': 0,
    'lib_users_stale_processes_by_state{scan="libs",state="unknown"}': 0,
  });
});

Deno.test("formatPrometheus() says since when each state holds, when it scanned, and what was left out", () => {
  const group = (pid: number, files: Group["files"]): Group => ({
    pids: [pid],
    argv: ["x"],
    cmdline: `x${pid}`,
    files,
  });
  const samples = parseExposition(
    formatPrometheus([
      group(1, [
        { path: "/a", kind: "library", state: "replaced", replacedAt: 1_700_000_100_900 },
        { path: "/t", kind: "library", state: "deleted", replacedAt: 1_700_000_500_000 },
      ]),
      group(2, [{ path: "/b", kind: "library", state: "replaced", replacedAt: 1_700_000_000_000 }]),
      group(3, [{ path: "/c", kind: "library" }]),
    ], {
      scan: "libs",
      scannedAt: new Date(1_700_000_999_999),
      narrowed: {
        minAgeMs: 60_000,
        replacedOnly: true,
        leftOut: { young: 4, deleted: 2, processes: 1 },
      },
    }),
  );
  const value = (series: string) => samples.get(series);
  assertEquals(value('lib_users_stale_since_seconds{scan="libs",state="replaced"}'), 1_700_000_000);
  assertEquals(value('lib_users_stale_since_seconds{scan="libs",state="deleted"}'), 1_700_000_500);
  assertEquals(value('lib_users_stale_since_seconds{scan="libs",state="unknown"}'), undefined);
  assertEquals(value('lib_users_stale_processes_by_state{scan="libs",state="replaced"}'), 2);
  assertEquals(value('lib_users_stale_processes_by_state{scan="libs",state="deleted"}'), 1);
  assertEquals(value('lib_users_stale_processes_by_state{scan="libs",state="unknown"}'), 1);
  assertEquals(value('lib_users_last_scan_timestamp_seconds{scan="libs"}'), 1_700_000_999);
  assertEquals(value('lib_users_left_out_files{scan="libs",by="min_age"}'), 4);
  assertEquals(value('lib_users_left_out_files{scan="libs",by="replaced_only"}'), 2);
  // A failed scan still says when it ran: the textfile's age is the alert's.
  const failed = parseExposition(
    formatPrometheus([], { scan: "libs", success: false, scannedAt: new Date(5_000) }),
  );
  assertEquals(Object.fromEntries(failed), {
    'lib_users_last_scan_timestamp_seconds{scan="libs"}': 5,
    'lib_users_scan_success{scan="libs"}': 0,
  });
});

Deno.test("formatPrometheus() gives no stale counts when the scan saw only part of the processes", () => {
  const samples = parseExposition(
    formatPrometheus([], { scan: "libs", unreadable: 70, scanned: 8, incomplete: "not root" }),
  );
  assertEquals(Object.fromEntries(samples), {
    'lib_users_unreadable_processes{scan="libs"}': 70,
    'lib_users_files_not_listed{scan="libs"}': 0,
    'lib_users_scanned_processes{scan="libs"}': 8,
    'lib_users_scan_success{scan="libs"}': 0,
  });
});

Deno.test("formatPrometheus() reports a failed scan as scan_success 0 alone", () => {
  const samples = parseExposition(
    formatPrometheus([], { scan: "fds", success: false, unreadable: 2, version: "1.0.0" }),
  );
  // Nothing that could read as "clean".
  assertEquals(Object.fromEntries(samples), {
    'lib_users_scan_success{scan="fds"}': 0,
    'lib_users_info{version="1.0.0"}': 1,
  });
});

Deno.test("formatPrometheus() has the boot loader's kernel and the microcode as info metrics", () => {
  const samples = parseExposition(
    formatPrometheus([], {
      scan: "libs",
      reboot: checkReboot({
        root: `${ROOT}/testdata/root_ucode_intel`,
        proc: `${ROOT}/testdata/root_grub_pinned/proc`,
      }),
    }),
  );
  // The proc root of one fixture, the files of another: no cpuinfo, so the microcode is unknown.
  assertEquals(samples.get('lib_users_microcode_info{running="",installed="",state="unknown"}'), 1);
  const pinned = parseExposition(
    formatPrometheus([], {
      scan: "libs",
      reboot: checkReboot({ root: `${ROOT}/testdata/root_grub_submenu` }),
    }),
  );
  assertEquals(
    pinned.get(
      'lib_users_kernel_info{running="6.1.0-9-amd64",newest="6.1.0-11-amd64",boots="6.1.0-10-amd64",state="newer"}',
    ),
    1,
  );
  const intel = parseExposition(
    formatPrometheus([], {
      scan: "libs",
      reboot: checkReboot({ root: `${ROOT}/testdata/root_ucode_intel` }),
    }),
  );
  assertEquals(
    intel.get('lib_users_microcode_info{running="0xf0",installed="0xf4",state="newer"}'),
    1,
  );
  assertEquals(intel.get('lib_users_reboot_required{reason="microcode"}'), 1);
});
