/**
 * The running kernel against the one the boot loader starts next (or, where
 * that is not known, the newest installed): read-only, no subprocess, a few
 * small reads (`/proc/sys/kernel/osrelease` and `version`, the names in
 * `/boot` and the modules directories, the first 64 KiB of each kernel image
 * at most, and the boot loader's configuration: see `boot_loader.ts`).
 *
 * @module
 */

import { compareVersions } from "./versions.ts";
import { isGranted } from "../proc/permissions.ts";
import { type BootDefault, type BootSource, findBootDefault } from "./boot_loader.ts";

export type { BootSource } from "./boot_loader.ts";

/** How the running kernel stands against the one a reboot starts. */
export type KernelState =
  /**
   * The running kernel is the one the boot loader starts (or newer than it);
   * where the boot loader's default is not known, the newest installed.
   */
  | "current"
  /** The same release is installed in another build (an ABI-compatible rebuild): a reboot loads it. */
  | "rebuilt"
  /** A newer release is installed, and the boot loader starts it (or its default is not known). */
  | "newer"
  /** It could not be told; `reason` says why. */
  | "unknown";

/** An installed kernel, as found on disk. */
export interface InstalledKernel {
  /** The release, e.g. `6.1.0-29-amd64`: from the image's header, else from its name. */
  readonly release: string;
  /** The build string from the image's header (`#1 SMP PREEMPT_DYNAMIC Debian 6.1.123-1 (2025-01-02)`), or null. */
  readonly build: string | null;
  /** Where it was found, under the root. */
  readonly path: string;
}

/** The kernel the boot loader starts next: its default entry, and the image it names. */
export interface BootedKernel {
  /** The release: from the image's header, else the entry's `version`, else the image's name. */
  readonly release: string;
  /** The build string from the image's header, or null. */
  readonly build: string | null;
  /** Who chose the entry: GRUB's menu, a BLS entry file GRUB read, or systemd-boot. */
  readonly source: BootSource;
  /** GRUB's titles from the top menu down, joined by `>`; or the entry file's name. */
  readonly entry: string;
  /** How the entry was chosen, e.g. `saved_entry in boot/grub/grubenv`. */
  readonly via: string;
  /** The image under the root. */
  readonly path: string;
}

/** The kernel part of the reboot question. */
export interface KernelStatus {
  /** Where the running kernel stands. */
  readonly state: KernelState;
  /** The running kernel's release and build (`/proc/sys/kernel/osrelease`, `version`), null where unknown. */
  readonly running: { readonly release: string | null; readonly build: string | null };
  /** The newest installed kernel, or null when none was found. */
  readonly newest: InstalledKernel | null;
  /**
   * The kernel the boot loader starts next, or null when that is not known
   * (no configuration under the root, or one that cannot be resolved
   * exactly: `reason` then says why, and the newest installed is the measure).
   */
  readonly boots: BootedKernel | null;
  /** Why the state is what it is, in a few words. */
  readonly reason: string;
}

/** Where a kernel check reads: a root for the files, a proc root for the running kernel. */
export interface KernelOptions {
  /**
   * The file system root: `boot/`, `lib/modules/`, `usr/lib/modules/`, the
   * boot loader's files (`boot/grub/`, `boot/grub2/`, `boot/loader/`,
   * `efi/`, `boot/efi/`), and for the reboot check `lib/firmware/` and
   * `run/` under it. Default `/`.
   */
  readonly root?: string;
  /** The proc root, for `sys/kernel/osrelease` and `version` (and `cpuinfo`). Default `ROOT/proc`. */
  readonly proc?: string;
}

/** What is read of an image: the header's pointer can reach 0xFFFF + 0x200, and a string after it. */
const HEADER_BYTES = 0x10000 + 0x200 + 512;
const VERSION_POINTER = 0x20e;
const HEADER_MAGIC = 0x202;

/**
 * The version string of an x86 kernel image (the boot protocol's
 * `kernel_version`: a 16-bit little-endian pointer at 0x20E, plus 0x200, to a
 * NUL-terminated string), split into release and build; null when the bytes
 * hold no such string (no `HdrS` header, a pointer past the end, no NUL, a
 * string that is not printable ASCII).
 *
 * @example A header with its version string
 * ```ts
 * import { parseKernelImageVersion } from "./kernel.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const image = new Uint8Array(0x400);
 * image.set(new TextEncoder().encode("HdrS"), 0x202);
 * new DataView(image.buffer).setUint16(0x20e, 0x100, true);
 * image.set(new TextEncoder().encode("6.1.0-29-amd64 (debian-kernel@lists.debian.org) #1 SMP\0"), 0x300);
 * assertEquals(parseKernelImageVersion(image), { release: "6.1.0-29-amd64", build: "#1 SMP" });
 * ```
 */
export function parseKernelImageVersion(
  bytes: Uint8Array,
): { release: string; build: string | null } | null {
  if (bytes.length < VERSION_POINTER + 2) return null;
  const magic = String.fromCharCode(...bytes.subarray(HEADER_MAGIC, HEADER_MAGIC + 4));
  if (magic !== "HdrS") return null;
  const pointer = bytes[VERSION_POINTER]! | (bytes[VERSION_POINTER + 1]! << 8);
  const start = pointer + 0x200;
  if (pointer === 0 || start >= bytes.length) return null;
  const end = bytes.indexOf(0, start);
  if (end < 0 || end === start) return null;
  const raw = bytes.subarray(start, end);
  if (raw.some((byte) => byte < 0x20 || byte > 0x7e)) return null;
  const text = String.fromCharCode(...raw);
  const release = text.split(" ", 1)[0]!;
  const hash = text.indexOf(" #");
  return { release, build: hash < 0 ? null : text.slice(hash + 1) };
}

/** Reads the start of a file, at most `HEADER_BYTES`; null when it cannot be read. */
function readHead(path: string): Uint8Array | null {
  try {
    const file = Deno.openSync(path);
    try {
      const buffer = new Uint8Array(HEADER_BYTES);
      let filled = 0;
      while (filled < buffer.length) {
        const count = file.readSync(buffer.subarray(filled));
        if (count === null || count === 0) break;
        filled += count;
      }
      return buffer.subarray(0, filled);
    } finally {
      file.close();
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    return null;
  }
}

/** Names in a directory, or why they could not be listed. */
function listNames(path: string): string[] | string {
  if (!isGranted({ name: "read", path })) return "not permitted to read it";
  try {
    return [...Deno.readDirSync(path)].map((entry) => entry.name).sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "it does not exist";
    if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
    return error instanceof Error ? error.message : String(error);
  }
}

/** An image's kernel, from its header or, failing that, its name. */
function imageKernel(path: string, fallback: string | null): InstalledKernel | null {
  const head = isGranted({ name: "read", path }) ? readHead(path) : null;
  const parsed = head === null ? null : parseKernelImageVersion(head);
  if (parsed !== null) return { release: parsed.release, build: parsed.build, path };
  return fallback === null || fallback === "" ? null : { release: fallback, build: null, path };
}

/**
 * The installed kernels: `boot/vmlinuz-*` and `boot/*.img` (not initrds),
 * `usr/lib/modules/RELEASE/vmlinuz` and `lib/modules/RELEASE/vmlinuz`
 * (Fedora, Arch, usrmerge), and the release directories of `lib/modules`
 * (modules of an installed kernel), with why nothing was found where so.
 *
 * @example A root with two images and an initrd
 * ```ts
 * import { findInstalledKernels } from "./kernel.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const { kernels } = findInstalledKernels("testdata/root_current");
 * assertEquals(kernels.map((k) => k.release), ["6.1.0-28-amd64", "6.1.0-29-amd64"]);
 * ```
 */
export function findInstalledKernels(root = "/"): { kernels: InstalledKernel[]; notes: string[] } {
  const base = root.endsWith("/") ? root : `${root}/`;
  const kernels: InstalledKernel[] = [];
  const notes: string[] = [];
  const boot = listNames(`${base}boot`);
  if (typeof boot === "string") notes.push(`${base}boot: ${boot}`);
  else {
    for (const name of boot) {
      const vmlinuz = /^vmlinu[xz]-(.+)$/.exec(name)?.[1];
      const image = !vmlinuz && name.endsWith(".img") && !/^(initrd|initramfs)/.test(name);
      if (vmlinuz === undefined && !image) continue;
      const found = imageKernel(`${base}boot/${name}`, vmlinuz ?? null);
      if (found !== null) kernels.push(found);
    }
  }
  for (const modules of [`${base}usr/lib/modules`, `${base}lib/modules`]) {
    const releases = listNames(modules);
    if (typeof releases === "string") continue;
    for (const release of releases) {
      const image = imageKernel(`${modules}/${release}/vmlinuz`, null);
      kernels.push(image ?? { release, build: null, path: `${modules}/${release}` });
    }
  }
  return { kernels, notes };
}

/** Reads one kernel string from the proc root; null when it cannot be read. */
function readKernelString(path: string): string | null {
  if (!isGranted({ name: "read", path })) return null;
  try {
    const text = Deno.readTextFileSync(path).trim();
    return text === "" ? null : text;
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    return null;
  }
}

/** The default entry's kernel, its release and build from the image; null when its release is not known. */
function bootedKernel(found: BootDefault): BootedKernel | null {
  const image = imageKernel(found.path, found.release);
  if (image === null) return null;
  const { source, entry, via, path } = found;
  return { release: image.release, build: image.build, source, entry, via, path };
}

/** The newest of the installed kernels (of its finds, one that knows its build), or null. */
function newestOf(kernels: readonly InstalledKernel[]): InstalledKernel | null {
  const release = kernels.map((k) => k.release).sort(compareVersions).at(-1);
  if (release === undefined) return null;
  const candidates = kernels.filter((k) => k.release === release);
  return candidates.find((k) => k.build !== null) ?? candidates[0]!;
}

/**
 * Whether the running kernel is the one the boot loader starts next: its
 * default entry where that can be told exactly (GRUB, BLS entries,
 * systemd-boot; see `findBootDefault`), else the newest installed, and the
 * reason says the default was not known. Releases compare as dpkg and RPM
 * order them; an image of the running release whose build string differs
 * from the running one is a rebuild waiting for a reboot. A default older
 * than the running kernel asks for no reboot (a reboot would go back).
 *
 * @example On a fixture root with no boot loader configuration
 * ```ts
 * import { checkKernel } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const status = checkKernel({ root: "testdata/root_newer" });
 * assertEquals([status.state, status.newest?.release, status.boots], ["newer", "6.1.0-10-amd64", null]);
 * ```
 *
 * @example GRUB pins the running kernel while a newer one is installed
 * ```ts
 * import { checkKernel } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const status = checkKernel({ root: "testdata/root_grub_pinned" });
 * assertEquals([status.state, status.newest?.release, status.boots?.release], ["current", "6.1.0-10-amd64", "6.1.0-9-amd64"]);
 * ```
 */
export function checkKernel(options: KernelOptions = {}): KernelStatus {
  const root = options.root ?? "/";
  const proc = options.proc ?? `${root.replace(/\/+$/, "")}/proc`;
  const release = readKernelString(`${proc}/sys/kernel/osrelease`);
  const build = readKernelString(`${proc}/sys/kernel/version`);
  const running = { release, build };
  const { kernels, notes } = findInstalledKernels(root);
  const newest = newestOf(kernels);
  const loader = findBootDefault(root);
  const boots = loader.boots === null ? null : bootedKernel(loader.boots);
  const status = (state: KernelState, reason: string, shown = newest): KernelStatus => ({
    state,
    running,
    newest: shown,
    boots,
    reason,
  });
  if (release === null) {
    return status("unknown", `the running kernel's release cannot be read in ${proc}`, null);
  }
  if (boots !== null) return againstDefault(release, build, boots, kernels, newest, status);
  if (newest === null) {
    return status(
      "unknown",
      `no kernel image found (${
        notes.join("; ") || "none in boot/ or the modules directories"
      }); a container sees its own files, not its host's /boot`,
    );
  }
  const why = loader.boots === null
    ? loader.reason
    : `the image of its default entry, ${loader.boots.path}, names no release`;
  return againstNewest(release, build, kernels, newest, status, why);
}

/** How a reason names who chose the default. */
const LOADER_NAMES: Readonly<Record<BootSource, string>> = {
  grub: "GRUB",
  bls: "GRUB, a BLS entry",
  "systemd-boot": "systemd-boot",
};

type Status = (state: KernelState, reason: string, shown?: InstalledKernel | null) => KernelStatus;

/** The running kernel against the boot loader's default. */
function againstDefault(
  release: string,
  build: string | null,
  boots: BootedKernel,
  kernels: readonly InstalledKernel[],
  newest: InstalledKernel | null,
  status: Status,
): KernelStatus {
  const loader = `the boot loader (${LOADER_NAMES[boots.source]})`;
  const order = compareVersions(boots.release, release);
  if (order > 0) {
    return status("newer", `${loader} boots kernel ${boots.release}, ${release} is running`);
  }
  if (order < 0) {
    return status(
      "current",
      `${loader} boots kernel ${boots.release}, older than the running ${release}`,
    );
  }
  // The default image's build, else (its header unread) that of the release's installed images.
  const builds = boots.build !== null
    ? [boots.build]
    : kernels.filter((k) => k.release === release && k.build !== null).map((k) => k.build!);
  if (build !== null && builds.length > 0 && builds.every((other) => other !== build)) {
    return status(
      "rebuilt",
      `kernel ${release} is installed in another build (${
        builds[0]
      }) than the running one (${build}), and ${loader} boots it`,
    );
  }
  const pinned = newest !== null && compareVersions(newest.release, release) > 0
    ? `; a newer kernel ${newest.release} is installed but the boot loader boots ${release}`
    : "";
  return status("current", `the running kernel ${release} is the one ${loader} boots${pinned}`);
}

/** The running kernel against the newest installed, where the boot loader's default is not known. */
function againstNewest(
  release: string,
  build: string | null,
  kernels: readonly InstalledKernel[],
  newest: InstalledKernel,
  status: Status,
  why: string,
): KernelStatus {
  const unknownDefault = ` (the boot loader's default is not known: ${why})`;
  const order = compareVersions(newest.release, release);
  if (order > 0) {
    return status(
      "newer",
      `kernel ${newest.release} is installed, ${release} is running${unknownDefault}`,
    );
  }
  if (order === 0) {
    const ofRunning = kernels.filter((k) =>
      k.release === release && k.build !== null && build !== null
    );
    if (ofRunning.length > 0 && ofRunning.every((k) => k.build !== build)) {
      const rebuilt = ofRunning[0]!;
      return status(
        "rebuilt",
        `kernel ${release} is installed in another build (${rebuilt.build}) than the running one (${build})${unknownDefault}`,
        rebuilt,
      );
    }
    return status(
      "current",
      `the running kernel ${release} is the newest installed${unknownDefault}`,
    );
  }
  return status(
    "current",
    `the running kernel ${release} is newer than any installed (${newest.release})${unknownDefault}`,
  );
}
