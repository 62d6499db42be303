import { assertEquals } from "@std/assert";
import { formatAge, leftOutText } from "../../lib/format/age.ts";

Deno.test("formatAge() rounds down to its largest unit", () => {
  const cases: [number, string][] = [
    [0, "less than a minute"],
    [59_999, "less than a minute"],
    [60_000, "1 minute"],
    [59 * 60_000, "59 minutes"],
    [3_600_000, "1 hour"],
    [23.9 * 3_600_000, "23 hours"],
    [86_400_000, "1 day"],
    [400 * 86_400_000, "400 days"],
  ];
  for (const [ms, words] of cases) assertEquals(formatAge(ms), words, String(ms));
});

Deno.test("leftOutText() names each flag given, with what it left out", () => {
  assertEquals(
    leftOutText({
      minAgeMs: 1_800_000,
      replacedOnly: true,
      leftOut: { young: 1, deleted: 3, processes: 2 },
    }),
    "--min-age 30 minutes left out 1 file replaced less long ago; " +
      "--replaced-only left out 3 deleted files (2 processes had nothing else)",
  );
  assertEquals(
    leftOutText({ replacedOnly: true, leftOut: { young: 0, deleted: 0, processes: 0 } }),
    "--replaced-only left out 0 deleted files",
  );
});
