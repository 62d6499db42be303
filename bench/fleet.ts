/**
 * `deno run -A bench/fleet.ts [REPORTS] [PROCESSES]`: writes REPORTS (1,000)
 * JSON reports of PROCESSES (50) stale processes each, as `--json` writes them,
 * then times `lib_users fleet` on all of them as a whole process, against
 * Deno's empty start-up, 5 rounds; medians. The target of #29: ≤ 1 s.
 */

const reports = Number(Deno.args[0] ?? 1000);
const processes = Number(Deno.args[1] ?? 50);
const root = new URL("..", import.meta.url).pathname;
const dir = Deno.makeTempDirSync({ prefix: "lib_users_bench_fleet_" });
try {
  const files: string[] = [];
  for (let r = 0; r < reports; r++) {
    const groups = Array.from({ length: processes }, (_, p) => ({
      pids: [1000 + p],
      argv: [`/usr/sbin/d${p % 10}`],
      cmdline: `/usr/sbin/d${p % 10}`,
      unit: `d${p % 10}.service`,
      class: "system-service",
      user: null,
      container: null,
      files: [
        {
          path: "/usr/lib/x86_64-linux-gnu/libssl.so.3",
          kind: "library",
          verified: true,
          package: { name: "libssl3", version: "3.0.15-1", changed: null, changed_from: null },
        },
        { path: `/opt/app${p % 7}/lib.so`, kind: "library", verified: true },
      ],
    }));
    const file = `${dir}/host${r}.json`;
    Deno.writeTextFileSync(
      file,
      JSON.stringify({
        schema_version: 2,
        scan: "libs",
        host: `host${r}`,
        scanned_at: new Date().toISOString(),
        unreadable: 0,
        unreadable_processes: [],
        finished: true,
        truncated: false,
        verdict: "restart",
        groups,
      }),
    );
    files.push(file);
  }
  const time = (args: string[]) => {
    const start = performance.now();
    const out = new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "piped" })
      .outputSync();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return performance.now() - start;
  };
  Deno.writeTextFileSync(`${dir}/empty.ts`, "");
  const fleet: number[] = [];
  const empty: number[] = [];
  for (let round = 0; round < 6; round++) {
    const f = time(["run", "-A", `${root}main.ts`, "fleet", ...files]);
    const e = time(["run", "-A", `${dir}/empty.ts`]);
    if (round > 0) fleet.push(f), empty.push(e);
  }
  const median = (v: number[]) => v.sort((a, b) => a - b)[v.length >> 1]!;
  console.log(
    `lib_users fleet, ${reports} reports of ${processes} processes: ${
      median(fleet).toFixed(0)
    } ms ` +
      `(Deno's empty start-up ${median(empty).toFixed(0)} ms); target ≤ 1000 ms`,
  );
} finally {
  Deno.removeSync(dir, { recursive: true });
}
