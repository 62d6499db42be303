import type { Random } from "./_helpers.ts";

/** Up to three random edits of a line: bytes dropped, inserted or replaced by ones that matter in maps, or the line cut. */
export function mutate(bytes: Uint8Array, random: Random): Uint8Array {
  const out = [...bytes];
  const edits = random.below(4);
  for (let i = 0; i < edits; i++) {
    const at = random.below(out.length + 1);
    switch (random.below(4)) {
      case 0:
        out.splice(at, 1);
        break;
      case 1:
        out.splice(at, 0, random.below(256));
        break;
      case 2:
        out[at] = [0x20, 0x28, 0x29, 0x2f, 0x0a, 0x5c][random.below(6)]!;
        break;
      default:
        out.length = at;
    }
  }
  return Uint8Array.from(out);
}
