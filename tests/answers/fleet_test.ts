import { assert, assertEquals } from "@std/assert";
import { type HostReport, mergeReports, readReport } from "../../lib/answers/fleet.ts";
import { formatFleetHuman, formatFleetJson, formatFleetMachine } from "../../lib/format/fleet.ts";

/** A report of `host` whose groups use these files (`package` null: none known). */
function report(
  host: string,
  groups: { pids: number[]; unit?: string; files: [string, string | null][] }[],
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    schema_version: 2,
    scan: "libs",
    host,
    scanned_at: "2026-12-06T10:00:00.000Z",
    unreadable: 0,
    finished: true,
    truncated: false,
    verdict: "restart",
    groups: groups.map((g) => ({
      pids: g.pids,
      unit: g.unit ?? null,
      files: g.files.map(([path, owner]) => ({
        path,
        kind: "library",
        verified: true,
        ...(owner === null ? {} : { package: { name: owner, version: "1.0", changed: null } }),
      })),
    })),
    ...extra,
  });
}

Deno.test("readReport() says what is wrong with a report it cannot use, never throws", () => {
  const why = (text: string) => {
    const read = readReport(text, "r.json");
    return "why" in read ? read.why : "used";
  };
  assertEquals(why("{"), `not JSON (${jsonError("{")})`);
  assertEquals(why("[]"), "not a lib_users report: not an object");
  assertEquals(why('{"schema_version": 3}'), "schema_version 3, and this lib_users reads 2");
  assertEquals(
    why('{"schema_version": 2, "groups": []}'),
    "it names no host (written before 0.17, or without --allow-sys)",
  );
  assertEquals(
    why('{"schema_version": 2, "host": "a", "groups": {}}'),
    "not a lib_users report: groups is not a list",
  );
  for (
    const group of [
      "1",
      '{"pids": [-1], "files": []}',
      '{"pids": ["1"], "files": []}',
      '{"pids": [1], "files": [{}]}',
      '{"pids": [1], "files": {}}',
      '{"pids": [1], "unit": 5, "files": []}',
    ]
  ) {
    const text = `{"schema_version": 2, "host": "a", "groups": [${group}]}`;
    assert(why(text).startsWith("not a lib_users report: groups[0]: "), `${group}: ${why(text)}`);
  }
  assertEquals(why(report("a", [])), "used");
});

function jsonError(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  return "";
}

Deno.test("mergeReports(): per package or file across hosts, per host; a second report of a host is said", () => {
  const read = (text: string, source: string) => readReport(text, source);
  const fleet = mergeReports([
    read(
      report("web1", [
        { pids: [10, 11], unit: "nginx.service", files: [["/usr/lib/libssl.so.3", "libssl3"]] },
        {
          pids: [12],
          unit: "cron.service",
          files: [["/usr/lib/libssl.so.3", "libssl3"], ["/opt/x.so", null]],
        },
      ]),
      "web1.json",
    ),
    read(
      report("web2", [{
        pids: [20],
        unit: "nginx.service",
        files: [["/usr/lib/libssl.so.3", "libssl3"]],
      }]),
      "web2.json",
    ),
    read(report("web2", [], { scanned_at: "2026-12-06T09:00:00.000Z" }), "web2-old.json"),
    read("nonsense", "bad.json"),
  ]);
  assertEquals(fleet.items, [
    {
      package: "libssl3 1.0",
      file: null,
      hosts: ["web1", "web2"],
      processes: 4,
      units: 3,
      oldestReplacedAt: null,
    },
    {
      package: null,
      file: "/opt/x.so",
      hosts: ["web1"],
      processes: 1,
      units: 1,
      oldestReplacedAt: null,
    },
  ]);
  assertEquals(fleet.hosts.map((h) => [h.host, h.processes, h.source]), [
    ["web1", 3, "web1.json"],
    ["web2", 1, "web2.json"],
  ]);
  assertEquals(fleet.problems.map((p) => p.source), ["web2-old.json", "bad.json"]);
  assert(fleet.problems[0]!.why.startsWith("a second report of host web2: web2.json is used"));

  const human = formatFleetHuman(fleet);
  assert(
    human.startsWith(
      "2 hosts; by package (or file):\n  libssl3 1.0: 2 of 2 hosts, 4 processes, 3 units: web1, web2\n",
    ),
    human,
  );
  assert(
    human.includes("  /opt/x.so (no package known): 1 of 2 hosts, 1 processes, 1 units: web1\n"),
    human,
  );
  assert(
    human.includes(
      "  web1: 3 stale processes, verdict restart, scanned 2026-12-06T10:00:00.000Z\n",
    ),
    human,
  );
  assertEquals(
    formatFleetMachine(fleet),
    "libssl3 1.0;;2;4;3;web1,web2;\n;/opt/x.so;1;1;1;web1;\n\nweb1;3;restart;0;complete\nweb2;1;restart;0;complete\n",
  );
  const json = JSON.parse(formatFleetJson(fleet));
  assertEquals(json.problems.length, 2);
  assertEquals(json.hosts[0].scanned_at, "2026-12-06T10:00:00.000Z");
});

Deno.test("mergeReports() gives each package the oldest replacement on any host; a bad time is none", () => {
  const dated = (host: string, times: unknown[]) =>
    readReport(
      JSON.stringify({
        schema_version: 2,
        scan: "libs",
        host,
        groups: times.map((time, i) => ({
          pids: [i + 1],
          unit: null,
          files: [{
            path: "/usr/lib/libssl.so.3",
            replaced_at: time,
            package: { name: "libssl3", version: "3.0.16" },
          }],
        })),
      }),
      `${host}.json`,
    );
  const fleet = mergeReports([
    dated("web1", ["2026-12-05T10:00:00.000Z", null]),
    // Offsets read as the instants they name; what is no time is none.
    dated("web2", [
      "2026-12-05T11:00:00+02:00",
      "yesterday",
      7,
      // What a hostile report might say to be the oldest, or to sort first as text.
      "+275760-09-13T00:00:00Z",
      "-000001-01-01T00:00:00Z",
      "1",
      "0001-01-01",
    ]),
    // After its own scan: no scan saw that.
    readReport(
      JSON.stringify({
        schema_version: 2,
        scan: "libs",
        host: "web3",
        scanned_at: "2026-12-06T10:00:00Z",
        groups: [{
          pids: [9],
          files: [{
            path: "/usr/lib/libssl.so.3",
            replaced_at: "2026-12-07T10:00:00Z",
            package: { name: "libssl3", version: "3.0.16" },
          }],
        }],
      }),
      "web3.json",
    ),
  ]);
  assertEquals(fleet.items.map((item) => [item.package, item.oldestReplacedAt]), [
    ["libssl3 3.0.16", "2026-12-05T09:00:00.000Z"],
  ]);
  assert(
    formatFleetHuman(fleet).includes(", replaced 2026-12-05T09:00:00.000Z: web1, web2, web3\n"),
  );
  assertEquals(
    formatFleetMachine(fleet).split("\n")[0],
    "libssl3 3.0.16;;3;10;0;web1,web2,web3;2026-12-05T09:00:00.000Z",
  );
  assertEquals(
    JSON.parse(formatFleetJson(fleet)).items[0].oldest_replaced_at,
    "2026-12-05T09:00:00.000Z",
  );
});

Deno.test("mergeReports(): a host whose scan saw only part says so; names cannot forge fields or lines", () => {
  const fleet = mergeReports([
    readReport(
      report("evil;host\n", [{ pids: [1], files: [["/x;y,z\n.so", null]] }], {
        unreadable: 3,
        limited: "not root",
        finished: false,
      }),
      "e.json",
    ) as HostReport,
  ]);
  const machine = formatFleetMachine(fleet);
  assertEquals(machine.split("\n").length, 4, machine);
  assert(!machine.includes("evil;host"), machine);
  const human = formatFleetHuman(fleet);
  assert(human.includes("(3 unreadable; limited: not root; unfinished)"), human);
  assert(!human.includes("host\n:"), human);
});

Deno.test("the fleet report keeps a hostile report's words inert: verdict, host, bidi controls", () => {
  const fleet = mergeReports([
    readReport(report("a\u202eb", [], { verdict: "\u001b[2J;x" }), "h.json") as HostReport,
  ]);
  const human = formatFleetHuman(fleet);
  assert(!human.includes("\u001b") && !human.includes("\u202e"), human);
  const host = formatFleetMachine(fleet).split("\n").filter(Boolean).at(-1)!;
  assertEquals(host.split(";").length, 5, host);
  const json = formatFleetJson(fleet);
  assert(!json.includes("\u202e") && JSON.parse(json).hosts[0].host === "a\u202eb", json);
});
