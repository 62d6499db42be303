/**
 * Runs a restart run's commands: one at a time, each within a deadline, so
 * that one failure is attributable and a stop that hangs cannot hang the run.
 *
 * @module
 */

/** How a command ended. */
export interface CommandResult {
  /** Its exit code; null when it was stopped at the deadline or by a signal. */
  readonly code: number | null;
  /** Stopped at the deadline (a job it started may still run). */
  readonly timedOut: boolean;
  /** What it said on stderr, trimmed. */
  readonly stderr: string;
  /** What it printed on stdout. */
  readonly stdout: string;
}

/** Runs one argument vector within `timeoutMs`. */
export type RunCommand = (argv: readonly string[], timeoutMs: number) => Promise<CommandResult>;

/**
 * Runs `argv` (never through a shell) and waits at most `timeoutMs`: then it
 * is sent SIGTERM, and SIGKILL a second later. Its stdin is empty, so it can
 * never wait for an answer.
 *
 * @throws {Deno.errors.NotFound} when the program is not installed
 */
export async function runCommand(
  argv: readonly string[],
  timeoutMs: number,
): Promise<CommandResult> {
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // A group of its own: at the deadline, whatever it started is stopped with it.
    detached: true,
  }).spawn();
  let timedOut = false;
  let killer: ReturnType<typeof setTimeout> | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    kill(child, "SIGTERM");
    killer = setTimeout(() => kill(child, "SIGKILL"), 1000);
  }, timeoutMs);
  try {
    const [stdout, stderr, status] = await Promise.all([
      keepAtMost(child.stdout, OUTPUT_BYTES),
      keepAtMost(child.stderr, OUTPUT_BYTES),
      child.status,
    ]);
    return {
      code: timedOut || status.signal !== null ? null : status.code,
      timedOut,
      stdout,
      stderr: stderr.trim(),
    };
  } finally {
    clearTimeout(timer);
    clearTimeout(killer);
  }
}

/**
 * The most of a command's output kept: `systemctl show` says a few lines, but
 * a container's systemctl is its own, and may say anything for as long as the
 * deadline lets it.
 */
const OUTPUT_BYTES = 1 << 20;

/** A stream's text, its first `limit` bytes kept and the rest read and dropped. */
async function keepAtMost(stream: ReadableStream<Uint8Array>, limit: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  let kept = 0;
  for await (const chunk of stream) {
    if (kept >= limit) continue;
    const part = chunk.subarray(0, limit - kept);
    kept += part.length;
    text += decoder.decode(part, { stream: true });
  }
  return text + decoder.decode();
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    Deno.kill(-child.pid, signal);
  } catch { /* it has exited meanwhile */ }
}
