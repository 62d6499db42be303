/**
 * `deno task compile`: runs `deno compile` with this script's arguments. When
 * the build fails because the `denort` runtime could not be downloaded (a host
 * with no network), Deno's chain of causes gives way to one line that says so
 * and what to do; any other output, and any other failure, passes through as
 * Deno wrote it.
 *
 * @module
 */

/**
 * The line that ends a `deno compile` whose `stderr` (without colours) shows
 * that `denort` could not be downloaded, or undefined for any other outcome.
 *
 * @param stderr What `deno compile` wrote on stderr, from its `error:` line on.
 * @param version The Deno version whose `denort` is needed.
 */
export function denortFailure(stderr: string, version: string): string | undefined {
  // Deno: "error: Writing deno compile executable …", "Caused by:", "0: Setting up base
  // binary.", "1: error sending request for url (URL): …", …, the innermost cause last.
  const block = /^Caused by:\n((?:\s*\d+: .*\n?)+)/m.exec(stderr)?.[1];
  const causes = block?.trimEnd().split("\n") ?? [];
  if (!/^\s*0: Setting up base binary\.$/.test(causes[0] ?? "")) return undefined;
  const url = /https?:\/\/[^\s)]*denort[^\s)]*/.exec(causes.join("\n"))?.[0] ?? "dl.deno.land";
  const cause = causes.at(-1)!.replace(/^\s*\d+: /, "");
  return `error: Cannot compile: the denort runtime could not be downloaded from ${url} ` +
    `(${cause}). Build where it can be downloaded, or set DENORT_BIN to a denort ${version} ` +
    "binary (the file inside that zip)";
}

if (import.meta.main) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["compile", ...Deno.args],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "piped",
    // Plain text, to be read; the progress lines are the same without colours.
    env: { NO_COLOR: "1" },
  }).spawn();
  const encoder = new TextEncoder();
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  // Lines pass through as they come, up to Deno's "error:" line; from there they are held.
  let pending = "";
  let held: string | undefined;
  for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    for (let end = pending.indexOf("\n"); end >= 0; end = pending.indexOf("\n")) {
      const line = pending.slice(0, end + 1);
      pending = pending.slice(end + 1);
      if (held === undefined && !line.startsWith("error:")) write(line);
      else held = (held ?? "") + line;
    }
  }
  held = (held ?? "") + pending;
  const { code } = await child.status;
  const line = code === 0 ? undefined : denortFailure(held, Deno.version.deno);
  write(line === undefined ? held : `${line}\n`);
  Deno.exit(code);
}
