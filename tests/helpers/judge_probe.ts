/**
 * Test helper: one identity judge of the live /proc, driven line by line from
 * standard input, so a test can change the system between two checks of one
 * judge (and kill a FUSE daemon if a check hangs, which an in-process call
 * would not let it). Prints one JSON line per command.
 *
 *   map PID TEXT    judge the first deleted mapping of PID whose name holds TEXT
 *   fd PID FD       judge PID's open file FD
 *   at PID PATH     look PATH up in PID's root (the scripts check)
 */

import { createIdentityJudge } from "../../lib/identity/judge.ts";
import { MapsReader } from "../../lib/proc/maps_reader.ts";
import { withoutMarker } from "../../lib/proc/maps.ts";

const judge = createIdentityJudge("/proc");
const reader = new MapsReader({ ignored: () => false });
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let pending = "";
console.log(JSON.stringify({ ready: true }));
for await (const chunk of lines) {
  pending += chunk;
  let newline;
  while ((newline = pending.indexOf("\n")) >= 0) {
    const [command, pid, ...rest] = pending.slice(0, newline).split(" ");
    pending = pending.slice(newline + 1);
    const arg = rest.join(" ");
    let answer: unknown;
    if (command === "map") {
      const hit = [...reader.read(`/proc/${pid}/maps`)].find(([file]) => file.path.includes(arg));
      answer = hit ? judge.mapping(Number(pid), hit[0], hit[1]) : { missing: true };
    } else if (command === "fd") {
      const printed = Deno.readLinkSync(`/proc/${pid}/fd/${arg}`);
      const path = withoutMarker(printed) ?? printed;
      answer = judge.openFile(Number(pid), { path, printed }, arg);
    } else if (command === "at") {
      answer = judge.fileAt(Number(pid), arg);
    }
    console.log(JSON.stringify(answer));
  }
}
judge.close();
