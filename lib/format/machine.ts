/**
 * The machine format of the Python tools, `PIDS;FILE1,FILE2;CMDLINE`, made
 * unforgeable: one record per line, always three fields.
 *
 * @module
 */

import { escapeField, unescapeField } from "./escape.ts";
import { fileNames, type Group } from "../scan/group.ts";

/** Characters escaped in file names: each could add a field or a file. */
const FILE_SEPARATORS = ";,";
/** Characters escaped in the command line: the last field, so only `;` could add a field. */
const CMDLINE_SEPARATORS = ";";

/**
 * Formats groups as `PIDS;FILES;CMDLINE` lines, each ending in a newline.
 * Ordinary names print as the Python tools print them; in names, `\` becomes
 * `\\`, `;` `\x3b`, `,` `\x2c` (`,` stays as is in the command line), control
 * characters `\n` `\t` `\r` or `\xNN`, undecodable bytes `\xNN`.

 *
 * @param groups From {@linkcode groupByArgv}.
 * @returns The records.
 *
 * @example Separators in names are escaped
 * ```ts
 * import { formatMachine, parseMachine } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const group = {
 *   pids: [7, 12],
 *   argv: ["sh", "-c", "a; b"],
 *   cmdline: "sh -c a; b",
 *   files: [{ path: "/tmp/x,y", kind: "fd" as const }],
 * };
 * const text = formatMachine([group]);
 * assertEquals(text, "7,12;/tmp/x\\x2cy;sh -c a\\x3b b\n");
 * assertEquals(parseMachine(text), [{ pids: [7, 12], files: ["/tmp/x,y"], cmdline: "sh -c a; b" }]);
 * ```
 */
export function formatMachine(groups: readonly Group[]): string {
  let out = "";
  for (const group of groups) {
    const files = fileNames(group).map((name) => escapeField(name, FILE_SEPARATORS));
    out += `${group.pids.join(",")};${files.join(",")};${
      escapeField(group.cmdline, CMDLINE_SEPARATORS)
    }\n`;
  }
  return out;
}

/** One record of the machine format, unescaped. */
export interface MachineRecord {
  /** The process IDs. */
  readonly pids: readonly number[];
  /** The exact file names. */
  readonly files: readonly string[];
  /** The exact command line. */
  readonly cmdline: string;
}

/**
 * Parses the machine format back into exact names: the inverse of
 * {@linkcode formatMachine}, for scripts written in TypeScript. The records
 * end at the first blank line, after which `lib_users -m -S` and
 * `-m --restart-hints` print their sections.
 *
 * @throws {SyntaxError} on a line that is not a record

 *
 * @param text Output of {@linkcode formatMachine} (or of `lib_users -m`).
 * @returns One record per line.
 *
 * @example Back to the exact names
 * ```ts
 * import { parseMachine } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(parseMachine("1;/a\\nb;x\n")[0]?.files, ["/a\nb"]);
 * ```
 */
export function parseMachine(text: string): MachineRecord[] {
  const records: MachineRecord[] = [];
  for (const line of text.split("\n")) {
    // The records end at the first blank line: `-S` and `--restart-hints` sections follow one.
    if (line === "") break;
    const fields = line.split(";");
    if (fields.length !== 3 || !/^[0-9]+(,[0-9]+)*$/.test(fields[0]!)) {
      throw new SyntaxError(`Cannot parse "${line}": not a machine-format record`);
    }
    records.push({
      pids: fields[0]!.split(",").map(Number),
      files: fields[1] === "" ? [] : fields[1]!.split(",").map(unescapeField),
      cmdline: unescapeField(fields[2]!),
    });
  }
  return records;
}
