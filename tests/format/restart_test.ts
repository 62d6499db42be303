import { assert, assertEquals } from "@std/assert";
import { planRestarts } from "../../lib/answers/restart.ts";
import { formatRestartPlan, shellWord } from "../../lib/format/restart.ts";
import { escapeForTerminal } from "../../lib/format/escape.ts";
import { encodeName } from "../../lib/proc/names.ts";
import { runPlanLines, unitGroup as group } from "../_helpers.ts";

Deno.test("formatRestartPlan() quotes unit names a user could have made up", () => {
  const plan = planRestarts([
    group(5, "/user.slice/user-1000.slice/user@1000.service/app.slice/x;rm -rf ~\x1b[2J.service"),
  ]);
  assertEquals(
    formatRestartPlan(plan),
    "systemctl --user -M 1000@ restart -- $'x;rm -rf ~\\x1b[2J.service'\n",
  );
});

Deno.test("formatRestartPlan() is empty for an empty plan", () => {
  assertEquals(formatRestartPlan(planRestarts([])), "");
});

/** Unit, container and machine names a user could create, each one word that must arrive whole. */
const HOSTILE_UNITS = [
  "--host=attacker@evil.example.service",
  "$(reboot).service",
  "--machine=evil.service",
  "it's!here.service",
  "back\\slash\x1b[31m.service",
  "bidi\u202egnp.service",
  "raw\udcff.service", // the byte 0xff
];
const HOSTILE_LXC = "--force;id";
const HOSTILE_MACHINE = "--host=evil";

Deno.test({
  name:
    "formatRestartPlan() lines, run by bash with stand-in tools, pass every hostile name as one operand after --",
  ignore: !hasBash(),
  async fn() {
    const groups = [
      ...HOSTILE_UNITS.map((unit, i) => group(100 + i, `/system.slice/${unit}`)),
      ...HOSTILE_UNITS.map((unit, i) =>
        group(200 + i, `/user.slice/user-1000.slice/user@1000.service/app.slice/${unit}`)
      ),
      group(300, `/lxc.payload.${HOSTILE_LXC}`),
      group(301, `/machine.slice/machine-${HOSTILE_MACHINE.replaceAll("-", "\\x2d")}.scope`),
    ];
    const text = formatRestartPlan(planRestarts(groups));
    const operands: string[] = [];
    for (const argv of await runPlanLines(text)) {
      const end = argv.indexOf("--");
      assert(end > 0, `no -- in ${JSON.stringify(argv)}`);
      const options = argv.slice(1, end);
      for (const name of [...HOSTILE_UNITS, HOSTILE_LXC, HOSTILE_MACHINE]) {
        assertEquals(options.includes(name), false, `${name} among the options`);
      }
      operands.push(...argv.slice(end + 1));
    }
    assertEquals(
      operands.sort(),
      [...HOSTILE_UNITS, ...HOSTILE_UNITS, HOSTILE_LXC, HOSTILE_MACHINE].sort(),
    );
    // No raw control character reaches the terminal that shows the plan.
    assertEquals([...text].filter((ch) => /[\p{Cc}\p{Cf}]/u.test(ch) && ch !== "\n"), []);
  },
});

Deno.test({
  name: "shellWord() gives the exact name back through bash, and shows no raw control character",
  ignore: !hasBash(),
  async fn() {
    const words = [
      ...HOSTILE_UNITS,
      HOSTILE_LXC,
      "plain.service",
      "a b",
      "é.service",
      "\u{e0041}x",
    ];
    for (const word of words) {
      const quoted = shellWord(word);
      assertEquals(escapeForTerminal(quoted), quoted.replaceAll("\\", "\\\\"), quoted);
      const syntax = await new Deno.Command("bash", { args: ["-n", "-c", `echo ${quoted}`] })
        .output();
      assertEquals(syntax.code, 0, quoted);
      const printed = await new Deno.Command("bash", {
        args: ["-c", `printf %s ${quoted}`],
        env: { LC_ALL: "C" },
      }).output();
      assertEquals(printed.stdout, encodeName(word), quoted);
    }
  },
});

function hasBash(): boolean {
  try {
    return Deno.statSync("/bin/bash").isFile;
  } catch {
    return false;
  }
}
