import { assert, assertEquals, assertFalse } from "@std/assert";
import { decodeName, encodeName, escapedByte, hasRawBytes } from "../../lib/proc/names.ts";
import { fuzz } from "../_helpers.ts";

Deno.test("decodeName() decodes valid UTF-8 as usual", () => {
  const bytes = new TextEncoder().encode("/usr/lib/ünïcode 😀.so");
  assertEquals(decodeName(bytes), "/usr/lib/ünïcode 😀.so");
  assertFalse(hasRawBytes(decodeName(bytes)));
});

Deno.test("decodeName() keeps every invalid byte, never U+FFFD", () => {
  const bytes = Uint8Array.from([0x2f, 0x61, 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0xc3, 0xa9]);
  const name = decodeName(bytes);
  assertFalse(name.includes("\ufffd"));
  assert(hasRawBytes(name));
  assertEquals(escapedByte(name.charCodeAt(2)), 0xff);
  assertEquals(name.slice(-1), "é");
  assertEquals(encodeName(name), bytes);
});

Deno.test("encodeName() inverts decodeName() on random bytes", () =>
  fuzz("names round trip", (random) => {
    for (let round = 0; round < 5000; round++) {
      const bytes = random.bytes(round % 40);
      assertEquals(encodeName(decodeName(bytes)), bytes);
    }
  }));

Deno.test("decodeName() gives different strings for different bytes", () => {
  const a = decodeName(Uint8Array.from([0xff]));
  const b = decodeName(new TextEncoder().encode("\ufffd"));
  assert(a !== b);
});

Deno.test("decodeName() keeps a real U+FFFD, alone and next to a raw byte", () => {
  assertEquals(decodeName(Uint8Array.from([0x41, 0xef, 0xbf, 0xbd])), "A\ufffd");
  const mixed = Uint8Array.from([0xef, 0xbf, 0xbd, 0xff, 0x41]);
  assertEquals(decodeName(mixed), "\ufffd\udcffA");
  assertEquals(encodeName(decodeName(mixed)), mixed);
});

Deno.test("decodeName() keeps a byte order mark, leading or after a raw byte", () => {
  const bom = [0xef, 0xbb, 0xbf];
  for (const bytes of [[...bom, 0x61], [0xff, ...bom], bom].map((b) => Uint8Array.from(b))) {
    assertEquals(encodeName(decodeName(bytes)), bytes);
  }
  assertEquals(decodeName(Uint8Array.from([...bom, 0x61])), "\ufeffa");
});

Deno.test("encodeName() takes a name of megabytes with raw bytes, nothing spread onto the stack", () => {
  const bytes = new Uint8Array(1_500_000).fill(0x41);
  bytes[100] = 0xff;
  bytes.set(new TextEncoder().encode("é😀"), 200);
  bytes[bytes.length - 1] = 0xfe;
  assertEquals(encodeName(decodeName(bytes)), bytes);
});
