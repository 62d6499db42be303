import { assertEquals } from "@std/assert";
import { narrowFindings } from "../../lib/scan/narrow.ts";
import type { DeletedFile, ProcessFinding } from "../../lib/scan/model.ts";

const NOW = Date.parse("2026-12-06T12:00:00Z");
const HOUR = 3_600_000;

function process(pid: number, files: DeletedFile[], notListed?: number): ProcessFinding {
  return { pid, argv: ["p"], cmdline: "p", files, ...(notListed ? { notListed } : {}) };
}

const old: DeletedFile = {
  path: "/usr/lib/libssl.so.3",
  kind: "library",
  state: "replaced",
  replacedAt: NOW - 3 * HOUR,
};
const young: DeletedFile = {
  path: "/usr/lib/libz.so.1",
  kind: "library",
  state: "replaced",
  replacedAt: NOW - HOUR / 2,
};
const temporary: DeletedFile = {
  path: "/tmp/jna1.tmp",
  kind: "library",
  state: "deleted",
  replacedAt: NOW - 5 * HOUR,
};
const unknown: DeletedFile = { path: "/opt/x.so", kind: "library" };

Deno.test("narrowFindings() leaves out files replaced less than --min-age ago; unknown times stay", () => {
  // Dated after the scan (a clock set back): no age it could outgrow, so it stays.
  const future: DeletedFile = { ...old, path: "/usr/lib/libfuture.so", replacedAt: NOW + 2 * HOUR };
  const { processes, leftOut } = narrowFindings(
    [process(1, [old, young]), process(2, [young]), process(3, [unknown, temporary, future])],
    { minAgeMs: HOUR, now: NOW },
  );
  assertEquals(processes.map((p) => [p.pid, p.files.map((f) => f.path)]), [
    [1, [old.path]],
    [3, [unknown.path, temporary.path, future.path]],
  ]);
  // Distinct names: libz.so.1 of two processes is one file.
  assertEquals(leftOut, { young: 1, deleted: 0, processes: 1 });
});

Deno.test("narrowFindings() with --replaced-only leaves out deleted files, keeps unknown ones", () => {
  const { processes, leftOut } = narrowFindings(
    [process(1, [temporary]), process(2, [unknown, temporary]), process(3, [old])],
    { replacedOnly: true, now: NOW },
  );
  assertEquals(processes.map((p) => [p.pid, p.files.map((f) => f.path)]), [
    [2, [unknown.path]],
    [3, [old.path]],
  ]);
  assertEquals(leftOut, { young: 0, deleted: 1, processes: 1 });
});

Deno.test("narrowFindings() keeps a process with files past the budget; with nothing asked, all", () => {
  const both = narrowFindings([process(1, [young], 4)], {
    minAgeMs: HOUR,
    replacedOnly: true,
    now: NOW,
  });
  assertEquals(both.processes.map((p) => [p.pid, p.files, p.notListed]), [[1, [], 4]]);
  assertEquals(both.leftOut, { young: 1, deleted: 0, processes: 0 });
  const all = [process(1, [young, temporary])];
  const none = narrowFindings(all, { now: NOW });
  assertEquals(none.processes, all);
  assertEquals(none.leftOut, { young: 0, deleted: 0, processes: 0 });
});
