/**
 * One in-process measurement for bench.ts: a warm-up scan, then one timed scan
 * of the live /proc with the library (no process start-up in the numbers).
 * Prints `{"wall": ms, "cpu": ms, "rss": KiB peak}`.
 */

import process from "node:process";
import { scanFds, scanLibs } from "../mod.ts";

const scan = Deno.args[0] === "fds" ? scanFds : scanLibs;
await scan();
const cpu = process.cpuUsage();
const start = performance.now();
const result = await scan();
const wall = performance.now() - start;
const used = process.cpuUsage(cpu);
const rss = Number(/VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))?.[1]);
console.log(JSON.stringify({
  wall,
  cpu: (used.user + used.system) / 1000,
  rss,
  found: result.processes.length,
}));
