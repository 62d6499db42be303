import { assertEquals, assertRejects } from "@std/assert";
import { fakeSystemctl } from "../_helpers.ts";
import {
  markedUnits,
  parseSystemctlStatus,
  unitsFromSystemctl,
} from "../../lib/answers/services.ts";

Deno.test("parseSystemctlStatus() reads the unit from both header forms", () => {
  assertEquals(
    parseSystemctlStatus("● sshd.service - OpenSSH Daemon\n   Loaded: x"),
    "sshd.service",
  );
  assertEquals(parseSystemctlStatus("sshd.service - OpenSSH Daemon\n"), "sshd.service");
  assertEquals(
    parseSystemctlStatus("× getty@tty1.service - Getty on tty1\n"),
    "getty@tty1.service",
  );
  assertEquals(
    parseSystemctlStatus("● session-3.scope - Session 3 of User a\n"),
    "session-3.scope",
  );
  assertEquals(parseSystemctlStatus("No unit for PID 42 is loaded.\n"), undefined);
  assertEquals(parseSystemctlStatus(""), undefined);
  assertEquals(parseSystemctlStatus("Failed to connect to bus: No such file\n"), undefined);
});

Deno.test("unitsFromSystemctl() asks systemctl for each PID", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const units = await unitsFromSystemctl([99, 1000, 5], { command: fakeSystemctl(dir) });
    assertEquals([...units].sort(), [[1000, "ssh.service"], [99, "cron.service"]]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("unitsFromSystemctl() throws NotFound when systemctl is missing", async () => {
  await assertRejects(
    () => unitsFromSystemctl([1], { command: "/nonexistent/systemctl" }),
    Deno.errors.NotFound,
  );
});

Deno.test("markedUnits() reads systemd's needs-restart marker of each unit in one call; none on failure", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lib_users_markers_" });
  try {
    const fake = `${dir}/systemctl`;
    await Deno.writeTextFile(
      fake,
      `#!/bin/sh
echo "$*" > "${dir}/args"
printf 'Id=a.service\\nMarkers=needs-restart\\n\\nId=b.service\\nMarkers=\\n\\nId=c.service\\nMarkers=needs-reload needs-restart\\n'
`,
      { mode: 0o755 },
    );
    assertEquals(
      [...await markedUnits(["a.service", "b.service", "c.service"], fake)],
      ["a.service", "c.service"],
    );
    assertEquals(
      await Deno.readTextFile(`${dir}/args`),
      "show -p Id,Markers -- a.service b.service c.service\n",
    );
    // A unit not asked about is not taken from the answer; a failing systemctl says nothing.
    assertEquals([...await markedUnits(["b.service"], fake)], []);
    await Deno.writeTextFile(fake, "#!/bin/sh\nexit 1\n");
    assertEquals([...await markedUnits(["a.service"], fake)], []);
    assertEquals([...await markedUnits(["a.service"], `${dir}/missing`)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
