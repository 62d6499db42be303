/**
 * `contrib/ansible` run by the real `ansible-playbook` (Debian's ansible-core)
 * against three hosts on this machine. Each host is a PID, mount and UTS
 * namespace of the test's own (its own process list, its own host name),
 * holding one process that really maps a deleted library, in a system service
 * of its own (a cgroup the test makes); ansible reaches it by its
 * `lib_users_command`, `nsenter` into the namespace. For the rolling restart
 * each host has a stand-in `systemctl` first on PATH (the machine's services
 * are never touched): on web1 the "restart" ends the host's stale process, on
 * web2 it leaves it, and the play must stop before web3 (which runs only
 * `--dry-run`, in Ansible's check mode). The test judges only what it
 * started, writes only in its temporary directory, and ends every namespace
 * (and so every process in it) whatever happens.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { decodeRun, findTool, readLineOf, ROOT, runTag, waitFor } from "../_helpers.ts";
import { realLibrary } from "../_live.ts";

const CONTRIB = `${ROOT}/contrib/ansible`;
const ANSIBLE_PLAYBOOK = findTool("ansible-playbook");
const UNSHARE = findTool("unshare");
const NSENTER = findTool("nsenter");

/** Cgroup hierarchies root may make a cgroup in: hybrid v2, v1 name=systemd, pure v2. */
const CGROUP_ROOTS = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup"];

/** The first hierarchy where this run may make (and remove) a cgroup, or undefined. */
function writableCgroupRoot(): string | undefined {
  for (const root of CGROUP_ROOTS) {
    const probe = `${root}/lib_users_test_${runTag()}.slice`;
    try {
      Deno.statSync(`${root}/cgroup.procs`);
      Deno.mkdirSync(probe);
      Deno.removeSync(probe);
      return root;
    } catch { /* not here */ }
  }
  return undefined;
}

/** Where the test makes its cgroups; asked only where the rest is here. */
let cgroupRoot: string | undefined;

/** Why the playbooks cannot be run here, or undefined. */
function missing(): string | undefined {
  if (ANSIBLE_PLAYBOOK === undefined) return "no ansible-playbook (Debian's ansible-core)";
  if (UNSHARE === undefined || NSENTER === undefined) return "no unshare or nsenter (util-linux)";
  if (Deno.uid() !== 0) return "needs root (namespaces, cgroups)";
  cgroupRoot = writableCgroupRoot();
  if (cgroupRoot === undefined) return "no cgroup hierarchy where root may make one";
  return undefined;
}

const MISSING = missing();
if (MISSING !== undefined) console.warn(`ansible_test: ignored: ${MISSING}`);

/** A word for a command line ansible splits as a shell would (shlex). */
function quote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The CLI from this repository, as a command line. */
const CLI = [Deno.execPath(), "run", "--quiet", "-A", `${ROOT}/main.ts`];

/**
 * The namespace's first process: names the host, starts a copy of `sleep`
 * that maps a copy of a library (LD_PRELOAD) and moves it into the unit's
 * cgroup, replaces the copy once mapped (a new file at its path, as an
 * update leaves it: a deleted file in a temporary directory, with nothing in
 * its place, the plan sets apart), says "ready PID" (the PID as the
 * namespace sees it), then waits for its standard input to close. When it
 * ends, the kernel ends every process of the namespace.
 */
const HOLDER = `
set -eu
hostname "$1"
LD_PRELOAD="$2" /bin/sleep 1000 >/dev/null &
stale=$!
echo "$stale" > "$3/cgroup.procs"
until grep -qF "$2" "/proc/$stale/maps"; do sleep 0.01; done
rm -f -- "$2"
: > "$2"
echo "ready $stale"
read -r x || true
`;

/** One host of the inventory. */
interface Host {
  /** The inventory name (web1). */
  readonly name: string;
  /** The host name its reports carry (web1-TAG). */
  readonly hostname: string;
  /** Its system service (lib-users-ansible-TAG-web1-{{7*6}}\u202e.service). */
  readonly unit: string;
  /** The unit as the play shows it: `?` for the character that is not printable ASCII. */
  readonly shown: string;
  /** The deleted library its stale process maps. */
  readonly library: string;
  /** The stale process, by this machine's PID. */
  readonly stale: number;
  /** The stand-in systemctl's log: one call a line. */
  readonly calls: string;
  /** How ansible runs lib_users there. */
  readonly command: string;
  /** Ends the namespace and waits until its processes are gone. */
  stop(): Promise<void>;
}

/** The children of `pid`, by this machine's PIDs. */
function childrenOf(pid: number): number[] {
  const text = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
  return text === "" ? [] : text.split(" ").map(Number);
}

/**
 * Starts host `name` in `dir`: a namespace whose stale process is in the
 * system service `lib-users-ansible-TAG-NAME.service` (a cgroup made in
 * `slice`), and a stand-in systemctl that ends that process on its restart
 * when `restartEnds`, and leaves it running otherwise.
 */
async function startHost(
  dir: string,
  name: string,
  options: { tag: string; slice: string; restartEnds: boolean },
): Promise<Host> {
  const { tag, slice, restartEnds } = options;
  const home = `${dir}/${name}`;
  // Anyone may name a unit (a delegated cgroup): this one reads as a template, and turns text
  // right to left. The play must show it as text, its invisible character as "?".
  const unit = `lib-users-ansible-${tag}-${name}-{{7*6}}\u202e.service`;
  const group = `${slice}/${unit}`;
  const library = `${home}/libstale-${tag}-${name}.so.1`;
  Deno.mkdirSync(`${home}/bin`, { recursive: true });
  Deno.copyFileSync(realLibrary(), library);
  Deno.mkdirSync(group);
  let holder: Deno.ChildProcess | undefined;
  const stop = async () => {
    if (holder !== undefined) {
      await holder.stdin.close().catch(() => {});
      try {
        Deno.kill(holder.pid, "SIGKILL"); // --kill-child: the namespace goes with it
      } catch { /* gone */ }
      await holder.status;
      await holder.stdout.cancel().catch(() => {});
    }
    await waitFor(() => {
      try {
        Deno.removeSync(group);
        return true;
      } catch {
        return false; // busy until the namespace's last process is gone
      }
    }, `the cgroup ${group} to empty`);
  };
  try {
    holder = new Deno.Command(UNSHARE!, {
      args: [
        "--pid",
        "--kill-child",
        "--mount",
        "--uts",
        "--mount-proc",
        "/bin/sh",
        "-c",
        HOLDER,
        "holder",
        `${name}-${tag}`,
        library,
        group,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const ready = await readLineOf(holder.stdout, `${name}'s ready line`, 30_000);
    const inner = /^ready (\d+)$/.exec(ready.trim())?.[1];
    const init = childrenOf(holder.pid)[0];
    const stale = init === undefined ? undefined : childrenOf(init)[0];
    if (inner === undefined || stale === undefined) {
      throw new Error(`${name}: no stale process in the namespace ("${ready.trim()}")`);
    }
    const calls = `${home}/calls`;
    Deno.writeTextFileSync(calls, "");
    const controlGroup = group.slice(group.indexOf("/lib_users_test_"));
    // Runs inside the namespace, as lib_users does: PIDs are the namespace's.
    Deno.writeTextFileSync(
      `${home}/bin/systemctl`,
      `#!/bin/sh
printf '%s\\n' "$*" >> '${calls}'
case " $* " in
  *" restart -- "'${unit}'" "*)
    if [ ${restartEnds ? 1 : 0} = 1 ]; then
      kill -KILL ${inner}
      while grep -q . /proc/${inner}/maps 2>/dev/null; do sleep 0.02; done
    fi ;;
  *" show "*)
    printf 'Id=%s\\nActiveState=active\\nSubState=running\\nResult=success\\n' '${unit}'
    printf 'KillMode=control-group\\nControlGroup=%s\\n' '${controlGroup}' ;;
esac
exit 0
`,
      { mode: 0o755 },
    );
    const command = [
      "env",
      "LIB_USERS_CONFIG=",
      `PATH=${home}/bin:/usr/bin:/bin`,
      NSENTER!,
      "--target",
      String(init),
      "--pid",
      "--mount",
      "--uts",
      "--",
      ...CLI,
    ].map(quote).join(" ");
    const shown = unit.replace(/[^ -~]/g, "?");
    return { name, hostname: `${name}-${tag}`, unit, shown, library, stale, calls, command, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Runs a playbook of contrib/ansible with `inventory` and `extra` arguments, in
 * `dir` (its configuration, temporary files and home).
 */
async function playbook(dir: string, inventory: string, book: string, ...extra: string[]) {
  const env: Record<string, string> = {};
  // The caller's ANSIBLE_* settings must not change what the test sees.
  for (const [key, value] of Object.entries(Deno.env.toObject())) {
    if (!key.startsWith("ANSIBLE_")) env[key] = value;
  }
  Object.assign(env, {
    ANSIBLE_CONFIG: `${dir}/ansible.cfg`,
    ANSIBLE_HOME: `${dir}/ansible`,
    LC_ALL: "C.UTF-8",
    TMPDIR: `${dir}/tmp`,
  });
  return decodeRun(
    await new Deno.Command(ANSIBLE_PLAYBOOK!, {
      args: ["-i", inventory, ...extra, `${CONTRIB}/${book}`],
      cwd: dir,
      clearEnv: true,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output(),
  );
}

/** The text of the play output from the line that holds `from` to the next task's header. */
function section(output: string, from: string): string {
  const at = output.indexOf(from);
  assert(at >= 0, `no "${from}" in the output:\n${output}`);
  const end = output.indexOf("\nTASK [", at);
  return output.slice(at, end < 0 ? undefined : end);
}

/** Whether process `pid` still maps `path`. */
function maps(pid: number, path: string): boolean {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/maps`).includes(path);
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "contrib/ansible: scan.yml merges every host's report; restart.yml stops at the first host not clean",
  ignore: MISSING !== undefined,
  async fn(t) {
    const tag = runTag();
    const dir = Deno.makeTempDirSync({ prefix: "lib_users_ansible_" });
    const slice = `${cgroupRoot}/lib_users_test_${tag}.slice`;
    Deno.mkdirSync(slice);
    const hosts: Host[] = [];
    try {
      Deno.mkdirSync(`${dir}/tmp`);
      const restartEnds: [string, boolean][] = [["web1", true], ["web2", false], ["web3", true]];
      for (const [name, ends] of restartEnds) {
        hosts.push(await startHost(dir, name, { tag, slice, restartEnds: ends }));
      }
      const [web1, web2, web3] = hosts as [Host, Host, Host];
      Deno.writeTextFileSync(
        `${dir}/ansible.cfg`,
        `[defaults]
stdout_callback = default
nocolor = True
retry_files_enabled = False
local_tmp = ${dir}/ansible/local
remote_tmp = ${dir}/ansible/remote
forks = 5

[connection]
pipelining = True
`,
      );
      const reports = `${dir}/reports`;
      const inventory = `${dir}/inventory.json`;
      Deno.writeTextFileSync(
        inventory,
        JSON.stringify({
          all: {
            vars: {
              ansible_connection: "local",
              ansible_python_interpreter: "{{ ansible_playbook_python }}",
              lib_users_become: false,
              lib_users_fleet_command: CLI.map(quote).join(" "),
              lib_users_report_dir: reports,
            },
            hosts: Object.fromEntries(
              hosts.map((host) => [host.name, { lib_users_command: host.command }]),
            ),
          },
        }),
      );

      await t.step(
        "scan.yml, and restart.yml in check mode (at once: both only read)",
        async () => {
          const [scan, check] = await Promise.all([
            playbook(dir, inventory, "scan.yml"),
            playbook(
              dir,
              inventory,
              "restart.yml",
              "--check",
              "--limit",
              "web3",
              "--extra-vars",
              `lib_users_report_dir=${dir}/check`,
            ),
          ]);

          // scan.yml: each host's own report fetched, the fleet report of all three printed.
          assertEquals(scan.code, 0, scan.stdout + scan.stderr);
          for (const host of hosts) {
            const report = JSON.parse(Deno.readTextFileSync(`${reports}/scan/${host.name}.json`));
            assertEquals(report.host, host.hostname);
            const paths = report.groups.flatMap((g: { files: { path: string }[] }) =>
              g.files.map((f) => f.path)
            );
            assertEquals(paths, [host.library]);
          }
          const fleet = section(scan.stdout, "Fleet report:");
          assertStringIncludes(fleet, "3 hosts; by package (or file):");
          for (const host of hosts) {
            assertStringIncludes(fleet, `${host.library} (no package known): 1 of 3 hosts`);
            assertStringIncludes(fleet, `${host.hostname}: 1 stale processes`);
          }

          // Check mode: --dry-run, nothing restarted, and the play after the restarts reached.
          assertEquals(check.code, 0, check.stdout + check.stderr);
          assertStringIncludes(check.stdout, "restart steps: 1, not clean: 0, lib_users exited 0");
          assertStringIncludes(check.stdout, `${web3.shown}: not-run`);
          const after = section(check.stdout, "Fleet report after the rolling restart:");
          assertStringIncludes(after, "1 host; by package (or file):");
          assertStringIncludes(after, web3.library);

          for (const host of hosts) assertEquals(Deno.readTextFileSync(host.calls), "");
          for (const host of hosts) assert(maps(host.stale, host.library), `${host.name}: gone`);
        },
      );

      await t.step(
        "restart.yml: web1 clean, web2 not clean stops the play, web3 untouched",
        async () => {
          const run = await playbook(dir, inventory, "restart.yml");
          const output = run.stdout + run.stderr;
          assertEquals(run.code, 2, output);

          // web1's "restart" ended its stale process, and lib_users found the unit clean.
          assert(Deno.readTextFileSync(web1.calls).includes(`restart -- ${web1.unit}\n`));
          assert(!maps(web1.stale, web1.library), "web1's stale process outlived its restart");
          const after1 = JSON.parse(Deno.readTextFileSync(`${reports}/after/web1.json`));
          assertEquals(
            after1.restart.steps.map((s: { unit: string; state: string }) => [s.unit, s.state]),
            [[web1.unit, "clean"]],
          );
          assertEquals(after1.groups, []);

          // web2's left it: survivors, and the play stopped there, saying which host and unit.
          assert(Deno.readTextFileSync(web2.calls).includes(`restart -- ${web2.unit}\n`));
          assert(maps(web2.stale, web2.library), "web2's stale process should have survived");
          const after2 = JSON.parse(Deno.readTextFileSync(`${reports}/after/web2.json`));
          assertEquals(after2.restart.not_clean, 1);
          assertEquals(after2.restart.steps[0].state, "survivors");
          const notClean = `not clean: 1 of 1 restart steps: ${web2.shown}: survivors (PIDs `;
          assertStringIncludes(
            run.stdout,
            `fatal: [web2]: FAILED! => {"changed": false, "msg": "${notClean}`,
          );
          assertStringIncludes(run.stdout, `The rolling restart stopped at web2: ${notClean}`);
          assertStringIncludes(run.stdout, "Not reached: web3.");
          // The units' names are shown as text: no template evaluated, no raw control character.
          assertStringIncludes(run.stdout, `${web1.shown}: clean`);
          for (const host of hosts) assert(!run.stdout.includes(`${host.name}-42`), run.stdout);
          assert(!run.stdout.includes("\u202e"), run.stdout);

          // web3 was never reached.
          assert(!Deno.readTextFileSync(web3.calls).includes("restart"), "web3 was restarted");
          assert(maps(web3.stale, web3.library), "web3's stale process is gone");
          assert(!existsFile(`${reports}/after/web3.json`), "web3 has a report after");
          assert(!run.stdout.includes("Fleet report after the rolling restart:"), run.stdout);

          // The fleet before names all three; the one after the stop, web1 without stale files.
          const before = section(run.stdout, "Fleet report before the rolling restart:");
          for (const host of hosts) assertStringIncludes(before, host.library);
          const after = section(
            run.stdout,
            "Fleet report after the rolling restart stopped at web2:",
          );
          assertStringIncludes(after, "3 hosts; by package (or file):");
          assert(!after.includes(web1.library), after);
          assertStringIncludes(after, `${web1.hostname}: 0 stale processes`);
          for (const host of [web2, web3]) assertStringIncludes(after, host.library);
        },
      );
    } finally {
      for (const host of hosts) await host.stop();
      Deno.removeSync(slice);
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

function existsFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** What a task or play may hold besides its module (ansible's keywords that these files use). */
const KEYWORDS = new Set([
  "name",
  "hosts",
  "gather_facts",
  "serial",
  "max_fail_percentage",
  "tasks",
  "block",
  "rescue",
  "always",
  "vars",
  "when",
  "register",
  "become",
  "check_mode",
  "changed_when",
  "failed_when",
  "delegate_to",
  "run_once",
]);

Deno.test("contrib/ansible: every task names one module, of ansible.builtin", () => {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.isDirectory) walk(`${dir}/${entry.name}`);
      else if (entry.name.endsWith(".yml")) files.push(`${dir}/${entry.name}`);
    }
  };
  walk(CONTRIB);
  assert(files.length >= 6, String(files));
  let tasks = 0;
  for (const file of files) {
    const lines = Deno.readTextFileSync(file).split("\n");
    lines.forEach((line, at) => {
      const item = /^( *)- name: /.exec(line);
      if (item === null) return;
      // The item's keys: the lines indented two more than its dash, up to its end.
      const indent = item[1]!.length + 2;
      const keys = [line.slice(indent, line.indexOf(":", indent))];
      for (const next of lines.slice(at + 1)) {
        if (next.trim() === "" || next.trim().startsWith("#")) continue;
        const depth = next.length - next.trimStart().length;
        if (depth < indent || (depth === indent - 2 && next.trimStart().startsWith("- "))) break;
        if (depth === indent) keys.push(next.slice(indent, next.indexOf(":")));
      }
      const modules = keys.filter((key) => !KEYWORDS.has(key));
      const where = `${file.slice(ROOT.length)}:${at + 1}`;
      if (keys.includes("hosts") || keys.includes("block")) {
        assertEquals(modules, [], where);
      } else {
        assertEquals(modules.length, 1, `${where}: ${keys.join(", ")}`);
        assert(modules[0]!.startsWith("ansible.builtin."), `${where}: ${modules[0]}`);
        tasks++;
      }
    });
  }
  assert(tasks >= 15, `only ${tasks} tasks found`);
});
