/**
 * The scan under attack by the owner of a process, on the live kernel, with a
 * FUSE mount whose daemon stops answering (a `stat` there would block until
 * the daemon dies): a mapping swapped for a file on that mount while the scan
 * reads it, a directory swapped for a link to it during a walk, a mount that
 * appears after the scan read the table, and a mount ID used again. Each scan
 * must answer well within its watchdog, which kills the daemon to end a hang.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { findTool, runCli, waitFor } from "../_helpers.ts";
import type { IdentityVerdict } from "../../lib/identity/judge.ts";
import {
  buildExchanger,
  buildMapper,
  FUSE_PYTHON,
  fuseMissing,
  type Mapper,
  type PrivateMounts,
  privateMounts,
  realLibrary,
  sh,
  spawnMapper,
} from "../_live.ts";

const MAPPER = await buildMapper();
const EXCHANGER = await buildExchanger();

/** Why these attacks cannot be staged here, or undefined. */
async function missing(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "needs root (mounts, namespaces, other users)";
  if (MAPPER === null || EXCHANGER === null) return "no C compiler with a static libc (cc -static)";
  for (const tool of ["setpriv", "unshare", "nsenter"]) {
    if (findTool(tool) === undefined) return `no ${tool} (util-linux)`;
  }
  return await fuseMissing();
}

const MISSING = await missing();
if (MISSING !== undefined) console.warn(`attacker_test: ignored: ${MISSING}`);

/** A FUSE mount (at `mnt`, serving `lib.so` and `held.log`) in a scratch directory `dir`. */
interface HangingFuse {
  readonly dir: string;
  readonly mnt: string;
  /** The prefix that runs a program in the mount's namespace (`nsenter … --`). */
  readonly enter: readonly string[];
  /** From now on every lookup and stat on the mount blocks, until `kill`. */
  hang(): void;
  /** Ends the daemon: whatever waits on it returns. */
  kill(): void;
}

/**
 * Runs `body` with a FUSE mount whose daemon stops answering on `hang()`, in
 * the mount namespace `enter` leads into (`nsenter …`); by default one of its
 * own, which ends with it: a killed run leaves no mount on the host.
 */
async function withHangingFuse(
  body: (fuse: HangingFuse) => Promise<void>,
  given: string[] = [],
  dir = Deno.makeTempDirSync({ prefix: "lib_users_attack_" }),
): Promise<void> {
  const ns: PrivateMounts | null = given.length > 0 ? null : await privateMounts();
  const enter = ns === null ? given : [...ns.enter];
  Deno.chmodSync(dir, 0o755);
  const mnt = `${dir}/mnt`;
  Deno.mkdirSync(mnt, { recursive: true });
  const command = [
    ...enter,
    FUSE_PYTHON,
    new URL("../helpers/hangfs.py", import.meta.url).pathname,
    mnt,
    realLibrary(),
    `${dir}/trigger`,
    // Dies with the test's pipe: a killed run leaves no daemon.
    "--until-eof",
  ];
  const daemon = new Deno.Command(command[0]!, {
    args: command.slice(1),
    stdin: "piped",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const kill = () => {
    try {
      daemon.kill("SIGKILL");
    } catch { /* gone */ }
  };
  try {
    await waitFor(() => fuseUp(mnt, enter), `the FUSE mount at ${mnt}`);
    await body({
      dir,
      mnt,
      enter,
      hang: () => Deno.writeTextFileSync(`${dir}/trigger`, ""),
      kill,
    });
  } finally {
    kill();
    await daemon.status;
    await daemon.stdin.close().catch(() => {});
    const umount = 'fusermount -u -z "$1" 2>/dev/null || umount -l "$1" 2>/dev/null || true';
    await sh(enter.length > 0 ? `${enter.join(" ")} sh -c '${umount}' sh "$1"` : umount, mnt);
    await sh('umount -l "$1"/* 2>/dev/null || true', dir);
    await ns?.stop();
    Deno.removeSync(dir, { recursive: true });
  }
}

/** Whether the FUSE mount serves its files yet (asked through `enter`'s namespace). */
async function fuseUp(mnt: string, enter: string[]): Promise<boolean> {
  const test = [...enter, "test", "-e", `${mnt}/lib.so`];
  return (await new Deno.Command(test[0]!, { args: test.slice(1) }).output()).success;
}

/**
 * The seconds a scan may take before it counts as hung: 15, plus three times
 * what a whole scan (run through `enter`) takes on this host before any hang,
 * since every scan reads every process, however busy the machine is.
 */
async function scanBound(enter: readonly string[]): Promise<number> {
  const started = performance.now();
  await runCli(["-A"], ["-m"], {}, undefined, enter);
  return 15 + 3 * (performance.now() - started) / 1000;
}

/** Runs `work`; if it is not done within `seconds`, `rescue` ends the hang, and the test fails. */
async function within<T>(seconds: number, rescue: () => void, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const timer = setTimeout(rescue, seconds * 1000);
  let result: T;
  try {
    result = await work();
  } finally {
    clearTimeout(timer);
  }
  const took = (performance.now() - started) / 1000;
  assert(took < seconds, `it hung on the FUSE mount for ${took.toFixed(1)} s`);
  return result;
}

/** One identity judge of the live /proc in its own process (see `helpers/judge_probe.ts`). */
class Probe {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: ReadableStreamDefaultReader<string>;
  #pending = "";

  constructor() {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../helpers/judge_probe.ts", import.meta.url).pathname],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next JSON line the probe prints. */
  async next(): Promise<unknown> {
    while (!this.#pending.includes("\n")) {
      const { value, done } = await this.#lines.read();
      if (done) throw new Error("The probe ended");
      this.#pending += value;
    }
    const at = this.#pending.indexOf("\n");
    const line = this.#pending.slice(0, at);
    this.#pending = this.#pending.slice(at + 1);
    return JSON.parse(line);
  }

  /** Sends one command and returns its answer. */
  async ask(command: string): Promise<unknown> {
    await this.#writer.write(new TextEncoder().encode(`${command}\n`));
    return await this.next();
  }

  async stop(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#lines.cancel().catch(() => {});
    await this.#child.status;
  }
}

Deno.test({
  name:
    "a process swapping its mapping for a file on a FUSE mount that stopped answering cannot hang a scan",
  ignore: MISSING !== undefined,
  async fn() {
    await withHangingFuse(async (fuse) => {
      Deno.copyFileSync(realLibrary(), `${fuse.dir}/lib.so`);
      // It keeps swapping one mapping between a replaced library and the FUSE file.
      const mapper = await spawnMapper([
        ...fuse.enter,
        MAPPER!,
        "-u",
        "65534",
        "-F",
        `${fuse.dir}/lib.so`,
        `${fuse.mnt}/lib.so`,
      ]);
      try {
        Deno.removeSync(`${fuse.dir}/lib.so`);
        const bound = await scanBound(fuse.enter);
        fuse.hang();
        for (let scan = 0; scan < 20; scan++) {
          const run = await within(
            bound,
            fuse.kill,
            () => runCli(["-A"], ["-m"], {}, undefined, fuse.enter),
          );
          assertEquals(run.code, 0, run.stderr);
        }
      } finally {
        await mapper.stop();
      }
    });
  },
});

Deno.test({
  name: "a directory swapped for a link to a FUSE mount during a walk cannot send a scan into it",
  ignore: MISSING !== undefined,
  async fn() {
    await withHangingFuse(async (fuse) => {
      // The user's directories: sw, deep down, holds a library kept by a hard link elsewhere,
      // so the scan looks its name up; swlink leads to the FUSE mount.
      const home = `${fuse.dir}/home`;
      const deep = `${home}/sw/${Array.from({ length: 30 }, () => "a").join("/")}`;
      Deno.mkdirSync(deep, { recursive: true });
      Deno.copyFileSync(realLibrary(), `${deep}/lib.so`);
      Deno.linkSync(`${deep}/lib.so`, `${fuse.dir}/keep.so`);
      Deno.symlinkSync("../mnt", `${home}/swlink`);
      await sh('chown -R -h 65534 "$1"', home);
      const mapper: Mapper = await spawnMapper([
        ...fuse.enter,
        MAPPER!,
        "-u",
        "65534",
        `${deep}/lib.so`,
      ]);
      let racer: Deno.ChildProcess | undefined;
      try {
        Deno.removeSync(`${deep}/lib.so`);
        const bound = await scanBound(fuse.enter);
        fuse.hang();
        // As the attacker: swap the directory and the link for ever.
        // It ends with its standard input: a killed run leaves no racer.
        racer = new Deno.Command("setpriv", {
          args: [
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/bin/sh",
            "-c",
            '"$0" "$1" "$2" & read x; kill $!',
            EXCHANGER!,
            `${home}/sw`,
            `${home}/swlink`,
          ],
          stdin: "piped",
        }).spawn();
        // It runs: the directory is a link at some moment (a racer that could not start would
        // leave the scans below nothing to race).
        await waitFor(() => {
          try {
            return Deno.lstatSync(`${home}/sw`).isSymlink;
          } catch {
            return false; // between the two names of an exchange
          }
        }, "the racer's first exchange");
        for (let scan = 0; scan < 20; scan++) {
          const run = await within(
            bound,
            fuse.kill,
            () => runCli(["-A"], ["-m"], {}, undefined, fuse.enter),
          );
          assertEquals(run.code, 0, run.stderr);
          const row = run.stdout.split("\n").find((line) => line.startsWith(`${mapper.pid};`));
          assertStringIncludes(row ?? "", `${deep}/lib.so`, run.stdout);
        }
      } finally {
        await racer?.stdin.close().catch(() => {});
        await racer?.status;
        await mapper.stop();
      }
    });
  },
});

Deno.test({
  name: "a FUSE mount put over a directory after the scan read the table cannot be walked into",
  ignore: MISSING !== undefined,
  async fn() {
    await withHangingFuse(async (fuse) => {
      const trap = `${fuse.dir}/trap`;
      Deno.mkdirSync(trap);
      Deno.copyFileSync(realLibrary(), `${trap}/lib.so`);
      Deno.linkSync(`${trap}/lib.so`, `${fuse.dir}/keep.so`);
      // The process in a mount namespace of its own, as a user's `unshare -Urm` gives.
      const mapper = await spawnMapper([
        ...fuse.enter,
        "unshare",
        "-m",
        "--propagation",
        "private",
        MAPPER!,
        `${trap}/lib.so`,
      ]);
      const probe = new Probe();
      try {
        await probe.next();
        Deno.removeSync(`${trap}/lib.so`);
        // The judge reads the namespace's table, and judges the file (kept by keep.so: looked up).
        const first = await probe.ask(`map ${mapper.pid} trap/lib.so`) as IdentityVerdict;
        // Nothing at its path now: deleted, since its own change.
        assertEquals({ stale: first.stale, state: first.state }, { stale: true, state: "deleted" });
        await sh('nsenter -t "$1" -m mount --bind "$2" "$3"', String(mapper.pid), fuse.mnt, trap);
        fuse.hang();
        const verdict = await within(
          15,
          fuse.kill,
          () => probe.ask(`map ${mapper.pid} trap/lib.so`),
        );
        const { stale, unverified } = verdict as { stale: boolean; unverified?: string };
        assert(
          stale && /^its path crosses fuse\b.*, which is not asked$/.test(unverified ?? ""),
          unverified,
        );
      } finally {
        await probe.stop();
        await mapper.stop();
      }
    });
  },
});

Deno.test({
  name: "a mount ID used again by a FUSE mount after the scan read the table cannot be trusted",
  ignore: MISSING !== undefined,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "lib_users_attack_" });
    // A mount namespace of its own, held by a shell that ends with its standard input.
    const holder = new Deno.Command("unshare", {
      args: ["-m", "--propagation", "private", "/bin/sh", "-c", "read x"],
      stdin: "piped",
    }).spawn();
    const enter = ["nsenter", "-t", String(holder.pid), "-m"];
    const idOf = (point: string) =>
      Deno.readTextFileSync(`/proc/${holder.pid}/mountinfo`).split("\n")
        .find((line) => line.split(" ")[4] === point)?.split(" ")[0];
    let mapper: Mapper | undefined;
    try {
      const own = Deno.readLinkSync("/proc/self/ns/mnt");
      await waitFor(() => {
        try {
          return Deno.readLinkSync(`/proc/${holder.pid}/ns/mnt`) !== own;
        } catch {
          return false;
        }
      }, "the holder's mount namespace");
      // Mount IDs are the host's: another mount made meanwhile (by anything else on this
      // machine) may take the freed ID. Then the staging is tried again, with a fresh judge.
      for (let attempt = 1;; attempt++) {
        const probe = new Probe();
        let staged = false;
        try {
          await probe.next();
          Deno.mkdirSync(`${dir}/t`);
          await sh(`${enter.join(" ")} mount -t tmpfs tmpfs "$1"`, `${dir}/t`);
          const tmpfsId = idOf(`${dir}/t`);
          // The judge reads the namespace's table: that ID is a tmpfs.
          assertEquals((await probe.ask(`at ${holder.pid} /`) as { found: boolean }).found, true);
          await sh(`${enter.join(" ")} umount "$1"`, `${dir}/t`);
          await withHangingFuse(
            async (fuse) => {
              // The kernel gives the lowest free ID: the tmpfs's, unless another mount took it.
              if (idOf(fuse.mnt) !== tmpfsId) return;
              staged = true;
              mapper = await spawnMapper([...enter, MAPPER!, `${fuse.mnt}/held.log`]);
              await sh(`${enter.join(" ")} rm "$1"`, `${fuse.mnt}/held.log`);
              fuse.hang();
              const verdict = await within(15, fuse.kill, () => probe.ask(`fd ${mapper!.pid} 3`));
              const { stale, unverified } = verdict as { stale: boolean; unverified?: string };
              assert(
                stale && /^it is on fuse\b.*, which is not asked/.test(unverified ?? ""),
                unverified,
              );
            },
            enter,
            `${dir}/t`,
          );
        } finally {
          await mapper?.stop();
          mapper = undefined;
          await probe.stop();
        }
        if (staged) break;
        assert(attempt < 10, "another mount took the freed mount ID ten times in a row");
      }
    } finally {
      holder.kill("SIGKILL");
      await holder.status;
      await holder.stdin.close().catch(() => {});
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
