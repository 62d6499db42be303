/**
 * A process's mount table (`/proc/PID/mountinfo`, proc(5)): which file system a
 * device, a mount ID or a path lives on, and whether asking that file system
 * about a file can block forever.
 *
 * @module
 */

/** One mount, as `/proc/PID/mountinfo` lists it. */
export interface Mount {
  /** The mount ID (field 1), as `/proc/PID/fdinfo/N` names it in `mnt_id:`. */
  readonly id: number;
  /** The device, `MAJOR:MINOR` in decimal (field 3). */
  readonly device: string;
  /** Where it is mounted, relative to the process's root, unescaped (field 5). */
  readonly point: string;
  /** The file system type (the first field after the ` - ` separator), e.g. `ext4`, `fuse.sshfs`. */
  readonly type: string;
  /** The super options (the last field), e.g. `rw,nosuid,hidepid=invisible` for a procfs. */
  readonly options: string;
}

/** The mounts one process sees, indexed for the questions a scan asks. */
export interface MountTable {
  readonly byId: ReadonlyMap<number, Mount>;
  readonly byDevice: ReadonlyMap<string, Mount>;
  /** Mounts by mount point; where several share a point, the last listed (the visible one). */
  readonly byPoint: ReadonlyMap<string, Mount>;
}

/** Parses the text of a mountinfo file; lines that do not parse are left out. */
export function parseMountInfo(text: string): MountTable {
  const byId = new Map<number, Mount>();
  const byDevice = new Map<string, Mount>();
  const byPoint = new Map<string, Mount>();
  for (const line of text.split("\n")) {
    // 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    const fields = line.split(" ");
    const separator = fields.indexOf("-", 6);
    const type = fields[separator + 1];
    if (separator < 0 || type === undefined || fields.length < 7) continue;
    const id = Number(fields[0]);
    const device = fields[2]!;
    if (!Number.isInteger(id) || !/^[0-9]+:[0-9]+$/.test(device)) continue;
    const mount = {
      id,
      device,
      point: unescapeOctal(fields[4]!),
      type: unescapeOctal(type),
      options: unescapeOctal(fields[separator + 3] ?? ""),
    };
    byId.set(id, mount);
    if (!byDevice.has(device)) byDevice.set(device, mount);
    byPoint.set(mount.point, mount);
  }
  return { byId, byDevice, byPoint };
}

/** The kernel writes space, tab, newline and backslash in mountinfo as `\ooo`. */
function unescapeOctal(text: string): string {
  if (!text.includes("\\")) return text;
  return text.replace(/\\([0-3][0-7]{2})/g, (_, octal: string) => {
    return String.fromCharCode(parseInt(octal, 8));
  });
}

/**
 * The mount a path lies on: the one with the longest mount point that is the
 * path or a directory above it. The path must be absolute and free of `.`,
 * `..` and symbolic links (a lookup resolves those first).
 */
export function mountOf(table: MountTable, path: string): Mount | undefined {
  for (let at = path.length; at > 0; at = path.lastIndexOf("/", at - 1)) {
    const mount = table.byPoint.get(at === path.length ? path : path.slice(0, at));
    if (mount) return mount;
    if (at === 0) break;
  }
  return table.byPoint.get("/");
}

/**
 * Local disk and memory file systems: asking them about a file cannot wait on
 * a server or a user-space daemon. Everything else (FUSE, NFS, CIFS/SMB, 9p,
 * Ceph, AFS, autofs, and types this list does not know) may block a `stat`
 * uninterruptibly, so it is never asked.
 */
const LOCAL_TYPES: ReadonlySet<string> = new Set([
  "bcachefs",
  "binfmt_misc",
  "bpf",
  "btrfs",
  "cgroup",
  "cgroup2",
  "configfs",
  "cramfs",
  "debugfs",
  "devpts",
  "devtmpfs",
  "efivarfs",
  "erofs",
  "exfat",
  "ext2",
  "ext3",
  "ext4",
  "f2fs",
  "hfs",
  "hfsplus",
  "hugetlbfs",
  "iso9660",
  "jffs2",
  "jfs",
  "minix",
  "mqueue",
  "msdos",
  "nilfs2",
  "ntfs3",
  "overlay",
  "proc",
  "pstore",
  "ramfs",
  "reiserfs",
  "romfs",
  "rootfs",
  "securityfs",
  "squashfs",
  "sysfs",
  "tmpfs",
  "tracefs",
  "ubifs",
  "udf",
  "vfat",
  "xfs",
  "zfs",
]);

/** Whether a file system of this type answers a `stat` without waiting on anyone (see `LOCAL_TYPES`). */
export function isLocalType(type: string): boolean {
  return LOCAL_TYPES.has(type);
}

/**
 * Stacking file systems show a file under their own device while the mapping
 * names the file of the layer below, so identities seen through them cannot be
 * compared with a mapping's.
 */
export function isStackingType(type: string): boolean {
  return type === "overlay";
}

/**
 * The `MAJOR:MINOR` (decimal) of a `dev_t` as `stat` returns it, in glibc's
 * encoding: `Deno.FileInfo.dev` may exceed 32 bits, so no bitwise operator
 * touches the whole number.
 */
export function deviceName(dev: number): string {
  const low = dev % 0x1_0000_0000;
  const high = Math.floor(dev / 0x1_0000_0000);
  const major = ((low >>> 8) & 0xfff) + ((high & 0xfffff000) >>> 0);
  const minor = (low & 0xff) + ((((low >>> 12) | (high << 20)) & 0xffffff00) >>> 0);
  return `${major}:${minor}`;
}

/** The `MAJOR:MINOR` (decimal) of a maps line's device field (`fd:01`, hexadecimal). */
export function mapsDeviceName(field: string): string {
  const colon = field.indexOf(":");
  return `${parseInt(field.slice(0, colon), 16)}:${parseInt(field.slice(colon + 1), 16)}`;
}
