import { assertEquals } from "@std/assert";
import { formatJson, JSON_SCHEMA_VERSION, toJsonReport } from "../../lib/format/json.ts";
import { groupByArgv } from "../../lib/scan/group.ts";
import { decodeName, encodeName } from "../../lib/proc/names.ts";
import { loadSchema, validate } from "../_json_schema.ts";
import { checkReboot } from "../../lib/answers/reboot.ts";
import { ROOT } from "../_helpers.ts";

const RAW = decodeName(Uint8Array.from([0x2f, 0x78, 0xff, 0xfe]));

function decodeBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

Deno.test("formatJson() follows the schema, with exact bytes for non-UTF-8 names", async () => {
  const groups = groupByArgv([
    { pid: 9, argv: ["a", RAW], cmdline: `a ${RAW}`, files: [{ path: RAW, kind: "fd" }] },
    { pid: 3, argv: ["b"], cmdline: "b", files: [{ path: "/lib/x.so", kind: "library" }] },
    {
      pid: 12,
      argv: [],
      cmdline: "[hidden]",
      files: [{ path: "/lib/y.so", kind: "library", unverified: "its fdinfo cannot be read" }],
    },
  ]);
  const report = JSON.parse(formatJson(groups, { scan: "fds", unreadable: 2 }));
  assertEquals(validate(await loadSchema(), report), []);
  assertEquals(report.schema_version, JSON_SCHEMA_VERSION);
  assertEquals(report.unreadable, 2);
  assertEquals(report.groups[0], {
    pids: [3],
    argv: ["b"],
    cmdline: "b",
    started_at: [null],
    files: [{
      path: "/lib/x.so",
      kind: "library",
      verified: true,
      state: null,
      replaced_at: null,
    }],
    unit: null,
    class: "unknown",
    user: null,
    container: null,
  });
  const raw = report.groups[1];
  assertEquals(raw.files[0].path, "/x\ufffd\ufffd");
  assertEquals(decodeBase64(raw.files[0].path_base64), encodeName(RAW));
  assertEquals(decodeBase64(raw.argv_base64[1]), encodeName(RAW));
  assertEquals(decodeBase64(raw.argv_base64[0]), new TextEncoder().encode("a"));
  // Decided by the kernel's marker, and said why; a cleared argv stays empty.
  const hidden = report.groups[2];
  assertEquals([hidden.argv, hidden.cmdline], [[], "[hidden]"]);
  assertEquals(hidden.files, [
    {
      path: "/lib/y.so",
      kind: "library",
      verified: false,
      state: null,
      replaced_at: null,
      unverified_reason: "its fdinfo cannot be read",
    },
  ]);
});

Deno.test("formatJson() says what stands at each path, since when, each start, and what was left out", async () => {
  const replacedAt = Date.parse("2026-12-03T08:00:00.250Z");
  const groups = groupByArgv([
    {
      pid: 20,
      argv: ["java"],
      cmdline: "java",
      startedAt: Date.parse("2026-12-01T00:00:00Z"),
      files: [
        { path: "/tmp/jna1.tmp", kind: "library", state: "deleted" },
        { path: "/usr/lib/libz.so.1", kind: "library", state: "replaced", replacedAt },
      ],
    },
    { pid: 7, argv: ["java"], cmdline: "java", files: [] },
  ]);
  const narrowed = { minAgeMs: 3_600_000, leftOut: { young: 2, deleted: 0, processes: 1 } };
  const report = toJsonReport(groups, { scan: "libs", narrowed });
  assertEquals(validate(await loadSchema(), report), []);
  const [group] = report.groups;
  assertEquals(group!.started_at, [null, "2026-12-01T00:00:00.000Z"]);
  assertEquals(
    group!.files.map((f) => [f.state, f.replaced_at]),
    [["deleted", null], ["replaced", "2026-12-03T08:00:00.250Z"]],
  );
  assertEquals(report.narrowed, {
    min_age_seconds: 3600,
    replaced_only: false,
    files_left_out: { young: 2, deleted: 0 },
    processes_left_out: 1,
  });
});

Deno.test("formatJson() of nothing is a valid empty report", async () => {
  const report = toJsonReport([], { scan: "libs" });
  assertEquals(report, {
    schema_version: 2,
    scan: "libs",
    unreadable: 0,
    unreadable_processes: [],
    finished: true,
    truncated: false,
    groups: [],
  });
  assertEquals(validate(await loadSchema(), report), []);
});

Deno.test("validate() catches what the schema forbids", async () => {
  const schema = await loadSchema();
  const bad = { schema_version: 2, scan: "x", unreadable: -1, groups: [{ pids: [] }], extra: 1 };
  assertEquals(validate(schema, bad), [
    "$: missing unreadable_processes",
    "$: missing finished",
    "$: missing truncated",
    "$.scan: not in enum",
    "$.unreadable: below 0",
    "$.groups[0]: missing argv",
    "$.groups[0]: missing cmdline",
    "$.groups[0]: missing started_at",
    "$.groups[0]: missing files",
    "$.groups[0]: missing unit",
    "$.groups[0]: missing class",
    "$.groups[0]: missing user",
    "$.groups[0]: missing container",
    "$.groups[0].pids: fewer than 1 items",
    "$: extra extra",
  ]);
});

Deno.test("formatJson() carries the boot loader's default and the microcode, as the schema says", async () => {
  const schema = await loadSchema();
  const pinned = JSON.parse(
    formatJson([], {
      scan: "libs",
      reboot: checkReboot({ root: `${ROOT}/testdata/root_grub_pinned` }),
    }),
  );
  assertEquals(validate(schema, pinned), []);
  assertEquals(pinned.verdict, "nothing");
  assertEquals(pinned.reboot.kernel.boots, {
    release: "6.1.0-9-amd64",
    build: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.27-1 (2023-05-08)",
    source: "grub",
    entry: "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-9-amd64",
    via: "saved_entry in boot/grub/grubenv",
    path: `${ROOT}/testdata/root_grub_pinned/boot/vmlinuz-6.1.0-9-amd64`,
  });
  const intel = JSON.parse(
    formatJson([], {
      scan: "libs",
      reboot: checkReboot({ root: `${ROOT}/testdata/root_ucode_intel` }),
    }),
  );
  assertEquals(validate(schema, intel), []);
  assertEquals(intel.reboot.kernel.boots, null);
  assertEquals(intel.reboot.reasons.map((r: { kind: string }) => r.kind), ["microcode"]);
  assertEquals(intel.reboot.microcode, {
    state: "newer",
    running: "0xf0",
    installed: "0xf4",
    source: "intel-ucode/06-8e-0a",
    reason: "CPU microcode 0xf0 is running, 0xf4 is installed (intel-ucode/06-8e-0a)",
  });
});
