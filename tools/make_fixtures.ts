/**
 * Writes the binary fixtures of the boot loader and microcode roots in
 * `testdata/` (see testdata/README.md): kernel images with the x86 boot
 * header, Intel microcode updates with real headers, checksums and an
 * extended signature table, AMD containers, and GRUB's 1024-byte `grubenv`.
 * The text files beside them are written by hand. The output is the same on
 * every run, and `tests/tools/make_fixtures_test.ts` checks that the
 * committed files are what this writes.
 *
 *     deno run --allow-read=testdata --allow-write=testdata tools/make_fixtures.ts
 *
 * @module
 */

/** A kernel image: the boot header's `HdrS`, the version pointer at 0x20E, the string at it + 0x200. */
export function kernelImage(version: string): Uint8Array {
  const image = new Uint8Array(1024);
  image.set(new TextEncoder().encode("HdrS"), 0x202);
  new DataView(image.buffer).setUint16(0x20e, 0x100, true);
  image.set(new TextEncoder().encode(`${version}\0`), 0x300);
  return image;
}

/** Bytes that look like data and are the same on every run (a linear congruential sequence). */
function filler(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[i] = state >>> 16;
  }
  return bytes;
}

/** Sets little-endian 32-bit words from an offset. */
function words(bytes: Uint8Array, offset: number, values: readonly number[]): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  values.forEach((value, i) => view.setUint32(offset + 4 * i, value >>> 0, true));
}

/** The sum of a range's 32-bit words, modulo 2^32. */
function sum(bytes: Uint8Array, offset: number, length: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  let total = 0;
  for (let at = offset; at < offset + length; at += 4) {
    total = (total + view.getUint32(at, true)) >>> 0;
  }
  return total;
}

/** One Intel update, checksummed as the SDM says: the header and data, and the extended table, sum to 0. */
export function intelUpdate(
  update: { revision: number; date: number; signature: number; flags: number; dataSize: number },
  extended: readonly { signature: number; flags: number }[] = [],
): Uint8Array {
  const tableSize = extended.length === 0 ? 0 : 20 + 12 * extended.length;
  const total = 48 + update.dataSize + tableSize;
  const bytes = new Uint8Array(total);
  bytes.set(filler(update.dataSize, update.revision), 48);
  const { revision, date, signature, flags, dataSize } = update;
  words(bytes, 0, [1, revision, date, signature, 0, 1, flags, dataSize, total]);
  const checksum = (0x100000000 - sum(bytes, 0, 48 + dataSize)) >>> 0;
  words(bytes, 16, [checksum]);
  if (tableSize === 0) return bytes;
  const table = 48 + dataSize;
  words(bytes, table, [extended.length]);
  extended.forEach((entry, i) => {
    // Each signature's checksum stands for the header's with this signature and flags in it.
    const own = (signature + flags + checksum - entry.signature - entry.flags) >>> 0;
    words(bytes, table + 20 + 12 * i, [entry.signature, entry.flags, own]);
  });
  words(bytes, table + 4, [(0x100000000 - sum(bytes, table, tableSize)) >>> 0]);
  return bytes;
}

/** One AMD container: the equivalence table, then one patch section per patch. */
export function amdContainer(
  equivalence: readonly { signature: number; id: number }[],
  patches: readonly { revision: number; id: number; date: number }[],
): Uint8Array {
  const tableSize = 16 * (equivalence.length + 1);
  const patchSize = 64 + 192;
  const bytes = new Uint8Array(12 + tableSize + patches.length * (8 + patchSize));
  const view = new DataView(bytes.buffer);
  words(bytes, 0, [0x00414d44, 0, tableSize]);
  equivalence.forEach((entry, i) => {
    words(bytes, 12 + 16 * i, [entry.signature, 0, 0]);
    view.setUint16(12 + 16 * i + 12, entry.id, true);
  });
  patches.forEach((patch, i) => {
    const at = 12 + tableSize + i * (8 + patchSize);
    words(bytes, at, [1, patchSize]);
    bytes.set(filler(patchSize - 64, patch.revision), at + 8 + 64);
    // data_code, patch_id, then the patch data's id (0x8005) and length, the equivalence id at 24.
    words(bytes, at + 8, [patch.date, patch.revision]);
    view.setUint16(at + 8 + 8, 0x8005, true);
    view.setUint16(at + 8 + 24, patch.id, true);
  });
  return bytes;
}

/** GRUB's environment block: `# GRUB Environment Block`, the variables, `#` to 1024 bytes. */
export function grubenv(variables: Readonly<Record<string, string>>): Uint8Array {
  const text = `# GRUB Environment Block\n${
    Object.entries(variables).map(([name, value]) => `${name}=${value}\n`).join("")
  }`;
  return new TextEncoder().encode(text.padEnd(1024, "#"));
}

const concat = (...parts: Uint8Array[]) => {
  const bytes = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  parts.reduce((at, part) => (bytes.set(part, at), at + part.length), 0);
  return bytes;
};

const DEBIAN = "(debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, " +
  "GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian";
const FEDORA = "(mockbuild@bkernel01.iad2.fedoraproject.org) (gcc (GCC) 13.2.1 20230918 " +
  "(Red Hat 13.2.1-3), GNU ld version 2.40-13.fc39) #1 SMP PREEMPT_DYNAMIC";
const debian = (release: string, build: string) => kernelImage(`${release} ${DEBIAN} ${build}`);
const fedora = (release: string, date: string) => kernelImage(`${release} ${FEDORA} ${date}`);
const MACHINE = "0f3c6e2a9b8d4c51a7e2f0d1c4b3a596";
const UUID = "5e8f0c3a-41d2-4b7e-9a6c-2d1f7e9b3c40";

/** Every generated file, by its path under `testdata/`. */
export function fixtureFiles(): Map<string, Uint8Array> {
  const d9 = debian("6.1.0-9-amd64", "6.1.27-1 (2023-05-08)");
  const d10 = debian("6.1.0-10-amd64", "6.1.38-1 (2023-07-14)");
  const d11 = debian("6.1.0-11-amd64", "6.1.38-4 (2023-08-08)");
  const f6 = fedora("6.5.6-300.fc39.x86_64", "Fri Oct  6 19:57:21 UTC 2023");
  const f7 = fedora("6.5.7-200.fc39.x86_64", "Tue Oct 10 20:48:10 UTC 2023");
  return new Map([
    ["root_grub_pinned/boot/vmlinuz-6.1.0-9-amd64", d9],
    ["root_grub_pinned/boot/vmlinuz-6.1.0-10-amd64", d10],
    [
      "root_grub_pinned/boot/grub/grubenv",
      grubenv({ saved_entry: `gnulinux-advanced-${UUID}>gnulinux-6.1.0-9-amd64-advanced-${UUID}` }),
    ],
    ["root_grub_submenu/boot/vmlinuz-6.1.0-9-amd64", d9],
    ["root_grub_submenu/boot/vmlinuz-6.1.0-10-amd64", d10],
    ["root_grub_submenu/boot/vmlinuz-6.1.0-11-amd64", d11],
    ["root_grub_submenu/boot/grub/grubenv", grubenv({})],
    ["root_bls/boot/vmlinuz-6.5.6-300.fc39.x86_64", f6],
    ["root_bls/boot/vmlinuz-6.5.7-200.fc39.x86_64", f7],
    [`root_bls/boot/vmlinuz-0-rescue-${MACHINE}`, f6],
    [
      "root_bls/boot/grub2/grubenv",
      grubenv({ saved_entry: `${MACHINE}-6.5.6-300.fc39.x86_64`, boot_success: "1" }),
    ],
    [`root_sdboot/efi/${MACHINE}/6.1.0-9-amd64/linux`, d9],
    [`root_sdboot/efi/${MACHINE}/6.1.0-10-amd64/linux`, d10],
    ["root_ucode_intel/lib/firmware/intel-ucode/06-8e-0a", intelFile()],
    ["root_ucode_amd/lib/firmware/amd-ucode/microcode_amd_fam19h.bin", amdFam19h()],
    [
      "root_ucode_amd/lib/firmware/amd-ucode/microcode_amd.bin",
      amdContainer([{ signature: 0x100f22, id: 0x1022 }], [
        { revision: 0x01000083, id: 0x1022, date: 0x20091204 },
      ]),
    ],
  ]);
}

/** 06-8e-0a: an update whose extended table names this CPU, then one for another stepping. */
function intelFile(): Uint8Array {
  return concat(
    intelUpdate(
      { revision: 0xf4, date: 0x02232023, signature: 0x806e9, flags: 0xc0, dataSize: 64 },
      [
        { signature: 0x806ea, flags: 0xc0 },
        { signature: 0x806eb, flags: 0xd0 },
      ],
    ),
    intelUpdate({
      revision: 0xf8,
      date: 0x02232023,
      signature: 0x806ec,
      flags: 0x94,
      dataSize: 32,
    }),
  );
}

/** Family 19h: Milan B1 (a00f11) and B2 (a00f12), and Zen 4's a10f11, as AMD lists them. */
function amdFam19h(): Uint8Array {
  return amdContainer(
    [
      { signature: 0xa00f11, id: 0xa011 },
      { signature: 0xa00f12, id: 0xa012 },
      { signature: 0xa10f11, id: 0xa111 },
    ],
    [
      { revision: 0x0a0011d3, id: 0xa011, date: 0x20230823 },
      { revision: 0x0a001238, id: 0xa012, date: 0x20230823 },
      { revision: 0x0a101144, id: 0xa111, date: 0x20230824 },
    ],
  );
}

if (import.meta.main) {
  const testdata = new URL("../testdata/", import.meta.url);
  for (const [path, bytes] of fixtureFiles()) {
    const url = new URL(path, testdata);
    Deno.mkdirSync(new URL(".", url), { recursive: true });
    Deno.writeFileSync(url, bytes);
  }
}
