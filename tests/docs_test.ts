/**
 * The README and the pages in `docs/`: the README stays a newcomer's page,
 * every relative link leads somewhere, every page is reachable from the
 * README, code spans are whole, and the layout tree in `docs/development.md`
 * matches the files.
 */

import { assert, assertEquals } from "@std/assert";
import { ROOT } from "./_helpers.ts";

/** The README's budget (issue #27): the rest belongs in `docs/`. */
const README_MAX_LINES = 200;

/**
 * Pages the README links to that another branch writes: a link to one is not
 * an error while it is missing. Once it exists it is checked like any other.
 */
const PENDING_PAGES: readonly string[] = [];

/** Where the layout tree sits in `docs/development.md`. */
const LAYOUT_PAGE = "docs/development.md";
const LAYOUT_START = "<!-- layout: checked by tests/docs_test.ts -->";
const LAYOUT_END = "<!-- end: layout -->";

const PERMISSIONS: Deno.TestDefinition["permissions"] = { read: [ROOT] };

function read(path: string): string {
  return Deno.readTextFileSync(`${ROOT}/${path}`);
}

function exists(path: string): "file" | "dir" | undefined {
  try {
    const info = Deno.statSync(`${ROOT}/${path}`);
    return info.isDirectory ? "dir" : "file";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** The pages in `docs/` (relative paths), sorted. */
function docsPages(): string[] {
  return [...Deno.readDirSync(`${ROOT}/docs`)]
    .filter((entry) => entry.isFile && entry.name.endsWith(".md"))
    .map((entry) => `docs/${entry.name}`)
    .sort();
}

/** Pages a reader is meant to find: notes in `_`-prefixed files are not. */
function isPublicPage(path: string): boolean {
  return !path.slice(path.lastIndexOf("/") + 1).startsWith("_");
}

/** The lines of a Markdown text outside fenced code blocks, with their numbers. */
function proseLines(text: string): { line: string; number: number }[] {
  const lines: { line: string; number: number }[] = [];
  let fence: string | undefined;
  text.split("\n").forEach((line, index) => {
    const marker = line.match(/^\s*(`{3,}|~{3,})/)?.[1];
    if (fence === undefined && marker !== undefined) {
      fence = marker;
    } else if (fence !== undefined) {
      if (marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length) {
        fence = undefined;
      }
    } else {
      lines.push({ line, number: index + 1 });
    }
  });
  return lines;
}

/** GitHub's anchors for the headings of a Markdown text. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const { line } of proseLines(text)) {
    const heading = line.match(/^#{1,6}\s+(.*?)\s*#*\s*$/)?.[1];
    if (heading === undefined) continue;
    const slug = heading.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    result.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return result;
}

/** The targets of the inline links of a Markdown text, outside code, with their line numbers. */
function links(text: string): { target: string; number: number }[] {
  const result: { target: string; number: number }[] = [];
  for (const { line, number } of proseLines(text)) {
    const prose = line.replace(/`[^`]*`/g, "");
    for (const match of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      result.push({ target: match[1]!, number });
    }
  }
  return result;
}

/** Joins a relative link target to the directory of the page it is on. */
function resolve(page: string, target: string): string {
  const parts = page.split("/").slice(0, -1);
  for (const part of target.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== "." && part !== "") parts.push(part);
  }
  return parts.join("/");
}

Deno.test("README.md has at most 200 lines", { permissions: PERMISSIONS }, () => {
  const lines = read("README.md").split("\n");
  if (lines.at(-1) === "") lines.pop();
  assert(
    lines.length <= README_MAX_LINES,
    `README.md has ${lines.length} lines, more than ${README_MAX_LINES}: move detail to a page in docs/`,
  );
});

Deno.test(
  "every relative link in README.md and docs/ leads to a file, and a heading, that exist",
  { permissions: PERMISSIONS },
  () => {
    const broken: string[] = [];
    for (const page of ["README.md", ...docsPages()]) {
      for (const { target, number } of links(read(page))) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        const [path = "", anchor] = target.split("#", 2);
        const file = path === "" ? page : resolve(page, path);
        const where = `${page}:${number}: "${target}"`;
        const kind = exists(file);
        if (kind === undefined) {
          if (!PENDING_PAGES.includes(file)) broken.push(`${where}: there is no ${file}`);
          continue;
        }
        if (anchor === undefined) continue;
        if (kind !== "file" || !file.endsWith(".md")) {
          broken.push(`${where}: ${file} is no Markdown page to hold #${anchor}`);
        } else if (!anchors(read(file)).has(anchor)) {
          broken.push(`${where}: ${file} has no heading with the anchor #${anchor}`);
        }
      }
    }
    assertEquals(broken, []);
  },
);

Deno.test("README.md links to every page in docs/", { permissions: PERMISSIONS }, () => {
  const linked = new Set(links(read("README.md")).map(({ target }) => target.split("#")[0]));
  const missing = docsPages().filter(isPublicPage).filter((page) => !linked.has(page));
  assertEquals(missing, [], `README.md does not link to ${missing.join(", ")}`);
});

Deno.test(
  "each page in docs/ says what it covers and links back to the README",
  { permissions: PERMISSIONS },
  () => {
    const wrong: string[] = [];
    for (const page of docsPages()) {
      const lines = read(page).split("\n");
      if (!lines[0]?.startsWith("# ")) wrong.push(`${page}: does not start with a "# " title`);
      const opening = lines.slice(1).join("\n").trim().split("\n\n")[0] ?? "";
      if (!opening.includes("](../README.md")) {
        wrong.push(`${page}: its first paragraph does not link to ../README.md`);
      }
    }
    assertEquals(wrong, []);
  },
);

Deno.test(
  "code spans in README.md and docs/ open and close on one line",
  { permissions: PERMISSIONS },
  () => {
    const broken: string[] = [];
    for (const page of ["README.md", ...docsPages()]) {
      for (const { line, number } of proseLines(read(page))) {
        if ((line.match(/`/g)?.length ?? 0) % 2 !== 0) {
          broken.push(`${page}:${number}: a code span is cut by the line's end: ${line}`);
        }
      }
    }
    assertEquals(broken, []);
  },
);

/** One entry of the layout tree: a path from the project root, and what it is. */
interface LayoutEntry {
  readonly path: string;
  readonly line: number;
}

/**
 * Reads the layout tree: each line is `PATH  WHAT IT IS` (at least two
 * spaces between). A path ending in `/` is a folder, written from the project
 * root; a line indented by two spaces names an entry (file or folder) of the
 * last unindented folder above it.
 */
function parseLayout(text: string): { entries: LayoutEntry[]; errors: string[] } {
  const entries: LayoutEntry[] = [];
  const errors: string[] = [];
  const start = text.indexOf(LAYOUT_START);
  const end = text.indexOf(LAYOUT_END);
  if (start < 0 || end < start) {
    return { entries, errors: [`${LAYOUT_PAGE} has no "${LAYOUT_START}" … "${LAYOUT_END}"`] };
  }
  const firstLine = text.slice(0, start).split("\n").length;
  const block = text.slice(start, end).split("\n");
  const fences = block.flatMap((line, index) => line.startsWith("```") ? [index] : []);
  if (fences.length !== 2) {
    return { entries, errors: [`${LAYOUT_PAGE}: the layout tree is not one fenced block`] };
  }
  let folder: string | undefined;
  for (let index = fences[0]! + 1; index < fences[1]!; index++) {
    const line = block[index]!;
    const number = firstLine + index;
    if (line.trim() === "") continue;
    const match = line.match(/^( {2})?(\S+) {2,}\S/);
    if (match === null) {
      errors.push(`${LAYOUT_PAGE}:${number}: not "PATH  WHAT IT IS" (or indented by two): ${line}`);
      continue;
    }
    const [, indent, name] = match as unknown as [string, string | undefined, string];
    if (indent === undefined) {
      entries.push({ path: name, line: number });
      folder = name.endsWith("/") ? name : undefined;
    } else if (folder === undefined) {
      errors.push(
        `${LAYOUT_PAGE}:${number}: "${name}" is indented, but no folder line is above it`,
      );
    } else {
      entries.push({ path: folder + name, line: number });
    }
  }
  return { entries, errors };
}

/** The TypeScript files the layout tree must list: all of lib/ and cli/, main.ts and mod.ts. */
function modules(): string[] {
  const found = ["main.ts", "mod.ts"];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(`${ROOT}/${dir}`)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (entry.isFile && entry.name.endsWith(".ts")) found.push(path);
    }
  };
  walk("lib");
  walk("cli");
  return found.sort();
}

Deno.test(
  "the layout tree in docs/development.md lists every module, and only paths that exist",
  { permissions: PERMISSIONS },
  () => {
    const { entries, errors } = parseLayout(read(LAYOUT_PAGE));
    const problems = [...errors];
    const listed = new Set<string>();
    for (const { path, line } of entries) {
      const folder = path.endsWith("/");
      const name = folder ? path.slice(0, -1) : path;
      if (listed.has(name)) problems.push(`${LAYOUT_PAGE}:${line}: ${path} is listed twice`);
      listed.add(name);
      const kind = exists(name);
      if (kind === undefined) {
        problems.push(
          `${LAYOUT_PAGE}:${line}: ${path} is listed, but does not exist: remove its line`,
        );
      } else if (kind !== (folder ? "dir" : "file")) {
        problems.push(
          `${LAYOUT_PAGE}:${line}: ${path} is listed as a ${
            folder ? "folder" : "file"
          }, but is none`,
        );
      }
    }
    for (const module of modules()) {
      if (listed.has(module)) continue;
      const slash = module.lastIndexOf("/");
      const where = slash < 0
        ? "as an unindented line"
        : `indented under ${module.slice(0, slash + 1)}`;
      problems.push(
        `${module} is missing from the layout tree in ${LAYOUT_PAGE}: add a line for it ${where}`,
      );
    }
    assertEquals(problems, []);
  },
);
