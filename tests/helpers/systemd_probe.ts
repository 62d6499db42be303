/**
 * Test helper: boots systemd (tests/_systemd.ts), starts `lu-TAG-probe.service`
 * (a `sleep`), prints one JSON line (`pid`, `cgroupDir`, `dir`, `main`: host
 * PIDs and paths) and closes the boot when its standard input ends. A test
 * kills it with SIGKILL instead, to see what a killed runner leaves behind.
 */

import { bootSystemd } from "../_systemd.ts";

const system = await bootSystemd();
try {
  const unit = `lu-${system.tag}-probe.service`;
  await system.installUnit(unit, "[Service]\nExecStart=/bin/sleep 1000\n");
  const started = await system.systemctl("start", "--", unit);
  if (started.code !== 0) throw new Error(`Cannot start "${unit}": ${started.stderr}`);
  const main = await system.mainPid(unit);
  console.log(
    JSON.stringify({ pid: system.pid, cgroupDir: system.cgroupDir, dir: system.dir, main }),
  );
  for await (const _ of Deno.stdin.readable) { /* until the test closes it */ }
} finally {
  await system.close();
}
