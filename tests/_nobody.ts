/**
 * Running the CLI as `nobody`, as an unprivileged agent would: bundled (nobody
 * cannot read root's Deno cache) and with a copy of the deno binary, in a
 * directory of its own. Each run may first enter a private mount namespace and
 * mount there (a procfs with `hidepid=`), so a killed run leaves no mount behind.
 */

import { assert } from "@std/assert";
import { type CliRun, decodeRun, NO_CONFIG, ROOT } from "./_helpers.ts";

/** The uid and gid runs use. */
export const NOBODY = 65534;

/** Why runs as another user cannot be made here, or undefined when they can. */
export async function cannotRunAsNobody(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "not root: cannot run a scan as another user";
  for (const tool of ["setpriv", "unshare"]) {
    try {
      const probe = await new Deno.Command(tool, { args: ["--version"], stdout: "null" })
        .output();
      if (!probe.success) return `${tool} does not run`;
    } catch {
      return `no ${tool} (util-linux)`;
    }
  }
  return undefined;
}

/** A bundled CLI that `nobody` may run, and where it is. */
export interface NobodyCli {
  /** The directory that holds it (0755), for the caller's files too; removed by `close`. */
  readonly dir: string;
  /**
   * Runs the CLI as nobody with Deno's `permissions` and `args`. `mountProc`:
   * a procfs mounted first, in a private mount namespace, at that directory
   * with those options (`hidepid=2`).
   */
  run(
    permissions: readonly string[],
    args: readonly string[],
    mountProc?: { readonly at: string; readonly options: string },
  ): Promise<CliRun>;
  /** Removes the directory. */
  close(): void;
}

/** Bundles the CLI and copies the deno binary where `nobody` may run them. */
export async function prepareNobody(): Promise<NobodyCli> {
  const dir = Deno.makeTempDirSync({ prefix: "lib_users_nobody_" });
  Deno.chmodSync(dir, 0o755);
  const bundled = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "-o", `${dir}/lib_users.js`, "main.ts"],
    cwd: ROOT,
    stderr: "piped",
  }).output();
  assert(bundled.success, new TextDecoder().decode(bundled.stderr));
  Deno.copyFileSync(Deno.execPath(), `${dir}/deno`);
  Deno.chmodSync(`${dir}/deno`, 0o755);
  Deno.mkdirSync(`${dir}/home`);
  Deno.chownSync(`${dir}/home`, NOBODY, NOBODY);
  return {
    dir,
    async run(permissions, args, mountProc) {
      const asNobody = [
        "setpriv",
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        "--clear-groups",
        `${dir}/deno`,
        "run",
        "--quiet",
        ...permissions,
        "--no-config",
        `${dir}/lib_users.js`,
        ...args,
      ];
      const command = mountProc === undefined ? asNobody : [
        "unshare",
        "--mount",
        "--propagation=private",
        "sh",
        "-c",
        'mount -t proc -o "$1" proc "$2" && shift 2 && exec "$@"',
        "sh",
        mountProc.options,
        mountProc.at,
        ...asNobody,
      ];
      const output = await new Deno.Command(command[0]!, {
        args: command.slice(1),
        env: {
          ...NO_CONFIG,
          HOME: `${dir}/home`,
          DENO_DIR: `${dir}/home/deno`,
          NO_COLOR: "1",
          PATH: "/usr/bin:/bin:/usr/sbin:/sbin",
        },
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      return decodeRun(output);
    },
    close() {
      Deno.removeSync(dir, { recursive: true });
    },
  };
}
