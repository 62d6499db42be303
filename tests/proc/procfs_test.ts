import { assertEquals, assertThrows } from "@std/assert";
import {
  classifyReadError,
  parseRustDebugString,
  readLinkName,
  readWholeName,
  WholeReader,
} from "../../lib/proc/procfs.ts";
import { decodeName, encodeName } from "../../lib/proc/names.ts";
import { waitFor } from "../_helpers.ts";

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

Deno.test("WholeReader.read() reads a live command line whole, short or longer than its buffer", async (t) => {
  const reader = new WholeReader();
  for (const size of [10, 4095, 4096, 70_000]) {
    await t.step(`${size} bytes of arguments`, async () => {
      const long = "x".repeat(size);
      const child = new Deno.Command("/bin/sh", {
        args: ["-c", "read _", "sh", long, "é\xff"],
        stdin: "piped",
      }).spawn();
      try {
        // The kernel shows the argv once the shell runs: poll until it is the new one.
        const want = `/bin/sh\0-c\0read _\0sh\0${long}\0é\xff\0`;
        let text = "";
        await waitFor(() => {
          text = reader.read(`/proc/${child.pid}/cmdline`);
          return text === want;
        }, "the shell's new argv");
        assertEquals(text, want);
      } finally {
        await child.stdin.close();
        await child.status;
      }
    });
  }
  await t.step("a regular file read in several reads, and a short one after it", () => {
    const dir = Deno.makeTempDirSync();
    try {
      const text = "ab\n".repeat(6000);
      Deno.writeTextFileSync(`${dir}/f`, text);
      Deno.writeTextFileSync(`${dir}/g`, "short");
      assertEquals(reader.read(`${dir}/f`), text);
      assertEquals(reader.read(`${dir}/g`), "short");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
});
