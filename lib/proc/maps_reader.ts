/**
 * The reader of `/proc/PID/maps` files for one scan. It owns its read buffer
 * and what it has parsed, so each file a scan meets is parsed once, however
 * many segments and processes map it; bytes are compared before any decode,
 * and memory stays bounded by the longest line, however many mappings a
 * process has.
 *
 * @module
 */

import { type MappedFile, parseMarkedName } from "./maps.ts";
import { mapsDeviceName } from "./mounts.ts";
import { decodeName } from "./names.ts";
import { checkRegularFile, type ReadLimit, tooLarge } from "./procfs.ts";

/** A file a maps line marks deleted, or one on a file system mounted nowhere, as the scan judges it. */
export interface CandidateFile extends MappedFile {
  /** Whether maps may have written the name ambiguously (`\012`: a newline, or those four characters). */
  readonly ambiguous: boolean;
  /**
   * True for an unmarked line whose device no mount table holds (its file
   * system was unmounted, or swapped for another under the process).
   */
  readonly unmounted?: true;
}

/**
 * Whether the file system of a maps device (`MAJOR:MINOR`, decimal) is mounted
 * in some table; once true, true for the rest of the scan (tables are only
 * added to), while false is asked again of each process.
 */
export type DeviceCheck = (device: string) => boolean;

/** What a {@linkcode MapsReader} leaves out and what it may keep. */
export interface MapsReaderOptions {
  /** Whether a path is ignored: its lines are parsed once and dropped. */
  readonly ignored: (path: string) => boolean;
  /**
   * Called with the text naming each new file (device, inode, name) before it
   * is parsed and kept for the rest of the scan; false leaves the file out, and
   * counts it in {@linkcode MapsReader.notListed} (the name budget of a tree that
   * is not a confirmed procfs).
   */
  readonly keep?: (text: string) => boolean;
}

const MAX_BUFFER = 1 << 24;
/** Characters of names the per-scan parse cache keeps (16 MB). */
const PARSED_CHARS = 8 << 20;
const LENIENT = new TextDecoder();

/** Reads the maps files of one scan; one reader per scan, one process at a time. */
export class MapsReader {
  #buffer = new Uint8Array(1 << 16);
  /** `#buffer` less the byte kept for a final newline: the view most reads use. */
  #fullView = this.#buffer.subarray(0, this.#buffer.length - 1);
  /** The device, inode and name bytes of the last candidate line, to pass over repeated segments. */
  #last = new Uint8Array(256);
  #lastLength = -1;
  readonly #seen = new SeenFiles();
  /** Files parsed so far, by the text from the device field on; ignored ones as null. */
  readonly #parsed = new Map<string, CandidateFile | null>();
  /** The candidate files of the maps file being read, each with its first range. */
  readonly #found = new Map<CandidateFile, string>();
  /** Characters of `#parsed`'s keys: past `PARSED_CHARS`, files are parsed anew for each process. */
  #parsedChars = 0;
  /** The most candidate files one read keeps, and the most characters of their names. */
  #maxFiles = Infinity;
  #maxChars = Infinity;
  /** Characters of the names of the candidates the read under way keeps. */
  #chars = 0;
  /** Hashes of the lines the last read met past `#maxFiles`: each file is counted once. */
  readonly #pastMax = new HashedFiles();
  #notListed = 0;
  readonly #ignored: (path: string) => boolean;
  readonly #keep: ((text: string) => boolean) | undefined;
  /** The device check of the read under way, when it looks at unmarked lines too. */
  #mounted: DeviceCheck | undefined;
  /** Devices, in maps spelling, known to be mounted: for the whole scan. */
  readonly #mountedDevices = new Set<string>();
  /** Devices the read under way found mounted nowhere. */
  readonly #unmountedDevices = new Set<string>();
  /** The device field of the last file line looked at, and whether it is mounted. */
  #lastDevice = new Uint8Array(32);
  #lastDeviceLength = 0;
  #lastMounted = true;

  /** A reader that leaves out what `options.ignored` names. */
  constructor(options: MapsReaderOptions) {
    this.#ignored = options.ignored;
    this.#keep = options.keep;
  }

  /**
   * Reads one maps file and returns its files marked deleted, each once with
   * the first address range that maps it. The map is the reader's own: it is
   * valid until the next read.
   *
   * @param limit Set when the file is not a confirmed procfs's: it is read
   *   only when it is a regular file no larger than that.
   * @param maxFiles The most files to keep; those past it are only counted
   *   ({@linkcode MapsReader.notListed}), so one process's names cannot fill memory.
   * @param more `mounted`: given, unmarked lines are looked at too, and those
   *   of a device it says is mounted nowhere are returned as `unmounted`
   *   candidates (asked once per device and read); `maxChars`: the most
   *   characters of names to keep, past which files are only counted, as past
   *   `maxFiles`.
   */
  read(
    path: string,
    limit?: ReadLimit,
    maxFiles = Infinity,
    more: { readonly mounted?: DeviceCheck; readonly maxChars?: number } = {},
  ): ReadonlyMap<CandidateFile, string> {
    // A read that failed part-way (the process exited) may have left its last line behind.
    this.#lastLength = -1;
    const mounted = more.mounted;
    this.#mounted = mounted;
    this.#maxChars = more.maxChars ?? Infinity;
    this.#chars = 0;
    // A device mounted stays so; one mounted nowhere is asked again of each process.
    if (!this.#lastMounted) this.#lastDeviceLength = 0;
    if (this.#unmountedDevices.size > 0) this.#unmountedDevices.clear();
    this.#maxFiles = maxFiles;
    this.#notListed = 0;
    this.#pastMax.clear();
    this.#seen.clear();
    if (this.#found.size > 0) this.#found.clear();
    if (limit) checkRegularFile(path, limit);
    const file = Deno.openSync(path);
    let filled = 0;
    let total = 0;
    try {
      for (;;) {
        // One byte stays free for the newline that ends an unterminated last line.
        if (filled >= this.#buffer.length - 1) this.#grow(path);
        const view = filled === 0
          ? this.#fullView
          : this.#buffer.subarray(filled, this.#buffer.length - 1);
        const count = file.readSync(view);
        if (count === null || count === 0) break;
        filled += count;
        total += count;
        if (limit && total > limit.maxBytes) throw tooLarge(path, limit);
        const consumed = forEachCandidateLine(this.#buffer, filled, this.#take);
        if (mounted !== undefined) this.#scanDevices(consumed);
        if (consumed > 0) {
          this.#buffer.copyWithin(0, consumed, filled);
          filled -= consumed;
        }
      }
    } finally {
      // close(), not `using`: the dispose path (op_try_close) measured dearer per file.
      file.close();
    }
    if (filled > 0) {
      // A last line without a newline (fixtures, truncated files).
      this.#buffer[filled] = NEWLINE;
      forEachCandidateLine(this.#buffer, filled + 1, this.#take);
      if (mounted !== undefined) this.#scanDevices(filled + 1);
    }
    return this.#found;
  }

  /**
   * Looks at the device of each file line in `#buffer[0, limit)` (whole
   * lines): an unmarked line of a device mounted nowhere is taken as a
   * candidate. One walk over the first fields of each line, in bytes; the
   * device is compared with the last line's, which it mostly is.
   */
  #scanDevices(limit: number): void {
    const buffer = this.#buffer;
    let start = 0;
    while (start < limit) {
      // One call finds the line's end (a loop over the name measured dearer); the fields are
      // walked from their least widths on: the range is at least 17 bytes (`%08lx-%08lx`),
      // then a space, the permissions (4 bytes), a space; the offset at least 8 (`%08llx`),
      // a space; the device at least 5 (`%02x:%02x`).
      let end = buffer.indexOf(NEWLINE, start);
      if (end < 0 || end > limit) end = limit;
      let at = start + 17;
      while (at < end && buffer[at] !== SPACE) at++;
      at += 14;
      while (at < end && buffer[at] !== SPACE) at++;
      const device = ++at;
      at += 5;
      while (at < end && buffer[at] !== SPACE) at++;
      const length = at - device;
      // Inode 0 maps no file (anonymous memory, the stack, the vDSO).
      if (at < end && !(buffer[at + 1] === ZERO && buffer[at + 2] === SPACE)) {
        // Inline: a call per line measured dearer than the few bytes compared.
        const last = this.#lastDevice;
        let same = length === this.#lastDeviceLength;
        for (let k = 0; same && k < length; k++) same = buffer[device + k] === last[k];
        if (!same) this.#lastMounted = this.#isMounted(device, length);
        if (!this.#lastMounted) this.#takeUnmarked(start, end);
      }
      start = end + 1;
    }
  }

  /** Whether the device field `#buffer[from, from + length)` names a mounted file system. */
  #isMounted(from: number, length: number): boolean {
    if (length > this.#lastDevice.length) return true;
    this.#lastDevice.set(this.#buffer.subarray(from, from + length));
    this.#lastDeviceLength = length;
    const field = LENIENT.decode(this.#lastDevice.subarray(0, length));
    if (this.#mountedDevices.has(field)) return true;
    if (this.#unmountedDevices.has(field)) return false;
    // A field that is no device is no finding.
    if (!DEVICE_FIELD.test(field) || this.#mounted!(mapsDeviceName(field))) {
      this.#mountedDevices.add(field);
      return true;
    }
    this.#unmountedDevices.add(field);
    return false;
  }

  /** Takes the unmarked line `#buffer[start, end)` of a device mounted nowhere. */
  #takeUnmarked(start: number, end: number): void {
    // A marked line was taken as one already.
    if (end - start > DELETED_TAIL.length && this.#buffer[end - 1] === CLOSE_PAREN) {
      let marked = true;
      for (let k = 0; k < DELETED_TAIL.length && marked; k++) {
        marked = this.#buffer[end - DELETED_TAIL.length + k] === DELETED_TAIL[k];
      }
      if (marked) return;
    }
    const line = decodeName(this.#buffer.subarray(start, end));
    const fields = LEADING_FIELDS.exec(line);
    if (fields === null || this.#full()) return;
    const tail = line.slice(fields[0].length);
    const key = `${UNMARKED}${tail}`;
    let file = this.#parsed.get(key);
    if (file === undefined) {
      file = this.#parseUnmarked(tail);
      this.#parsed.set(key, file);
    }
    if (file !== null && !this.#found.has(file)) {
      this.#found.set(file, line.slice(0, line.indexOf(" ")));
      this.#chars += file.path.length;
    }
  }

  /**
   * The file an unmarked `tail` names, or null: a name the kernel prints at
   * the top of no tree (`/dmabuf:`, `/anon_hugepage`, `/i915`) is one of its
   * own objects, never a file of a mount.
   */
  #parseUnmarked(tail: string): CandidateFile | null {
    const fields = FILE_FIELDS.exec(tail);
    if (fields === null) return null;
    const field = tail.slice(fields[0].length);
    const path = field.includes("\\012") ? field.replaceAll("\\012", "\n") : field;
    if (!path.startsWith("/") || path.indexOf("/", 1) < 0 || this.#ignored(path)) return null;
    return {
      path,
      printed: path,
      device: mapsDeviceName(fields[1]!),
      inode: fields[2]!,
      ambiguous: path.includes("\n"),
      unmounted: true,
    };
  }

  /**
   * How many files (not ignored, told apart by a hash of their bytes) the last
   * read met past its `maxFiles`: at least that many were left out.
   */
  get notListed(): number {
    return this.#notListed;
  }

  /** Takes the candidate line `#buffer[start, end)`; one function for the reader's life. */
  readonly #take = (start: number, end: number): void => {
    const buffer = this.#buffer;
    // One walk over the fields, in bytes: the range ends at the first space,
    // the device field starts after the third. A loop, not `indexOf`: the
    // fields are a few bytes each, and each call of a typed array's built-in
    // costs ≈ 600 instructions, more than walking them.
    let from = start;
    let rangeEnd = start;
    for (let field = 0; field < 3; field++) {
      while (from < end && buffer[from] !== SPACE) from++;
      if (from === end) return;
      if (field === 0) rangeEnd = from;
      from++;
    }
    const length = end - from;
    // Most repeats are the next segment of the same file.
    if (length === this.#lastLength && sameBytes(buffer, from, this.#last, 0, length)) return;
    if (length > this.#last.length) this.#last = new Uint8Array(length * 2);
    this.#last.set(buffer.subarray(from, end));
    this.#lastLength = length;
    if (this.#full()) {
      // Past the most a read keeps: a hash of each file met, no copy of its name.
      if (!this.#pastMax.add(buffer, from, end)) return;
      if (this.#seen.has(buffer, from, end, this.#pastMax.fnv)) return;
      if (this.#countable(from, end)) this.#notListed++;
      return;
    } else if (!this.#seen.add(buffer, from, end)) return;
    const line = decodeName(buffer.subarray(start, end));
    // A bad range must not borrow a verdict, nor name another map_files link.
    if (!LEADING_FIELDS.test(line)) return;
    // Those fields are ASCII: byte offsets are offsets in the text.
    const tail = line.slice(from - start);
    let file = this.#parsed.get(tail);
    if (file === undefined) {
      if (this.#keep !== undefined && !this.#keep(tail)) {
        if (this.#parse(tail) !== null) this.#notListed++;
        return;
      }
      file = this.#parse(tail);
      if (this.#parsedChars < PARSED_CHARS) {
        this.#parsed.set(tail, file);
        this.#parsedChars += tail.length;
      }
    }
    if (file === null) return;
    this.#found.set(file, line.slice(0, rangeEnd - start));
    this.#chars += file.path.length;
  };

  /** Whether the read under way keeps no more files: past its most files or characters. */
  #full(): boolean {
    return this.#found.size >= this.#maxFiles || this.#chars >= this.#maxChars;
  }

  /**
   * Whether the line from its device field at `#buffer[from]` to `end` names a
   * marked file the rules do not ignore, read only as far as that takes: past
   * the most a read keeps, a million lines must cost little and leave little
   * garbage. The name is decoded leniently (raw bytes as U+FFFD, natively): it
   * only meets the ignore rules.
   */
  #countable(from: number, end: number): boolean {
    const buffer = this.#buffer;
    let at = from;
    // The device and inode fields, then the padding before the name.
    for (let field = 0; field < 2; field++) {
      while (at < end && buffer[at] !== SPACE) at++;
      at++;
    }
    while (at < end && buffer[at] === SPACE) at++;
    if (at >= end) return false;
    const name = parseMarkedName(LENIENT.decode(buffer.subarray(at, end)));
    return name !== null && !this.#ignored(name.path);
  }

  /** The file `tail` (a line from its device field on) names, or null. */
  #parse(tail: string): CandidateFile | null {
    const fields = FILE_FIELDS.exec(tail);
    if (fields === null) return null;
    const name = parseMarkedName(tail.slice(fields[0].length));
    if (name === null || this.#ignored(name.path)) return null;
    return {
      path: name.path,
      printed: name.printed,
      device: mapsDeviceName(fields[1]!),
      inode: fields[2]!,
      ambiguous: name.path.includes("\n"),
    };
  }

  #grow(path: string): void {
    if (this.#buffer.length >= MAX_BUFFER) {
      throw new RangeError(`Cannot read "${path}": a line is longer than ${MAX_BUFFER} bytes`);
    }
    const bigger = new Uint8Array(this.#buffer.length * 2);
    bigger.set(this.#buffer);
    this.#buffer = bigger;
    this.#fullView = bigger.subarray(0, bigger.length - 1);
  }
}

const SPACE = 0x20;
const NEWLINE = 0x0a;
const ZERO = 0x30;
const CLOSE_PAREN = 0x29;
/** A key prefix that keeps unmarked lines' parses apart from marked ones' (a NUL is in no line). */
const UNMARKED = "\0";
/** A device field as maps prints it. */
const DEVICE_FIELD = /^[0-9a-f]+:[0-9a-f]+$/;
const OPEN_PAREN = 0x28;
const DELETED_TAIL = [0x64, 0x65, 0x6c, 0x65, 0x74, 0x65, 0x64, 0x29]; // "deleted)"

/** The address range, permissions and offset, as proc(5) prints them; checked once per file and process. */
const LEADING_FIELDS = /^[0-9a-f]+-[0-9a-f]+ [-r][-w][-x][ps] [0-9a-f]+ /;
/** The device and inode, and the padding before the name; checked once per file and scan. */
const FILE_FIELDS = /^([0-9a-f]+:[0-9a-f]+) ([0-9]+) +/;

/**
 * Calls `onLine(start, end)` for every complete line in `buf[0, length)` that
 * contains `(deleted)`, the only lines that can name a deleted file, so the
 * others are never decoded; `buf[end]` is the line's newline. Returns the
 * offset just past the last complete line.
 */
export function forEachCandidateLine(
  buf: Uint8Array,
  length: number,
  onLine: (start: number, end: number) => void,
): number {
  if (length === 0) return 0;
  const limit = buf.lastIndexOf(NEWLINE, length - 1) + 1;
  // Search only the complete lines: the rest of the buffer holds stale bytes.
  const lines = buf.subarray(0, limit);
  let at = lines.indexOf(OPEN_PAREN);
  while (at >= 0) {
    let match = true;
    for (let k = 0; k < DELETED_TAIL.length; k++) {
      if (lines[at + 1 + k] !== DELETED_TAIL[k]) {
        match = false;
        break;
      }
    }
    if (match) {
      const start = lines.lastIndexOf(NEWLINE, at) + 1;
      // A loop, not indexOf (a call costs more than the few bytes to the end of
      // the line); it stops, as every complete line ends with a newline.
      let end = at + DELETED_TAIL.length;
      while (lines[end] !== NEWLINE) end++;
      onLine(start, end);
      at = lines.indexOf(OPEN_PAREN, end + 1);
    } else {
      at = lines.indexOf(OPEN_PAREN, at + 1);
    }
  }
  return limit;
}

/** Up to this many files a process's maps name are compared one by one; beyond, through a hash. */
const FEW = 16;

/**
 * The files (device, inode and name bytes) handed over from one maps file: a
 * process that maps two files 30,000 times each, alternately, costs two
 * decodes, not 60,000. Their bytes lie end to end in one reused buffer (an
 * ArrayBuffer of its own per file measured dear).
 */
class SeenFiles {
  #bytes = new Uint8Array(4096);
  #used = 0;
  readonly #starts: number[] = [];
  readonly #lengths: number[] = [];
  readonly #byHash = new Map<number, number[]>();

  /** Forgets every file; most maps files hand over none, so that costs nothing then. */
  clear(): void {
    if (this.#starts.length === 0) return;
    this.#used = 0;
    this.#starts.length = 0;
    this.#lengths.length = 0;
    if (this.#byHash.size > 0) this.#byHash.clear();
  }

  /** Whether the file `buf[from, end)` names was recorded; `hash` is its `hashBytes`. */
  has(buf: Uint8Array, from: number, end: number, hash: number): boolean {
    const count = this.#starts.length;
    if (count <= FEW) {
      for (let k = 0; k < count; k++) if (this.#holds(k, buf, from, end)) return true;
      return false;
    }
    const bucket = this.#byHash.get(hash);
    return bucket !== undefined && bucket.some((k) => this.#holds(k, buf, from, end));
  }

  /** Records the file `buf[from, end)` names; false when it was recorded already. */
  add(buf: Uint8Array, from: number, end: number): boolean {
    const count = this.#starts.length;
    if (count < FEW) {
      for (let k = 0; k < count; k++) if (this.#holds(k, buf, from, end)) return false;
      this.#remember(buf, from, end);
      if (count + 1 === FEW) {
        for (let k = 0; k < FEW; k++) {
          const start = this.#starts[k]!;
          this.#index(hashBytes(this.#bytes, start, start + this.#lengths[k]!), k);
        }
      }
      return true;
    }
    const hash = hashBytes(buf, from, end);
    const bucket = this.#byHash.get(hash);
    if (bucket !== undefined) {
      for (const k of bucket) if (this.#holds(k, buf, from, end)) return false;
    }
    this.#index(hash, this.#remember(buf, from, end));
    return true;
  }

  #holds(k: number, buf: Uint8Array, from: number, end: number): boolean {
    const length = end - from;
    return this.#lengths[k] === length &&
      sameBytes(buf, from, this.#bytes, this.#starts[k]!, length);
  }

  /** Copies `buf[from, end)` to the seen files; returns its index. */
  #remember(buf: Uint8Array, from: number, end: number): number {
    const length = end - from;
    if (this.#used + length > this.#bytes.length) {
      const bigger = new Uint8Array(Math.max(this.#bytes.length * 2, this.#used + length));
      bigger.set(this.#bytes.subarray(0, this.#used));
      this.#bytes = bigger;
    }
    const used = this.#used;
    this.#bytes.set(buf.subarray(from, end), used);
    this.#starts.push(used);
    this.#lengths.push(length);
    this.#used += length;
    return this.#starts.length - 1;
  }

  #index(hash: number, k: number): void {
    const bucket = this.#byHash.get(hash);
    if (bucket) bucket.push(k);
    else this.#byHash.set(hash, [k]);
  }
}

/**
 * The files met past the most a read keeps, by a 53-bit hash of their bytes
 * (FNV-1a and a multiplicative hash side by side: 65,530 names collide with a
 * chance of about 1 in 4 million, where 32 bits lost a few in 250,000). An
 * open-addressing table in two typed arrays, reused from read to read: a
 * million lines leave no garbage behind (a `Set` of numbers left ≈ 16 MB per
 * process for the collector, and the peak added them up).
 */
class HashedFiles {
  /** The FNV-1a half of each hash; a slot is free when its `#low` is 0. */
  #high = new Uint32Array(1024);
  /** The other 21 bits of each hash, plus one: never 0. */
  #low = new Uint32Array(1024);
  #count = 0;
  /** The FNV-1a hash (what `hashBytes` gives) of the bytes last given to `add`. */
  fnv = 0;

  /** Forgets every file. */
  clear(): void {
    if (this.#count === 0) return;
    this.#high.fill(0);
    this.#low.fill(0);
    this.#count = 0;
  }

  /** Records the file `buf[from, end)` names; false when it (or its hash) was recorded already. */
  add(buf: Uint8Array, from: number, end: number): boolean {
    let fnv = 0x811c9dc5;
    let other = 0;
    for (let i = from; i < end; i++) {
      const byte = buf[i]!;
      fnv = Math.imul(fnv ^ byte, 0x01000193);
      other = Math.imul(other, 0x2f0b3a49) + byte | 0;
    }
    this.fnv = fnv;
    if ((this.#count + 1) * 2 > this.#low.length) this.#grow();
    return this.#insert(fnv >>> 0, ((other ^ (other >>> 11)) & 0x1fffff) + 1);
  }

  #insert(high: number, low: number): boolean {
    const mask = this.#low.length - 1;
    let slot = (high ^ Math.imul(low, 0x9e3779b1)) & mask;
    for (;;) {
      const held = this.#low[slot]!;
      if (held === 0) {
        this.#high[slot] = high;
        this.#low[slot] = low;
        this.#count++;
        return true;
      }
      if (held === low && this.#high[slot] === high) return false;
      slot = (slot + 1) & mask;
    }
  }

  #grow(): void {
    const high = this.#high;
    const low = this.#low;
    this.#high = new Uint32Array(low.length * 2);
    this.#low = new Uint32Array(low.length * 2);
    this.#count = 0;
    for (let slot = 0; slot < low.length; slot++) {
      if (low[slot] !== 0) this.#insert(high[slot]!, low[slot]!);
    }
  }
}

/** FNV-1a over `buf[from, end)`. */
function hashBytes(buf: Uint8Array, from: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = from; i < end; i++) hash = Math.imul(hash ^ buf[i]!, 0x01000193);
  return hash;
}

function sameBytes(
  buf: Uint8Array,
  at: number,
  other: Uint8Array,
  otherAt: number,
  length: number,
): boolean {
  for (let i = length - 1; i >= 0; i--) {
    if (buf[at + i] !== other[otherAt + i]) return false;
  }
  return true;
}
