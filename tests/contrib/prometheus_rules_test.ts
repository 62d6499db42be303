/**
 * The alerting rules in `contrib/prometheus/`, judged by the real promtool
 * (Debian package prometheus): they load, their unit tests pass, and those
 * tests fail when a rule's threshold or one expectation is changed, so they
 * really judge the rules. Without promtool the tests that run it are ignored,
 * and say why. Nothing is written but copies in a temporary directory.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { longForms, OPTIONS } from "../../cli/options.ts";
import { type CliRun, decodeRun, findTool, ROOT } from "../_helpers.ts";
import { formatPrometheus } from "../../lib/format/prometheus.ts";
import { checkReboot } from "../../lib/answers/reboot.ts";

const DIR = `${ROOT}/contrib/prometheus`;
const RULES = "lib_users.rules.yml";
/** The unit tests: the stories of hours, and the week of LibUsersRebootRequired. */
const UNIT_TESTS = ["lib_users.rules.test.yml", "lib_users.rules.reboot.test.yml"] as const;
const ALERTS = [
  "LibUsersStaleAfterUpdate",
  "LibUsersRebootRequired",
  "LibUsersScanFailing",
  "LibUsersScanOverdue",
  "LibUsersMetricsGone",
];

const PROMTOOL = findTool("promtool");
if (PROMTOOL === undefined) {
  console.warn(
    "prometheus_rules_test: promtool cases ignored: no promtool (Debian package prometheus)",
  );
}
/** Reading the files and running promtool, and nothing else: these tests write nothing. */
const READ_AND_RUN: Deno.TestDefinition["permissions"] = {
  read: [DIR],
  run: [PROMTOOL ?? "promtool"],
};

async function promtool(args: readonly string[], cwd: string): Promise<CliRun> {
  return decodeRun(
    await new Deno.Command(PROMTOOL!, {
      args: [...args],
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output(),
  );
}

/** Each rule of the rules file, as its text from `- alert:` to the next. */
function ruleTexts(): Map<string, string> {
  const text = Deno.readTextFileSync(`${DIR}/${RULES}`);
  const rules = new Map<string, string>();
  for (const chunk of text.split(/^ {6}- alert: /m).slice(1)) {
    rules.set(chunk.slice(0, chunk.indexOf("\n")), chunk);
  }
  return rules;
}

Deno.test({
  name: "contrib/prometheus: promtool check rules finds the five alerts and no fault",
  ignore: PROMTOOL === undefined,
  permissions: READ_AND_RUN,
  fn: async () => {
    const checked = await promtool(["check", "rules", RULES], DIR);
    assertEquals(checked, {
      code: 0,
      stdout: `Checking ${RULES}\n  SUCCESS: ${ALERTS.length} rules found\n\n`,
      stderr: "",
    });
  },
});

Deno.test({
  name: "contrib/prometheus: promtool test rules passes every unit test",
  ignore: PROMTOOL === undefined,
  permissions: READ_AND_RUN,
  fn: async () => {
    const tested = await promtool(["test", "rules", ...UNIT_TESTS], DIR);
    const output = tested.stdout + tested.stderr;
    assertEquals(tested.code, 0, output);
    for (const file of UNIT_TESTS) {
      assertStringIncludes(output, `Unit Testing:  ${file}\n  SUCCESS\n`);
    }
    assert(!output.includes("FAILED"), output);
  },
});

Deno.test({
  name: "contrib/prometheus: every alert has a severity, names the host and says what to run there",
  permissions: { read: [DIR] },
  fn: () => {
    const rules = ruleTexts();
    assertEquals([...rules.keys()], ALERTS);
    const flags = new Set(
      OPTIONS.flatMap((o) => [...(o.short ? [`-${o.short}`] : []), ...longForms(o)]),
    );
    for (const [alert, text] of rules) {
      assert(/^ {10}severity: (warning|critical)$/m.test(text), `${alert}: no severity label`);
      const annotations: Record<string, string> = {};
      for (const name of ["summary", "description"]) {
        // The value: the rest of its line, and the lines indented under it (a block scalar).
        const value = new RegExp(`^ {10}${name}: (.*(?:\n {12}.*)*)`, "m").exec(text)?.[1];
        if (value === undefined) throw new Error(`${alert}: no ${name} annotation`);
        assertStringIncludes(value, "{{ $labels.instance }}", `${alert}'s ${name}`);
        annotations[name] = value;
      }
      const description = annotations.description!;
      const commands = [
        ...description.matchAll(/`((?:lib_users|journalctl|systemctl|ls) [^`]*)`/g),
      ];
      assert(commands.length > 0, `${alert}: its description names no command to run`);
      for (const [, command] of commands) {
        if (!command!.startsWith("lib_users ")) continue;
        for (const word of command!.split(" ").slice(1)) {
          assert(flags.has(word), `${alert} names "${command}": lib_users has no ${word}`);
        }
      }
    }
  },
});

Deno.test({
  name: "contrib/prometheus: each alert has a unit test where it fires and one where it does not",
  permissions: { read: [DIR] },
  fn: () => {
    const fires = new Set<string>();
    const quiet = new Set<string>();
    for (const file of UNIT_TESTS) {
      const text = Deno.readTextFileSync(`${DIR}/${file}`);
      for (const entry of text.split(/^ {6}- eval_time: /m).slice(1)) {
        const alert = /^ {8}alertname: (\w+)$/m.exec(entry)?.[1];
        if (alert === undefined) {
          throw new Error(`${file}: an alert_rule_test without an alertname`);
        }
        (/^ {8}exp_alerts: \[\]$/m.test(entry) ? quiet : fires).add(alert);
      }
    }
    assertEquals([...ALERTS].filter((a) => !fires.has(a)), [], "alerts never seen firing");
    assertEquals([...ALERTS].filter((a) => !quiet.has(a)), [], "alerts never seen quiet");
  },
});

/** One change to the rules or to a unit test that the unit tests must catch. */
interface Mutation {
  /** What the change breaks. */
  readonly name: string;
  /** The file changed. */
  readonly file: typeof RULES | typeof UNIT_TESTS[number];
  readonly from: string;
  readonly to: string;
  /** The unit test file that must fail, and the alert whose expectation it fails. */
  readonly caughtBy: typeof UNIT_TESTS[number];
  readonly alert: string;
}

const MUTATIONS: readonly Mutation[] = [
  {
    name: "replaced files alert after 48 hours instead of 24",
    file: RULES,
    from: 'state="replaced"} > 24 * 3600',
    to: 'state="replaced"} > 48 * 3600',
    caughtBy: "lib_users.rules.test.yml",
    alert: "LibUsersStaleAfterUpdate",
  },
  {
    name: "deleted temporary files count as replaced ones",
    file: RULES,
    from: 'state="replaced"} > 24 * 3600',
    to: 'state=~"replaced|deleted"} > 24 * 3600',
    caughtBy: "lib_users.rules.test.yml",
    alert: "LibUsersStaleAfterUpdate",
  },
  {
    name: "a reboot is owed after 6 days instead of 7",
    file: RULES,
    from: "for: 7d",
    to: "for: 6d",
    caughtBy: "lib_users.rules.reboot.test.yml",
    alert: "LibUsersRebootRequired",
  },
  {
    name: "a new reason starts the week again",
    file: RULES,
    from: "max without (reason) (lib_users_reboot_required) == 1",
    to: "max by (instance, job, reason) (lib_users_reboot_required) == 1",
    caughtBy: "lib_users.rules.reboot.test.yml",
    alert: "LibUsersRebootRequired",
  },
  {
    name: "a failing scan alerts after 10 minutes instead of 30",
    file: RULES,
    from: "for: 30m",
    to: "for: 10m",
    caughtBy: "lib_users.rules.test.yml",
    alert: "LibUsersScanFailing",
  },
  {
    name: "a stale textfile alerts after 2 hours instead of 1",
    file: RULES,
    from: "lib_users_last_scan_timestamp_seconds > 3600",
    to: "lib_users_last_scan_timestamp_seconds > 7200",
    caughtBy: "lib_users.rules.test.yml",
    alert: "LibUsersScanOverdue",
  },
  {
    name: "metrics gone with node_exporter itself alert too",
    file: RULES,
    from: "and on (instance, job) (up == 1)",
    to: "",
    caughtBy: "lib_users.rules.test.yml",
    alert: "LibUsersMetricsGone",
  },
  {
    name: "a unit test expects no alert where a fresh replacement is a day old",
    file: "lib_users.rules.test.yml",
    from: "      - eval_time: 23h\n",
    to: "      - eval_time: 25h\n",
    caughtBy: "lib_users.rules.test.yml",
    alert: "LibUsersStaleAfterUpdate",
  },
];

Deno.test({
  name: "contrib/prometheus: promtool test rules fails when a threshold or an expectation changes",
  ignore: PROMTOOL === undefined,
  fn: async (t) => {
    const tmp = await Deno.makeTempDir({ prefix: "lib_users_rules_" });
    try {
      // Each change in a directory of its own, all run at once.
      const runs = MUTATIONS.map(async (mutation, index) => {
        const dir = `${tmp}/${index}`;
        await Deno.mkdir(dir);
        for (const file of [RULES, ...UNIT_TESTS]) {
          const text = await Deno.readTextFile(`${DIR}/${file}`);
          const changed = file === mutation.file ? text.replace(mutation.from, mutation.to) : text;
          if (file === mutation.file) {
            assert(changed !== text, `${mutation.name}: "${mutation.from}" is not in ${file}`);
          }
          await Deno.writeTextFile(`${dir}/${file}`, changed);
        }
        return promtool(["test", "rules", mutation.caughtBy], dir);
      });
      const results = await Promise.all(runs);
      for (const [index, mutation] of MUTATIONS.entries()) {
        await t.step(mutation.name, () => {
          const run = results[index]!;
          const output = run.stdout + run.stderr;
          assertEquals(run.code, 1, output);
          assert(output.startsWith(`Unit Testing:  ${mutation.caughtBy}\n`), output);
          assert(/^ {2}FAILED:$/m.test(output), output);
          assertStringIncludes(output, `alertname: ${mutation.alert}, time: `);
        });
      }
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("every lib_users metric and label value the rules ask for is one the Prometheus format writes", () => {
  const rules = Deno.readTextFileSync(`${DIR}/${RULES}`);
  // Metric names; the textfiles, lib_users_fds.prom, are no metric.
  const asked = new Set(rules.match(/\blib_users_[a-z_]+\b(?!\.)/g) ?? []);
  const now = Date.now();
  const text = formatPrometheus([{
    pids: [1],
    argv: ["x"],
    cmdline: "x",
    files: [{ path: "/usr/lib/a.so", kind: "library", state: "replaced", replacedAt: now }],
  }], {
    scan: "libs",
    scannedAt: new Date(now),
    reboot: checkReboot({ root: `${ROOT}/testdata/root_grub_pinned` }),
    version: "0",
  });
  const written = new Set([...text.matchAll(/^(lib_users_[a-z_]+)[{ ]/gm)].map((m) => m[1]!));
  // The rules ask for reboot_required, which the check writes only where the answer is known.
  written.add("lib_users_reboot_required");
  assert(asked.size >= 5, [...asked].join(" "));
  for (const name of asked) assert(written.has(name), `${name} is asked for, never written`);
  // The series the first rule selects, with its labels as written.
  assertStringIncludes(text, 'lib_users_stale_since_seconds{scan="libs",state="replaced"} ');
  assertStringIncludes(text, 'lib_users_stale_processes_by_state{scan="libs",state="replaced"} 1');
});
