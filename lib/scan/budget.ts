/**
 * What the names a scan keeps may cost, so that no process, user or tree can
 * fill the scanner's memory: each user's share of a live procfs, and one
 * budget for a tree of files, which may hold any amount.
 *
 * @module
 */

import type { DeletedFile } from "./model.ts";

/** Bytes of names a scan of a tree that is not a confirmed procfs keeps at most. */
const TREE_NAME_BUDGET = 96 << 20;

/**
 * What of that budget only command lines may use: a tree whose files' names
 * fill the budget still has its processes named, their lists cut.
 */
const ARGV_RESERVE = 8 << 20;

/**
 * What keeping one more name costs beyond its characters: its objects, map
 * entries and copies in the reader, measured at about this much.
 */
const ENTRY_COST = 1024;

/** The names kept of a tree that is not a confirmed procfs, all told. */
export class TreeBudget {
  #left = TREE_NAME_BUDGET;

  /** Counts a file name against the budget; false when it does not fit (besides command lines'). */
  keepName(name: string): boolean {
    return this.#keep(name, ARGV_RESERVE);
  }

  /** Counts an argument vector against the budget, reserve included; false past it. */
  keepArgv(argv: readonly string[]): boolean {
    return this.#keep(argv.join("\0"), 0);
  }

  #keep(name: string, reserve: number): boolean {
    const cost = name.length + ENTRY_COST;
    if (cost + reserve > this.#left) return false;
    this.#left -= cost;
    return true;
  }
}

/**
 * Each user's share of the names a scan keeps (`NameBudget.charsPerUser`).
 * Root's processes are not charged: the budget keeps other users from filling
 * root's scan. The owner is looked up only once the scan keeps a quarter of a
 * share in all: most scans never do (what was kept before is charged to no
 * one, so a user may keep up to a quarter share more).
 */
export class UserShares {
  readonly #share: number;
  readonly #readOwner: (pid: number) => number;
  #kept = 0;
  readonly #byUser = new Map<number, number>();
  /** The owner last looked up, and of which process. */
  #owner = { pid: -1, uid: -1 };

  /**
   * @param share Characters of names kept of one user's processes.
   * @param readOwner The real uid of a process, -1 when unknown.
   */
  constructor(share: number, readOwner: (pid: number) => number) {
    this.#share = share;
    this.#readOwner = readOwner;
  }

  /** The characters of names process `pid` may keep while it is read. */
  left(pid: number): number {
    if (this.#kept <= this.#share / 4) return this.#share;
    const owner = this.#ownerOf(pid);
    return owner === 0 ? Infinity : this.#share - (this.#byUser.get(owner) ?? 0);
  }

  /** Charges a process's files to its owner: those past the owner's share are left out. */
  charge(pid: number, files: DeletedFile[]): DeletedFile[] {
    this.#kept += files.reduce((sum, file) => sum + file.path.length, 0);
    if (this.#kept <= this.#share / 4) return files;
    const owner = this.#ownerOf(pid);
    if (owner === 0) return files;
    let left = this.#share - (this.#byUser.get(owner) ?? 0);
    const kept: DeletedFile[] = [];
    for (const file of files) {
      if (file.path.length > left) continue;
      kept.push(file);
      left -= file.path.length;
    }
    this.#byUser.set(owner, this.#share - left);
    return kept;
  }

  #ownerOf(pid: number): number {
    if (this.#owner.pid !== pid) this.#owner = { pid, uid: this.#readOwner(pid) };
    return this.#owner.uid;
  }
}
