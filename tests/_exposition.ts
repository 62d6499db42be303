import { assertEquals } from "@std/assert";

/** A strict reader of the text exposition format: every sample has HELP and TYPE first. */
export function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const described = new Set<string>();
  assertEquals(text.endsWith("\n"), true);
  for (const line of text.trimEnd().split("\n")) {
    const meta = /^# (HELP|TYPE) ([a-z_]+) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") {
        assertEquals(meta[3], "gauge");
        described.add(meta[2]!);
      }
      continue;
    }
    // Labels are optional: a series without any is `name{}` here.
    const sample = /^([a-z_]+)(?:\{((?:[a-z_]+="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (\d+)$/.exec(line);
    if (!sample) throw new Error(`Not a sample: ${line}`);
    if (!described.has(sample[1]!)) throw new Error(`No TYPE before ${sample[1]}`);
    samples.set(`${sample[1]}{${sample[2] ?? ""}}`, Number(sample[3]));
  }
  return samples;
}
