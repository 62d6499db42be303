/**
 * Every text made from the option table and the exit codes: `--help`, the man
 * page, the completions and the docs' references name every option and code,
 * and what is committed is what the table makes.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { EXIT, EXIT_CODES, NAGIOS_EXIT_CODES } from "../../cli/exit.ts";
import { exitCodeReference, helpText, manPage, optionReference } from "../../cli/help.ts";
import { completionScript } from "../../cli/completions.ts";
import { longForms, OPTIONS } from "../../cli/options.ts";
import { NAGIOS_STATUS } from "../../lib/format/nagios_status.ts";
import { expectedManPage, fillGenerated } from "../../tools/write_docs.ts";
import { ROOT } from "../_helpers.ts";

/** Every way an option is typed: `-s`, `--showlibs`, `--no-default-ignores`. */
const EVERY_FORM = OPTIONS.flatMap((o) => [...(o.short ? [`-${o.short}`] : []), ...longForms(o)]);

Deno.test("--help, the man page and the docs' reference name every form of every option", () => {
  const texts = {
    help: helpText(),
    man: manPage("0").replaceAll("\\-", "-"),
    reference: optionReference(),
  };
  for (const [where, text] of Object.entries(texts)) {
    for (const form of EVERY_FORM) assertStringIncludes(text, form, `${form} in ${where}`);
  }
});

Deno.test("every exit code is in the table the texts are made from, and in each text", () => {
  const codes = EXIT_CODES.map((e) => e.code);
  assertEquals(new Set(codes), new Set(Object.values(EXIT)));
  assertEquals(
    new Set(NAGIOS_EXIT_CODES.map((e) => e.code)),
    new Set(Object.values(NAGIOS_STATUS)),
  );
  const help = helpText();
  const reference = exitCodeReference();
  for (const { code, meaning } of [...EXIT_CODES, ...NAGIOS_EXIT_CODES]) {
    assert(new RegExp(`\\n {6}${code} +${meaning.slice(0, 20)}`).test(help), `${code} in --help`);
    assertStringIncludes(reference, `| ${code} | ${meaning} |`);
  }
});

Deno.test("docs/lib_users.8 is what the table makes (deno task docs), and groff finds no fault", async (t) => {
  const committed = Deno.readTextFileSync(`${ROOT}/docs/lib_users.8`);
  assertEquals(committed, expectedManPage(), "run `deno task docs`");
  const groff = await which("groff");
  await t.step({
    name: "groff -man -ww -z",
    ignore: groff === undefined,
    fn: async () => {
      const checked = await new Deno.Command(groff!, {
        args: ["-man", "-ww", "-z", `${ROOT}/docs/lib_users.8`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(new TextDecoder().decode(checked.stderr), "");
      assertEquals(checked.code, 0);
    },
  });
  if (groff === undefined) console.log("groff is not installed: the man page was not linted");
});

Deno.test("the docs' generated parts are what the table makes (deno task docs)", async () => {
  let page: string;
  try {
    page = Deno.readTextFileSync(`${ROOT}/docs/cli.md`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new Error("docs/cli.md is missing");
    throw error;
  }
  assertStringIncludes(page, "<!-- generated: flags -->");
  assertStringIncludes(page, "<!-- generated: exit-codes -->");
  // The task formats the page as `deno fmt --check` wants it: so is the expected one.
  const fmt = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = fmt.stdin.getWriter();
  await writer.write(new TextEncoder().encode(fillGenerated(page)));
  await writer.close();
  const { stdout } = await fmt.output();
  assertEquals(page, new TextDecoder().decode(stdout), "run `deno task docs`");
});

Deno.test("bash: the completion script loads, and completes --for to --format and its values", async () => {
  const script = completionScript("bash");
  const complete = (words: string[]) =>
    bash(`${script}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}
_lib_users; printf '%s\\n' "\${COMPREPLY[@]}"; complete -p lib_users fd_users`);
  const prefix = await complete(["lib_users", "--for"]);
  assertEquals(prefix.split("\n").slice(0, 1), ["--format"]);
  assertStringIncludes(prefix, "complete -F _lib_users lib_users\ncomplete -F _lib_users fd_users");
  const value = await complete(["lib_users", "--format", "pro"]);
  assertEquals(value.split("\n")[0], "prometheus");
  // bash splits `--color=al` at "=" into three words.
  const joined = await complete(["lib_users", "--color", "=", "al"]);
  assertEquals(joined.split("\n")[0], "always");
  const switches = await complete(["fd_users", "--no-def"]);
  assertEquals(switches.split("\n")[0], "--no-default-ignores");
});

for (const shell of ["zsh", "fish"] as const) {
  const path = await which(shell);
  Deno.test({
    name: `${shell}: the completion script parses (${shell} -n)`,
    ignore: path === undefined,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "lib_users_" });
      try {
        const file = `${dir}/lib_users.${shell}`;
        await Deno.writeTextFile(file, completionScript(shell));
        const checked = await new Deno.Command(path!, {
          args: ["-n", file],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assertEquals(new TextDecoder().decode(checked.stderr), "");
        assertEquals(checked.code, 0);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
  if (path === undefined) console.log(`${shell} is not installed: its completion was not parsed`);
}

Deno.test("fish: every option is completed, values where they are few", () => {
  const script = completionScript("fish");
  for (const option of OPTIONS) {
    const name = option.negatable ? `no-${option.name}` : option.name;
    assertStringIncludes(
      script,
      `complete -c lib_users${option.short ? ` -s ${option.short}` : ""} -l ${name}`,
    );
  }
  assertStringIncludes(
    script,
    "-l format -x -a 'human machine json nagios prometheus needrestart'",
  );
});

async function bash(script: string): Promise<string> {
  const output = await new Deno.Command("bash", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(new TextDecoder().decode(output.stderr), "");
  return new TextDecoder().decode(output.stdout);
}

async function which(command: string): Promise<string | undefined> {
  for (const dir of ["/usr/bin", "/bin", "/usr/local/bin"]) {
    try {
      if ((await Deno.stat(`${dir}/${command}`)).isFile) return `${dir}/${command}`;
    } catch { /* not here */ }
  }
  return undefined;
}

/** Flags of other tools the docs name: Deno's, V8's, systemctl's, the bench's, ansible's. */
const OTHER_TOOLS_FLAGS = new Set([
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-ffi",
  "--allow-env",
  "--allow-sys",
  "--allow-net",
  "--allow-all",
  "--allow-dirty",
  "--v8-flags",
  "--single-threaded",
  "--no-opt",
  "--no-maglev",
  "--max-semi-space-size",
  "--no-code-cache",
  "--name",
  "--config",
  "--no-config",
  "--user",
  "--marked",
  "--runtime",
  "--lint",
  "--dry-run",
  "--thorough",
  "--scenarios",
  "--host",
  "--root",
  "--global",
  "--force",
  "--quiet",
  "--output",
  "--ext",
  "--filter",
  "--parallel",
  "--doc",
]);

Deno.test("every flag the README and the docs name is one of the table's (or another tool's)", () => {
  const known = new Set([...EVERY_FORM, ...OTHER_TOOLS_FLAGS]);
  const pages = [
    "README.md",
    ...[...Deno.readDirSync(`${ROOT}/docs`)]
      .filter((e) => e.name.endsWith(".md"))
      .map((e) => `docs/${e.name}`),
  ];
  for (const page of pages) {
    const text = Deno.readTextFileSync(`${ROOT}/${page}`);
    for (const [, flag] of text.matchAll(/(?:^|[^A-Za-z0-9-])(--[a-z][a-z0-9-]*)/g)) {
      assert(known.has(flag!), `${page} names ${flag}, which no option has`);
    }
  }
});

/** Exit codes the docs may name that are not the tool's: the shell's "command not found". */
const OTHER_EXIT_CODES = new Set([127]);

Deno.test("every exit code the README and the docs name is one of the table's", () => {
  const known = new Set([
    ...EXIT_CODES.map((e) => e.code),
    ...NAGIOS_EXIT_CODES.map((e) => e.code),
    ...OTHER_EXIT_CODES,
  ]);
  const pages = [
    "README.md",
    ...[...Deno.readDirSync(`${ROOT}/docs`)]
      .filter((e) => e.name.endsWith(".md"))
      .map((e) => `docs/${e.name}`),
  ];
  let named = 0;
  for (const page of pages) {
    const text = Deno.readTextFileSync(`${ROOT}/${page}`);
    for (const [, code] of text.matchAll(/\bexit(?:s|ed| code| status)? ([0-9]+)\b/g)) {
      assert(known.has(Number(code)), `${page} names exit ${code}, which no exit code is`);
      named++;
    }
  }
  assert(named > 0, "the docs name exit codes");
});
