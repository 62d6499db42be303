import { assertEquals, assertThrows } from "@std/assert";
import {
  classifyReadError,
  parseRustDebugString,
  readCandidateLines,
  readLinkName,
  readWholeName,
} from "../lib/procfs.ts";
import { decodeName, encodeName } from "../lib/names.ts";

/** The candidate lines of a maps file, in the order they were handed over. */
function candidateLines(path: string): string[] {
  const lines: string[] = [];
  readCandidateLines(path, (line) => lines.push(line));
  return lines;
}

Deno.test("readCandidateLines() finds lines across chunk borders in a long maps file", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const filler = "7f0000000000-7f0000001000 r-xp 00000000 fd:01 1 /usr/lib/live.so\n";
    let text = "";
    const expected: string[] = [];
    for (let i = 0; i < 20000; i++) {
      if (i % 997 === 0) {
        const line = `7f0000000000-7f0000001000 r-xp 00000000 fd:01 1 /lib/gone${i}.so (deleted)`;
        text += line + "\n";
        expected.push(line);
      } else {
        text += filler;
      }
    }
    const last = "7f0000000000-7f0000001000 r-xp 00000000 fd:01 1 /lib/last.so (deleted)";
    text += last; // no final newline
    expected.push(last);
    Deno.writeTextFileSync(`${dir}/maps`, text);
    assertEquals(candidateLines(`${dir}/maps`), expected);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("readCandidateLines() handles a line longer than its buffer and an empty file", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const line = `1-2 r-xp 0 0:0 1 /${"x".repeat(200_000)} (deleted)`;
    Deno.writeTextFileSync(`${dir}/maps`, `${line}\n`);
    assertEquals(candidateLines(`${dir}/maps`), [line]);
    Deno.writeTextFileSync(`${dir}/empty`, "");
    assertEquals(candidateLines(`${dir}/empty`), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("readCandidateLines() hands over each file once, by device, inode and name", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const line = (range: string, name: string, inode = 7) =>
      `${range} r-xp 00000000 fd:01 ${inode}   ${name} (deleted)`;
    Deno.writeTextFileSync(
      `${dir}/maps`,
      [
        line("1-2", "/lib/a.so"),
        line("2-3", "/lib/a.so"),
        line("3-4", "/lib/b.so"),
        line("4-5", "/lib/a.so"),
        line("5-6", "/lib/a.sx"),
        // The same name on another inode (a live decoy named `a.sx (deleted)`): another file.
        line("6-7", "/lib/a.sx", 8),
      ].join("\n") + "\n",
    );
    // a.so again after b.so is the same file: not handed over again.
    assertEquals(candidateLines(`${dir}/maps`), [
      line("1-2", "/lib/a.so"),
      line("3-4", "/lib/b.so"),
      line("5-6", "/lib/a.sx"),
      line("6-7", "/lib/a.sx", 8),
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("parseRustDebugString() decodes Rust's OsStr debug notation exactly", () => {
  assertEquals(
    parseRustDebugString("/x/a\\\"b\\\\c\\n\\u{1b}[1m\\xFF\\xFE\\t\\u{1} \\u{301}\\' end"),
    decodeName(Uint8Array.from([
      ...new TextEncoder().encode('/x/a"b\\c\n\x1b[1m'),
      0xff,
      0xfe,
      ...new TextEncoder().encode("\t\x01 \u0301' end"),
    ])),
  );
  assertThrows(() => parseRustDebugString("\\q"), SyntaxError);
});

Deno.test("readLinkName() reads link targets that are not UTF-8, byte for byte", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    // Deno cannot create such a link itself: its paths are strings.
    const target = 'printf "/tmp/a\\033[1m\\377\\376\\\\ \\"q\\" (deleted)"';
    const made = await new Deno.Command("sh", {
      args: ["-c", `ln -s "$(${target})" "$1/link"`, "sh", dir],
    }).output();
    assertEquals(made.code, 0);
    const name = readLinkName(`${dir}/link`);
    assertEquals(
      encodeName(name),
      Uint8Array.from([
        ...new TextEncoder().encode("/tmp/a\x1b[1m"),
        0xff,
        0xfe,
        ...new TextEncoder().encode('\\ "q" (deleted)'),
      ]),
    );
    Deno.symlinkSync("/plain target", `${dir}/plain`);
    assertEquals(readLinkName(`${dir}/plain`), "/plain target");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("classifyReadError() tells exited, refused and Deno-refused apart", () => {
  assertEquals(classifyReadError(new Deno.errors.NotFound("x")), "gone");
  assertEquals(classifyReadError(Object.assign(new Error("x"), { code: "ESRCH" })), "gone");
  assertEquals(classifyReadError(new Deno.errors.PermissionDenied("x")), "unreadable");
  assertEquals(classifyReadError(new Error("EIO")), "unreadable");
  assertThrows(() => classifyReadError(new Deno.errors.NotCapable("x")), Deno.errors.NotCapable);
});

Deno.test("readWholeName() reads large files, keeps raw bytes, marks and U+FFFD, and reads an empty file", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const big = new Uint8Array(70_000).fill(0x61);
    big.set([0xff, 0x00, 0xfe], 66_000);
    Deno.writeFileSync(`${dir}/cmdline`, big);
    assertEquals(encodeName(readWholeName(`${dir}/cmdline`)), big);
    Deno.writeFileSync(`${dir}/empty`, new Uint8Array());
    assertEquals(readWholeName(`${dir}/empty`), "");
    // A shorter file after a longer one has no tail of it.
    Deno.writeTextFileSync(`${dir}/short`, "ab");
    assertEquals(readWholeName(`${dir}/short`), "ab");
    // A byte order mark stays; a real U+FFFD stays itself, apart from a raw byte beside it.
    const marks = Uint8Array.from([0xef, 0xbb, 0xbf, 0x61, 0x00, 0xef, 0xbf, 0xbd, 0xff]);
    Deno.writeFileSync(`${dir}/marks`, marks);
    assertEquals(readWholeName(`${dir}/marks`), "\ufeffa\0\ufffd\udcff");
    assertEquals(encodeName(readWholeName(`${dir}/marks`)), marks);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("readCandidateLines() starts clean after a read that failed part-way", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const gone = "1-2 r-xp 0 0:0 1 /lib/gone.so (deleted)";
    // A candidate, then a line longer than the buffer may grow: the read fails after the first.
    const file = Deno.openSync(`${dir}/broken`, { write: true, create: true });
    file.writeSync(new TextEncoder().encode(`${gone}\n`));
    const chunk = new Uint8Array(1 << 20).fill(0x61);
    for (let i = 0; i < 17; i++) file.writeSync(chunk);
    file.close();
    assertThrows(() => candidateLines(`${dir}/broken`), RangeError);
    const other = "1-2 r-xp 0 0:0 2 /lib/other.so (deleted)";
    Deno.writeTextFileSync(`${dir}/maps`, `${other}\n`);
    assertEquals(candidateLines(`${dir}/maps`), [other]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
