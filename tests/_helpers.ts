/** Shared helpers for the tests (not part of the library). */

import { fromFileUrl } from "@std/path/from-file-url";

/** The repository root. */
export const ROOT: string = fromFileUrl(new URL("..", import.meta.url));
/** The fixture proc tree described in testdata/README.md. */
export const FIXTURE_PROC = `${ROOT}/testdata/proc`;

/** What a finished CLI run printed. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run <permissions> main.ts <args>` and collects its output. */
export async function runCli(
  permissions: readonly string[],
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<CliRun> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...permissions, `${ROOT}/main.ts`, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
