import { assertEquals, assertMatch, assertThrows } from "@std/assert";
import { findRpmOwners, parseRpmHeader } from "../../lib/answers/rpm.ts";
import { decodeRun, findTool, ROOT, runCli } from "../_helpers.ts";

const RPM_ROOT = `${ROOT}/testdata/root_rpm`;

Deno.test("findRpmOwners() reads rpm's SQLite database exactly, usrmerge-aware", async () => {
  // testdata/root_rpm was written by rpm 4.18 itself (rpmbuild, then rpm -i --justdb).
  const owners = (await findRpmOwners([
    "/usr/lib64/libfixture.so.1",
    "/lib64/libfixture.so.1",
    "/usr/bin/fix tool",
    "/usr/bin/fixture.so.1",
    "relative",
  ], RPM_ROOT))!;
  const expected = [{
    name: "libfixture.x86_64",
    version: "1:1.2-3.fc40",
    changed: owners.get("/usr/lib64/libfixture.so.1")![0]!.changed,
    changedFrom: "rpmdb",
  }];
  assertEquals(owners.get("/usr/lib64/libfixture.so.1"), expected);
  assertEquals(owners.get("/lib64/libfixture.so.1"), expected);
  assertEquals(owners.get("/usr/bin/fix tool"), expected);
  // The same base name in another directory is not the file.
  assertEquals(owners.get("/usr/bin/fixture.so.1"), []);
  assertEquals(owners.get("relative"), []);
  assertEquals(await findRpmOwners(["/x"], `${ROOT}/testdata/root_dpkg`), null);
});

Deno.test("parseRpmHeader() refuses a blob whose entries point outside it", () => {
  const blob = new Uint8Array(24);
  new DataView(blob.buffer).setInt32(0, 1);
  new DataView(blob.buffer).setInt32(4, 1000);
  assertThrows(() => parseRpmHeader(blob), RangeError);
  const empty = parseRpmHeader(new Uint8Array(8));
  assertEquals([empty.string(1000), empty.strings(1117), empty.int32s(1116)], [undefined, [], []]);
});

Deno.test("CLI --packages names an RPM package, with only --allow-read", async () => {
  const run = await runCli([`--allow-read=${RPM_ROOT}`], ["--root", RPM_ROOT, "--packages", "-s"]);
  assertEquals(run.code, 0, run.stderr);
  // Dated by the package (the age counts to the run's start: only its form is pinned).
  assertMatch(
    run.stdout,
    /^200 "\/usr\/bin\/fixd" uses \/usr\/lib64\/libfixture\.so\.1 \[libfixture\.x86_64 1:1\.2-3\.fc40\] \([0-9]+ (day|hour|minute)s? ago\)$/m,
  );
});

const RPMBUILD = findTool("rpmbuild") !== undefined && findTool("rpm") !== undefined;
if (!RPMBUILD) console.warn("rpm_test: the rpm case is ignored: no rpm and rpmbuild (Debian: rpm)");

Deno.test({
  name: "findRpmOwners() agrees with rpm -qf on a database rpm writes now",
  ignore: !RPMBUILD,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "lib_users_rpm_" });
    try {
      Deno.writeTextFileSync(
        `${dir}/t.spec`,
        `Name: lutest
Version: 2.0
Release: 1
Summary: t
License: MIT
BuildArch: noarch
%description
t
%install
mkdir -p %{buildroot}/usr/lib %{buildroot}/usr/share/lutest
echo x > %{buildroot}/usr/lib/liblutest.so.2
echo y > %{buildroot}/usr/share/lutest/data
%files
/usr/lib/liblutest.so.2
/usr/share/lutest/data
`,
      );
      const sh = async (script: string) =>
        decodeRun(
          await new Deno.Command("/bin/sh", {
            args: ["-c", script, "sh", dir],
            stdout: "piped",
            stderr: "piped",
          }).output(),
        );
      const built = await sh(
        `cd "$1" && rpmbuild -bb --define "_topdir $1/top" --define "debug_package %{nil}" t.spec && ` +
          `mkdir -p root/var/lib/rpm && rpm --dbpath "$1/root/var/lib/rpm" --define "_db_backend sqlite" ` +
          `-i --nodeps --justdb --noscripts top/RPMS/noarch/*.rpm`,
      );
      assertEquals(built.code, 0, built.stderr);
      const queried = await sh(
        `rpm --dbpath "$1/root/var/lib/rpm" -qf --queryformat '%{NAME}.%{ARCH} %{VERSION}-%{RELEASE}' /usr/lib/liblutest.so.2`,
      );
      const owners =
        (await findRpmOwners(["/usr/lib/liblutest.so.2", "/lib/liblutest.so.2"], `${dir}/root`))!;
      const owner = owners.get("/usr/lib/liblutest.so.2")![0];
      if (owner === undefined) throw new Error("rpm's package is not found");
      assertEquals(`${owner.name} ${owner.version}`, queried.stdout);
      assertEquals(owners.get("/lib/liblutest.so.2")!.map((o) => o.name), [owner.name]);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
