import { assertEquals, assertThrows } from "@std/assert";
import { escapeField, escapeForTerminal, unescapeField } from "../../lib/format/escape.ts";
import { decodeName } from "../../lib/proc/names.ts";
import { fuzz } from "../_helpers.ts";

Deno.test("escapeForTerminal() leaves ordinary names alone", () => {
  for (const name of ["/usr/lib/libc.so.6", '/opt/my app/x,y;z "q"', "ünï 😀"]) {
    assertEquals(escapeForTerminal(name), name);
  }
});

Deno.test("escapeForTerminal() escapes controls, backslash, bidi and raw bytes", async (t) => {
  const cases: [string, string][] = [
    ["a\nb", "a\\nb"],
    ["a\tb\rc", "a\\tb\\rc"],
    ["\x1b[31mred", "\\x1b[31mred"],
    ["back\\slash", "back\\\\slash"],
    ["\x00\x07\x7f", "\\x00\\x07\\x7f"],
    ["c1\u009bcsi", "c1\\u009bcsi"],
    ["rtl\u202eevil", "rtl\\u202eevil"],
    ["sep\u2028x", "sep\\u2028x"],
    ["alm\u061cbidi", "alm\\u061cbidi"], // a bidirectional control outside the U+2000 block
    ["ssh\u200bd", "ssh\\u200bd"], // zero width space: looks like "sshd"
    ["\ufeff/usr/bin/x", "\\ufeff/usr/bin/x"], // byte order mark
    ["soft\u00adhyphen", "soft\\u00adhyphen"],
    ["tag\u{e0041}", "tag\\udb40\\udc41"], // an invisible tag character, beyond U+FFFF
    [decodeName(Uint8Array.from([0x78, 0xff, 0xfe])), "x\\xff\\xfe"],
  ];
  for (const [input, expected] of cases) {
    await t.step(JSON.stringify(input), () => {
      assertEquals(escapeForTerminal(input), expected);
      assertEquals(unescapeField(expected), input);
    });
  }
});

Deno.test("escapeField() also escapes the separators", () => {
  assertEquals(escapeField("a,b;c\\d", ",;"), "a\\x2cb\\x3bc\\\\d");
  assertEquals(escapeField("a,b", ";"), "a,b");
  assertEquals(unescapeField("a\\x2cb\\x3bc\\\\d"), "a,b;c\\d");
});

Deno.test("unescapeField() inverts escapeField() on random strings", () =>
  fuzz("escapeField round trip", (random) => {
    const alphabet = [
      "a",
      ",",
      ";",
      "\\",
      "\n",
      "\x1b",
      "x",
      "\u009b",
      "é",
      "😀",
      "\udcff",
      "\ud800",
      "\u200b",
      "\u{e0041}",
    ];
    for (let round = 0; round < 300; round++) {
      let text = "";
      for (let i = 0; i < round % 25; i++) {
        text += alphabet[random.below(alphabet.length)];
      }
      const escaped = escapeField(text, ",;");
      for (const forbidden of [",", ";", "\n", "\x1b", "\u200b", "\u{e0041}"]) {
        assertEquals(escaped.includes(forbidden), false);
      }
      assertEquals(unescapeField(escaped), text);
    }
  }));

Deno.test("unescapeField() rejects malformed escapes", () => {
  assertThrows(() => unescapeField("a\\q"), SyntaxError);
  assertThrows(() => unescapeField("a\\x4"), SyntaxError);
  assertThrows(() => unescapeField("a\\"), SyntaxError);
});
