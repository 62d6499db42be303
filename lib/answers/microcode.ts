/**
 * The CPU's running microcode against the newest installed for it, exactly
 * or not at all: the running revision from `/proc/cpuinfo`, the installed
 * ones from the headers of `lib/firmware/intel-ucode/FF-MM-SS` (Intel's
 * update format) or `lib/firmware/amd-ucode/microcode_amd*.bin` (AMD's
 * container format). Read-only, no subprocess; only headers are read, each
 * file and the number of updates bounded. A virtual machine's microcode is
 * its host's business: not applicable.
 *
 * @module
 */

import {
  isUnread,
  listDirectory,
  openRegular,
  readAt,
  readSmallText,
  type Unread,
} from "./bounded_read.ts";

/** How the running microcode stands. */
export type MicrocodeState =
  /** No installed update for this CPU is newer than the running revision. */
  | "current"
  /** A newer update for this CPU is installed: a reboot loads it (late loading exists, but is not the safe advice). */
  | "newer"
  /** A virtual machine (the `hypervisor` flag): the host loads microcode. */
  | "not-applicable"
  /** It could not be told; `reason` says why. Never a reason to reboot, never "current". */
  | "unknown";

/** The microcode part of the reboot question. */
export interface MicrocodeStatus {
  /** Where the running microcode stands. */
  readonly state: MicrocodeState;
  /** The running revision (`microcode` in `/proc/cpuinfo`), or null. */
  readonly running: number | null;
  /** The newest installed revision for this CPU, or null. */
  readonly installed: number | null;
  /** The file it is in, under the firmware directory (`intel-ucode/06-8e-0a`), or null. */
  readonly source: string | null;
  /** Why the state is what it is, in a few words. */
  readonly reason: string;
}

/** Where a microcode check reads: a root for the firmware, a proc root for `cpuinfo`. */
export interface MicrocodeOptions {
  /** The file system root: `lib/firmware/`, `usr/lib/firmware/` under it. Default `/`. */
  readonly root?: string;
  /** The proc root, for `cpuinfo`. Default `ROOT/proc`. */
  readonly proc?: string;
}

/** One processor as `/proc/cpuinfo` describes it (x86 fields; null where absent). */
export interface CpuInfo {
  /** `vendor_id`: `GenuineIntel`, `AuthenticAMD`, … */
  readonly vendor: string | null;
  /** `cpu family`, in decimal as cpuinfo shows it (Intel 6, AMD Zen 3 25). */
  readonly family: number | null;
  /** `model`, in decimal (the extended model included). */
  readonly model: number | null;
  /** `stepping`. */
  readonly stepping: number | null;
  /** The running microcode revision. */
  readonly microcode: number | null;
  /** Whether `flags` holds `hypervisor` (a virtual machine). */
  readonly hypervisor: boolean;
}

/** What is read at most. */
const CPUINFO_BYTES = 8 << 20;
const FIRMWARE_BYTES = 16 << 20;
const MAX_UPDATES = 256;
const MAX_FILES = 64;
const AMD_TABLE_BYTES = 64 << 10;

/**
 * The processors of `/proc/cpuinfo` (blocks separated by a blank line), with
 * the fields the microcode check needs.
 *
 * @example
 * ```ts
 * import { parseCpuinfo } from "./microcode.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const [cpu] = parseCpuinfo("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 142\nstepping\t: 10\nmicrocode\t: 0xf0\nflags\t\t: fpu vme\n");
 * assertEquals(cpu, { vendor: "GenuineIntel", family: 6, model: 142, stepping: 10, microcode: 0xf0, hypervisor: false });
 * ```
 */
export function parseCpuinfo(text: string): CpuInfo[] {
  const cpus: CpuInfo[] = [];
  for (const block of text.split(/\n[ \t]*\n/)) {
    const fields = new Map<string, string>();
    for (const line of block.split("\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) fields.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    if (!fields.has("processor")) continue;
    const number = (key: string, pattern: RegExp) => {
      const value = fields.get(key);
      return value !== undefined && pattern.test(value) ? Number(value) : null;
    };
    cpus.push({
      vendor: fields.get("vendor_id") ?? null,
      family: number("cpu family", /^[0-9]{1,4}$/),
      model: number("model", /^[0-9]{1,4}$/),
      stepping: number("stepping", /^[0-9]{1,4}$/),
      microcode: number("microcode", /^0x[0-9a-fA-F]{1,8}$/),
      hypervisor: (fields.get("flags") ?? "").split(/\s+/).includes("hypervisor"),
    });
  }
  return cpus;
}

/**
 * The processor signature (CPUID leaf 1, EAX) of a family, model and
 * stepping as `/proc/cpuinfo` shows them: family 15 and above carry the rest
 * in the extended family; the model's high nibble goes to the extended model
 * (for family 6 and 15 and above, where the CPU uses it).
 *
 * @example An Intel Kaby Lake and an AMD Milan
 * ```ts
 * import { cpuSignature } from "./microcode.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(cpuSignature(6, 0x8e, 0xa), 0x806ea);
 * assertEquals(cpuSignature(0x19, 0x01, 0x1), 0xa00f11);
 * ```
 */
export function cpuSignature(family: number, model: number, stepping: number): number {
  const baseFamily = Math.min(family, 0xf);
  const extendedFamily = family >= 0xf ? family - 0xf : 0;
  return ((extendedFamily & 0xff) << 20 | (model >> 4 & 0xf) << 16 | baseFamily << 8 |
    (model & 0xf) << 4 | (stepping & 0xf)) >>> 0;
}

/** Reads bytes of a file, or of a buffer, at an offset; fewer at its end. */
interface Bytes {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
}

function inMemory(bytes: Uint8Array): Bytes {
  return { size: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

const u32 = (bytes: Uint8Array, at: number) =>
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at, true);

/** One Intel microcode update: its revision, date, and the processors it is for. */
export interface IntelUpdate {
  readonly revision: number;
  /** The date of the header (BCD `mmddyyyy`), as `yyyy-mm-dd`. */
  readonly date: string;
  /** The main signature, then those of the extended signature table, each with its processor flags. */
  readonly signatures: readonly { readonly signature: number; readonly flags: number }[];
}

/**
 * The updates of an Intel microcode file: 48-byte headers (header version 1,
 * revision, date, signature, checksum, loader version 1, processor flags,
 * data size, total size; little-endian), each followed by its data and,
 * where the total size leaves room, an extended signature table; updates
 * follow one another. A string says why the bytes are not such a file.
 *
 * @example One update for signature 0x806ea
 * ```ts
 * import { parseIntelMicrocode } from "./microcode.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const update = new Uint8Array(48 + 16);
 * const view = new DataView(update.buffer);
 * [1, 0xf4, 0x02232023, 0x806ea, 0, 1, 0xc0, 16, 64].forEach((v, i) => view.setUint32(i * 4, v, true));
 * assertEquals(parseIntelMicrocode(update), [
 *   { revision: 0xf4, date: "2023-02-23", signatures: [{ signature: 0x806ea, flags: 0xc0 }] },
 * ]);
 * ```
 */
export function parseIntelMicrocode(bytes: Uint8Array): IntelUpdate[] | string {
  return intelUpdates(inMemory(bytes));
}

function intelUpdates(file: Bytes): IntelUpdate[] | string {
  const updates: IntelUpdate[] = [];
  for (let offset = 0; offset < file.size;) {
    if (updates.length === MAX_UPDATES) return `more than ${MAX_UPDATES} updates`;
    const header = file.read(offset, 48);
    if (header.length < 48) return `a truncated header at byte ${offset}`;
    const field = (index: number) => u32(header, index * 4);
    const dataSize = field(7) || 2000;
    const totalSize = field(8) || 2048;
    if (field(0) !== 1 || field(5) !== 1) return `no update header at byte ${offset}`;
    if (dataSize % 4 !== 0 || totalSize % 4 !== 0 || totalSize < 48 + dataSize) {
      return `sizes that do not fit at byte ${offset}`;
    }
    if (offset + totalSize > file.size) return `a truncated update at byte ${offset}`;
    const signatures = [{ signature: field(3), flags: field(6) }];
    signatures.push(...extendedSignatures(file, offset + 48 + dataSize, totalSize - 48 - dataSize));
    const bcd = field(2).toString(16).padStart(8, "0");
    const date = `${bcd.slice(4)}-${bcd.slice(0, 2)}-${bcd.slice(2, 4)}`;
    updates.push({ revision: field(1), date, signatures });
    offset += totalSize;
  }
  return updates;
}

/** An extended signature table (count, checksum, 12 reserved bytes, then 12 bytes a signature), if one fits exactly. */
function extendedSignatures(
  file: Bytes,
  offset: number,
  size: number,
): { signature: number; flags: number }[] {
  if (size < 20) return [];
  const table = file.read(offset, Math.min(size, 20 + 12 * MAX_UPDATES));
  const count = u32(table, 0);
  // Newer headers may keep other metadata there: only a table of exactly this size is one.
  if (20 + 12 * count !== size || table.length !== size) return [];
  return Array.from({ length: count }, (_, i) => ({
    signature: u32(table, 20 + 12 * i),
    flags: u32(table, 24 + 12 * i),
  }));
}

/** One container of an AMD microcode file: the equivalence table and the patches' headers. */
export interface AmdContainer {
  /** CPU signature (CPUID leaf 1, EAX) to equivalence id. */
  readonly equivalence: readonly { readonly signature: number; readonly id: number }[];
  /** Each patch's revision (`patch_id`) and the equivalence id it is for (`processor_rev_id`). */
  readonly patches: readonly { readonly revision: number; readonly id: number }[];
}

const AMD_MAGIC = 0x00414d44;

/**
 * The containers of an AMD microcode file: the magic `DMA\0`, an equivalence
 * table section (type 0: 16-byte entries, signature to equivalence id, ended
 * by a zero entry), then patch sections (type 1) whose 64-byte headers hold
 * the revision (`patch_id`, at 4) and the equivalence id (at 24); containers
 * may follow one another. A string says why the bytes are not such a file.
 *
 * @example
 * ```ts
 * import { parseAmdMicrocode } from "./microcode.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = new Uint8Array(12 + 32 + 8 + 64);
 * const view = new DataView(bytes.buffer);
 * [0x00414d44, 0, 32, 0xa00f11, 0, 0].forEach((v, i) => view.setUint32(i * 4, v, true));
 * view.setUint16(24, 0xa011, true);
 * [1, 64].forEach((v, i) => view.setUint32(44 + i * 4, v, true));
 * view.setUint32(52 + 4, 0x0a0011d3, true);
 * view.setUint16(52 + 24, 0xa011, true);
 * assertEquals(parseAmdMicrocode(bytes), [
 *   { equivalence: [{ signature: 0xa00f11, id: 0xa011 }], patches: [{ revision: 0x0a0011d3, id: 0xa011 }] },
 * ]);
 * ```
 */
export function parseAmdMicrocode(bytes: Uint8Array): AmdContainer[] | string {
  return amdContainers(inMemory(bytes));
}

function amdContainers(file: Bytes): AmdContainer[] | string {
  const containers: AmdContainer[] = [];
  let offset = 0;
  let patchCount = 0;
  while (offset < file.size) {
    const head = file.read(offset, 12);
    if (head.length < 12 || u32(head, 0) !== AMD_MAGIC || u32(head, 4) !== 0) {
      return `no container at byte ${offset}`;
    }
    const tableSize = u32(head, 8);
    if (tableSize > AMD_TABLE_BYTES || offset + 12 + tableSize > file.size) {
      return `an equivalence table that does not fit at byte ${offset}`;
    }
    const table = file.read(offset + 12, tableSize);
    const equivalence = [];
    for (let at = 0; at + 16 <= table.length && u32(table, at) !== 0; at += 16) {
      equivalence.push({ signature: u32(table, at), id: table[at + 12]! | table[at + 13]! << 8 });
    }
    offset += 12 + tableSize;
    const patches = [];
    while (offset + 8 <= file.size) {
      const section = file.read(offset, 8);
      if (u32(section, 0) === AMD_MAGIC) break;
      const size = u32(section, 4);
      if (u32(section, 0) !== 1 || size < 64 || offset + 8 + size > file.size) {
        return `no patch section at byte ${offset}`;
      }
      if (++patchCount > MAX_UPDATES) return `more than ${MAX_UPDATES} patches`;
      const header = file.read(offset + 8, 64);
      patches.push({ revision: u32(header, 4), id: header[24]! | header[25]! << 8 });
      offset += 8 + size;
    }
    if (offset < file.size && offset + 8 > file.size) return `trailing bytes at ${offset}`;
    containers.push({ equivalence, patches });
  }
  return containers;
}

/** Runs a parser over a file's headers, read in place; a string says why it could not. */
function parseFile<T>(path: string, parse: (file: Bytes) => T | string): T | string {
  const file = openRegular(path, FIRMWARE_BYTES);
  if (isUnread(file)) return file.why;
  try {
    const size = file.statSync().size;
    return parse({ size, read: (offset, length) => readAt(file, offset, length) });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    return error instanceof Error ? error.message : String(error);
  } finally {
    file.close();
  }
}

/** A processor whose family, model, stepping and running revision are known. */
interface KnownCpu {
  readonly family: number;
  readonly model: number;
  readonly stepping: number;
  readonly microcode: number;
}

/** The revisions installed for a CPU, and the file they are in; or why none is known. */
interface Installed {
  /** Every revision an update for this signature carries (one per platform, for Intel). */
  readonly revisions: readonly number[];
  readonly source: string;
}

/** Intel: the file named for the CPU (as the kernel's loader names it), main and extended signatures. */
function intelInstalled(firmware: string, cpu: KnownCpu): Installed | Unread {
  const hex = (value: number) => value.toString(16).padStart(2, "0");
  const source = `intel-ucode/${hex(cpu.family)}-${hex(cpu.model)}-${hex(cpu.stepping)}`;
  const updates = parseFile(`${firmware}/${source}`, intelUpdates);
  if (typeof updates === "string") return { why: `${source}: ${updates}` };
  const signature = cpuSignature(cpu.family, cpu.model, cpu.stepping);
  const revisions = updates
    .filter((update) => update.signatures.some((s) => s.signature === signature))
    .map((update) => update.revision);
  return revisions.length > 0
    ? { revisions, source }
    : { why: `${source} holds no update for signature ${hexOf(signature)}` };
}

/** AMD: every `microcode_amd*.bin` (the initramfs carries them all), the newest patch for the CPU. */
function amdInstalled(firmware: string, cpu: KnownCpu): Installed | Unread {
  const names = listDirectory(`${firmware}/amd-ucode`, MAX_FILES * 4);
  if (isUnread(names)) return { why: `amd-ucode: ${names.why}` };
  const files = names.filter((name) => /^microcode_amd.*\.bin$/.test(name)).slice(0, MAX_FILES);
  const signature = cpuSignature(cpu.family, cpu.model, cpu.stepping);
  let best: Installed | null = null;
  for (const name of files) {
    const containers = parseFile(`${firmware}/amd-ucode/${name}`, amdContainers);
    if (typeof containers === "string") return { why: `amd-ucode/${name}: ${containers}` };
    for (const container of containers) {
      const id = container.equivalence.find((entry) => entry.signature === signature)?.id;
      const revisions = container.patches.filter((p) => p.id === id).map((p) => p.revision);
      if (revisions.length === 0) continue;
      if (best === null || Math.max(...revisions) > Math.max(...best.revisions)) {
        best = { revisions: [Math.max(...revisions)], source: `amd-ucode/${name}` };
      }
    }
  }
  return best ?? { why: `no file in amd-ucode holds a patch for signature ${hexOf(signature)}` };
}

function hexOf(value: number): string {
  return `0x${value.toString(16)}`;
}

/**
 * Judges one kind of CPU: its running revision against the revisions
 * installed for it. Intel files may carry one update per platform (the
 * processor flags, which `/proc/cpuinfo` does not show): only a verdict that
 * holds for each of them is given.
 */
function judge(cpu: KnownCpu, installed: Installed): MicrocodeStatus {
  const running = cpu.microcode;
  const low = Math.min(...installed.revisions);
  const high = Math.max(...installed.revisions);
  const range = low === high ? hexOf(low) : `${hexOf(low)} to ${hexOf(high)}, by platform`;
  if (running < low) {
    return {
      state: "newer",
      running,
      installed: low,
      source: installed.source,
      reason: `CPU microcode ${
        hexOf(running)
      } is running, ${range} is installed (${installed.source})`,
    };
  }
  if (running >= high) {
    return {
      state: "current",
      running,
      installed: high,
      source: installed.source,
      reason: `CPU microcode ${hexOf(running)} is running, none newer is installed (${
        hexOf(high)
      } in ${installed.source})`,
    };
  }
  return unknown(
    `CPU microcode ${
      hexOf(running)
    } is running; ${installed.source} holds ${range}, and which platform this is cannot be read`,
    running,
  );
}

function unknown(reason: string, running: number | null = null): MicrocodeStatus {
  return { state: "unknown", running, installed: null, source: null, reason };
}

/** The firmware directory that exists under the root (`lib/firmware`, else `usr/lib/firmware`). */
function firmwareDirectory(root: string, vendor: string): string {
  const sub = vendor === "GenuineIntel" ? "intel-ucode" : "amd-ucode";
  const candidates = [`${root}/lib/firmware`, `${root}/usr/lib/firmware`];
  return candidates.find((dir) => !isUnread(listDirectory(`${dir}/${sub}`, 1 << 16))) ??
    candidates[0]!;
}

/**
 * Whether the CPU runs the newest microcode installed for it: `current`,
 * `newer` (a reboot loads it), `not-applicable` in a virtual machine, or
 * `unknown` with the reason (no `cpuinfo`, not an Intel or AMD CPU, no
 * revision shown, no file or update for this CPU, a file that is not
 * microcode). Processors of different kinds (or revisions) are each judged;
 * a newer update for any of them wins, then an unknown.
 *
 * @example An Intel CPU whose installed update is newer than the running one
 * ```ts
 * import { checkMicrocode } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const status = checkMicrocode({ root: "testdata/root_ucode_intel" });
 * assertEquals([status.state, status.source], ["newer", "intel-ucode/06-8e-0a"]);
 * ```
 */
export function checkMicrocode(options: MicrocodeOptions = {}): MicrocodeStatus {
  const root = (options.root ?? "/").replace(/\/+$/, "");
  const proc = options.proc ?? `${root}/proc`;
  const text = readSmallText(`${proc}/cpuinfo`, CPUINFO_BYTES);
  if (isUnread(text)) return unknown(`${proc}/cpuinfo cannot be read: ${text.why}`);
  const cpus = parseCpuinfo(text);
  if (cpus.length === 0) return unknown(`${proc}/cpuinfo lists no processor`);
  if (cpus.some((cpu) => cpu.hypervisor)) {
    return {
      state: "not-applicable",
      running: cpus[0]!.microcode,
      installed: null,
      source: null,
      reason: "a virtual machine (the hypervisor flag): its host loads the CPU's microcode",
    };
  }
  // Each kind of processor once, at its lowest running revision.
  const kinds = new Map<string, CpuInfo>();
  for (const cpu of cpus) {
    const key = `${cpu.vendor} ${cpu.family} ${cpu.model} ${cpu.stepping}`;
    const seen = kinds.get(key);
    if (!seen || (cpu.microcode ?? -1) < (seen.microcode ?? -1)) kinds.set(key, cpu);
  }
  const verdicts = [...kinds.values()].map((cpu) => judgeCpu(root, cpu));
  return verdicts.find((v) => v.state === "newer") ?? verdicts.find((v) => v.state === "unknown") ??
    verdicts[0]!;
}

function judgeCpu(root: string, cpu: CpuInfo): MicrocodeStatus {
  const { vendor, family, model, stepping, microcode } = cpu;
  if (vendor !== "GenuineIntel" && vendor !== "AuthenticAMD") {
    return unknown(`not an Intel or AMD x86 CPU (${vendor ?? "no vendor_id"})`);
  }
  if (family === null || model === null || stepping === null) {
    return unknown("cpuinfo does not give the CPU's family, model and stepping");
  }
  if (microcode === null) return unknown("cpuinfo does not show the running microcode revision");
  const known = { family, model, stepping, microcode };
  const firmware = firmwareDirectory(root, vendor);
  const installed = vendor === "GenuineIntel"
    ? intelInstalled(firmware, known)
    : amdInstalled(firmware, known);
  return isUnread(installed) ? unknown(installed.why, microcode) : judge(known, installed);
}
