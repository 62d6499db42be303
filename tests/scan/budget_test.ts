/**
 * Whose budget a process's names are charged to, on the live kernel: its real
 * user's, even when it made itself undumpable (its `/proc/PID` files then
 * belong to root); root's own processes are not charged, so processes of root elsewhere
 * on the host (another suite, a package manager) never cut a root scan's lists.
 */

import { readLineOf } from "../_helpers.ts";
import { assertEquals } from "@std/assert";
import { scanLibs } from "../../mod.ts";

/** Maps `count` files of `dir`, unlinks them, drops dumpability, says "ready", waits for stdin. */
const HOARDER = `
import ctypes, mmap, os, sys
directory, count = sys.argv[1], int(sys.argv[2])
held = []
for i in range(count):
    path = f"{directory}/a-rather-long-name-of-a-deleted-file-number-{i:05d}"
    with open(path, "wb") as f:
        f.write(b"x" * 4096)
    with open(path, "rb") as f:
        held.append(mmap.mmap(f.fileno(), 4096, prot=mmap.PROT_READ))
    os.unlink(path)
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
print("ready", flush=True)
sys.stdin.read()
`;

/**
 * The unprivileged user the hoarder runs as: one of its own, so that no other
 * test's processes of `nobody` share its budget (and none of its shares theirs).
 */
const USER = 65531;

/** The system's Python: one on root's PATH (pyenv) may be unreadable to nobody. */
const PYTHON = "/usr/bin/python3";

async function cannot(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "not root: cannot start processes as another user";
  try {
    const probe = await new Deno.Command(PYTHON, { args: ["-c", ""] }).output();
    return probe.success ? undefined : `${PYTHON} does not run`;
  } catch {
    return `no ${PYTHON}`;
  }
}

const CANNOT = await cannot();
if (CANNOT !== undefined) console.warn(`budget_test: ignored: ${CANNOT}`);

async function startHoarder(dir: string, count: number, unprivileged: boolean) {
  Deno.mkdirSync(dir);
  if (unprivileged) Deno.chownSync(dir, USER, USER);
  const command = unprivileged
    ? ["setpriv", `--reuid=${USER}`, `--regid=${USER}`, "--clear-groups", PYTHON]
    : [PYTHON];
  const child = new Deno.Command(command[0]!, {
    args: [...command.slice(1), "-c", HOARDER, dir, String(count)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const text = await readLineOf(child.stdout, "the hoarder's ready line", 60_000);
  assertEquals(text, "ready\n");
  return {
    pid: child.pid,
    async stop() {
      await child.stdin.close().catch(() => {});
      await child.status;
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
    },
  };
}

Deno.test({
  name: "live: names are charged to the real user, undumpable or not; root's processes are not",
  ignore: CANNOT !== undefined,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "lib_users_budget_" });
    Deno.chmodSync(dir, 0o755);
    const started: { pid: number; stop(): Promise<void> }[] = [];
    try {
      started.push(await startHoarder(`${dir}/user`, 200, true));
      started.push(await startHoarder(`${dir}/root`, 200, false));
      const [user, root] = started.map((s) => s.pid) as [number, number];
      // The files of an undumpable process's /proc/PID are root's (on some kernels its
      // directory too): the real user is read from its status.
      assertEquals(Deno.statSync(`/proc/${user}/maps`).uid, 0);
      const name = `${dir}/user/a-rather-long-name-of-a-deleted-file-number-00000`;
      // A share of half of one process's names, the whole scan past a quarter of one at once.
      const share = 100 * name.length;
      const result = await scanLibs({ budget: { charsPerUser: share } });
      const of = (pid: number) => result.processes.find((process) => process.pid === pid);
      const kept = of(user)!.files.filter((f) => f.path.startsWith(`${dir}/user/`)).length;
      assertEquals([kept < 200, kept + (of(user)!.notListed ?? 0) >= 200], [true, true]);
      assertEquals(of(root)!.files.filter((f) => f.path.startsWith(`${dir}/root/`)).length, 200);
    } finally {
      for (const hoarder of started) await hoarder.stop();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
