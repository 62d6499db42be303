/**
 * The libs collector: the files a process maps (`/proc/PID/maps`) that the
 * identity rule finds stale, a deleted program among them.
 *
 * @module
 */

import { mapFilesName, type MappedFile, withoutMarker } from "../proc/maps.ts";
import type { CandidateFile } from "../proc/maps_reader.ts";
import { classifyReadError, readLinkName } from "../proc/procfs.ts";
import type { ScanContext } from "./context.ts";
import { type DeletedFile, FileSet, staleEntry } from "./model.ts";

/** The stale files process `pid` maps: one entry per file (device, inode, name), never per mapping. */
export function collectMapped(context: ScanContext, pid: number): DeletedFile[] {
  // A process may map one file 60,000 times.
  const candidates = context.maps.read(
    `${context.proc}/${pid}/maps`,
    context.limits?.maps,
    context.budget.filesPerProcess,
    {
      ...(context.mounted === null ? {} : { mounted: (device) => context.mounted!(pid, device) }),
      maxChars: context.limits ? Infinity : context.shares.left(pid),
    },
  );
  context.notListed += context.maps.notListed;
  if (candidates.size === 0) return [];
  const found = new FileSet();
  let executable: string | undefined;
  for (const [parsed, range] of candidates) {
    const file = parsed.ambiguous ? exactNames(context, pid, parsed, range) : parsed;
    const verdict = parsed.unmounted
      ? context.identity.unmountedMapping(pid, file)
      : context.identity.mapping(pid, file, range);
    if (!verdict.stale) continue;
    if (context.kinds) executable ??= readExecutable(`${context.proc}/${pid}`);
    found.add(staleEntry(file.path, file.path === executable ? "executable" : "library", verdict));
  }
  return found.files;
}

/**
 * maps writes a newline in a name as `\012`, so a name holding those four
 * characters reads the same: only then the `map_files` link, whose target is
 * the exact name, is read as well.
 */
function exactNames(
  context: ScanContext,
  pid: number,
  parsed: CandidateFile,
  range: string,
): MappedFile {
  try {
    const target = readLinkName(`${context.proc}/${pid}/map_files/${mapFilesName(range)}`);
    const path = withoutMarker(target) ?? target;
    // A new object: its verdict is not shared with the ambiguous name's.
    return { path, printed: target, device: parsed.device, inode: parsed.inode };
  } catch (error) {
    classifyReadError(error);
    return parsed;
  }
}

/** The deleted executable's name, or "" when the program file is not deleted or unknown. */
function readExecutable(dir: string): string {
  try {
    const target = readLinkName(`${dir}/exe`);
    return withoutMarker(target) ?? "";
  } catch (error) {
    classifyReadError(error);
    return "";
  }
}
