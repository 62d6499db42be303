/**
 * Writes what the docs take from the option table and the exit codes: the man
 * page `docs/lib_users.8`, and the flag and exit-code references in
 * `docs/cli.md` between their markers. `deno task docs`; a test checks that
 * what is committed is what this writes.
 *
 * @module
 */

import config from "../deno.json" with { type: "json" };
import { configReference, exitCodeReference, manPage, optionReference } from "../cli/help.ts";

/** The generated parts of a Markdown page, by marker name. */
export const GENERATED: Readonly<Record<string, () => string>> = {
  flags: optionReference,
  "exit-codes": exitCodeReference,
  "config-keys": configReference,
};

/** The man page as it should be. */
export function expectedManPage(): string {
  return manPage(config.version);
}

/**
 * `page` with each `<!-- generated: NAME -->` … `<!-- end: NAME -->` block
 * filled anew.
 *
 * @throws {Error} when a block is opened and never closed
 */
export function fillGenerated(page: string): string {
  return page.replace(
    /(<!-- generated: ([a-z-]+) -->\n)([^]*?)(<!-- end: \2 -->)/g,
    (_whole, open: string, name: string, _old: string, close: string) => {
      const make = GENERATED[name];
      if (make === undefined) throw new Error(`Cannot fill "${name}": no such generated part`);
      return `${open}\n${make()}\n${close}`;
    },
  );
}

if (import.meta.main) {
  const docs = new URL("../docs/", import.meta.url);
  Deno.mkdirSync(docs, { recursive: true });
  Deno.writeTextFileSync(new URL("lib_users.8", docs), expectedManPage());
  const cli = new URL("cli.md", docs);
  try {
    Deno.writeTextFileSync(cli, fillGenerated(Deno.readTextFileSync(cli)));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  console.log("Wrote docs/lib_users.8 and the generated parts of docs/cli.md");
}
