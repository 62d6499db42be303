/**
 * Where the CLI's text goes: stdout, record by record so that a signal never
 * leaves half a record behind, or a file replaced atomically. Write failures
 * are errors of their own (a full disk is not a bug).
 *
 * @module
 */

import { isGranted } from "../lib/proc/permissions.ts";

const encoder = new TextEncoder();

/**
 * The output could not be written (a full disk, an I/O error): exit 2, not a
 * bug. The message is the whole line to print: it says which output.
 */
export class OutputError extends Error {
  override name = "OutputError";
}

/** The signals that end a run while it writes: the record being written is finished first. */
export type EndingSignal = "SIGINT" | "SIGTERM" | "SIGHUP";

/** SIGINT, SIGTERM or SIGHUP arrived while writing: the records written are whole, and no more follow. */
export class Interrupted extends Error {
  override name = "Interrupted";
  /** The signal that stopped the output. */
  readonly signal: EndingSignal;

  /** Output stopped by `signal`. */
  constructor(signal: EndingSignal) {
    super(`stopped by ${signal}`);
    this.signal = signal;
  }
}

/**
 * Writes everything and returns why it could not, if so. A reader that went
 * away (`| head`) is no error. Used for stderr too, where a failure must never
 * throw: a warning that cannot be written must not change the exit code.
 */
export function writeTo(
  stream: { writeSync(p: Uint8Array): number },
  text: string,
): string | undefined {
  let bytes = encoder.encode(text);
  try {
    while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
  } catch (error) {
    if (error instanceof Deno.errors.BrokenPipe) return undefined;
    return error instanceof Error ? error.message : String(error);
  }
  return undefined;
}

/** One line on stderr, `lib_users: MESSAGE`; a failure to write it changes nothing. */
export function warn(message: string): void {
  writeTo(Deno.stderr, `lib_users: ${message}\n`);
}

/** Writes a whole document to stdout. @throws {OutputError} */
export function writeDocument(text: string): void {
  const error = writeTo(Deno.stdout, text);
  if (error !== undefined) throw new OutputError(`Cannot write the output: ${error}`);
}

/** PIPE_BUF on Linux: the largest write to a pipe the kernel makes at once. */
const ATOMIC_WRITE = 4096;

const ENDING_SIGNALS: readonly EndingSignal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** Bytes of whole lines written at a time: a signal is looked at between them. */
const CHUNK = 16 << 10;

/**
 * Writes lines (records) to stdout. A SIGINT, SIGTERM or SIGHUP (the terminal or
 * ssh session closed) that arrives meanwhile
 * lets the chunk of whole lines being written finish, then stops: a reader
 * never gets half a record. Signals are heard only while this runs; before, they
 * end the process as usual (nothing has been written then).
 *
 * @throws {Interrupted} after a signal; {OutputError} when stdout cannot be written
 */
export async function writeRecords(text: string): Promise<void> {
  // Up to PIPE_BUF bytes, a write to a pipe is all or nothing, and one to a file
  // completes before a signal is handled: nothing can be torn, nothing to hear.
  // (A character is at least one byte: longer text is never encoded just to be measured.)
  if (
    text.length <= ATOMIC_WRITE / 4 ||
    (text.length <= ATOMIC_WRITE && encoder.encode(text).length <= ATOMIC_WRITE)
  ) {
    return writeDocument(text);
  }
  let heard: EndingSignal | undefined;
  const listeners = ENDING_SIGNALS.map((signal) => {
    const listener = () => heard ??= signal;
    Deno.addSignalListener(signal, listener);
    return [signal, listener] as const;
  });
  try {
    let at = 0;
    while (at < text.length && heard === undefined) {
      let end = text.lastIndexOf("\n", at + CHUNK);
      if (end < at) end = text.indexOf("\n", at);
      if (end < 0) end = text.length - 1;
      // An async write lets the event loop hear signals while the reader is slow.
      const closed = await writeAll(encoder.encode(text.slice(at, end + 1)));
      if (closed) return;
      at = end + 1;
    }
  } finally {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  }
  if (heard !== undefined) throw new Interrupted(heard);
}

/** Writes all bytes to stdout; true when the reader went away. */
async function writeAll(bytes: Uint8Array): Promise<boolean> {
  try {
    while (bytes.length > 0) bytes = bytes.subarray(await Deno.stdout.write(bytes));
    return false;
  } catch (error) {
    if (error instanceof Deno.errors.BrokenPipe) return true;
    const reason = error instanceof Error ? error.message : String(error);
    throw new OutputError(`Cannot write the output: ${reason}`);
  }
}

/**
 * Replaces `path` with `text` atomically: a temporary file in the same
 * directory, written, flushed to disk and renamed over it, mode 0644. A reader
 * (node_exporter's textfile collector) sees the old file or the new one, never
 * a torn one; on failure the old file stays and the temporary one is removed.
 *
 * @throws {OutputError} when the file cannot be written
 */
export function writeFileAtomically(path: string, text: string): void {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  const base = path.slice(slash + 1);
  if (base === "" || base === "." || base === "..") {
    throw new OutputError(`Cannot write the output: "${path}" is not a file name`);
  }
  // Asked first: an ungranted write would make Deno prompt on a terminal. The
  // rename needs reads too, in Deno's permission model.
  if (!isGranted({ name: "read", path: dir }) || !isGranted({ name: "write", path: dir })) {
    throw new OutputError(
      `Cannot write "${path}": Deno was not given --allow-read=${dir} --allow-write=${dir} (or -A)`,
    );
  }
  const temporary = `${dir}/.${base}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    const file = Deno.openSync(temporary, { write: true, createNew: true, mode: 0o644 });
    try {
      let bytes = encoder.encode(text);
      while (bytes.length > 0) bytes = bytes.subarray(file.writeSync(bytes));
      file.syncSync();
    } finally {
      file.close();
    }
    // The mode given to open is cut by the umask; a collector may run as another user.
    Deno.chmodSync(temporary, 0o644);
    Deno.renameSync(temporary, path);
  } catch (error) {
    try {
      Deno.removeSync(temporary);
    } catch { /* never created, or renamed already */ }
    throw new OutputError(`Cannot write "${path}": ${whyNotWritten(error, dir)}`);
  }
}

/**
 * Why the file could not be written, without the temporary file's name (Deno
 * ends its messages with the operation and path: "(os error 2): open '…'").
 */
function whyNotWritten(error: unknown, dir: string): string {
  // The temporary file is created first: not found is the directory.
  if (error instanceof Deno.errors.NotFound) return `no such directory "${dir}"`;
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/(\(os error \d+\)): .*$/s, "$1");
}
