import { assertEquals } from "@std/assert";
import {
  classifyCgroup,
  parseCgroupFile,
  type UnitInfo,
  UNKNOWN_UNIT,
} from "../../lib/proc/cgroup.ts";

const H = "0123456789abcdef".repeat(4);

Deno.test("parseCgroupFile() reads v2, v1 name=systemd and hybrid files", async (t) => {
  const cases: [string, string, string | null][] = [
    ["v2", "0::/system.slice/nginx.service\n", "/system.slice/nginx.service"],
    [
      "v1, other controllers ignored",
      "12:pids:/system.slice/x.service\n4:memory:/other\n1:name=systemd:/system.slice/cron.service\n",
      "/system.slice/cron.service",
    ],
    ["hybrid: v2 root, systemd on v1", "1:name=systemd:/init.scope\n0::/\n", "/init.scope"],
    ["hybrid with a v2 path", "1:name=systemd:/a.service\n0::/a.service\n", "/a.service"],
    ["v2 root only", "0::/\n", "/"],
    ["empty", "", null],
    ["garbage", "nonsense\n::\n", null],
  ];
  for (const [name, text, expected] of cases) {
    await t.step(name, () => assertEquals(parseCgroupFile(text), expected));
  }
});

Deno.test("classifyCgroup() tells services, sessions, managers and containers apart", async (t) => {
  const info = (
    unit: string | null,
    cls: UnitInfo["class"],
    uid: number | null = null,
    container: UnitInfo["container"] = null,
  ): UnitInfo => ({ name: unit, class: cls, uid, container });
  const cases: [string, UnitInfo][] = [
    ["/system.slice/nginx.service", info("nginx.service", "system-service")],
    [
      "/system.slice/system-getty.slice/getty@tty1.service",
      info("getty@tty1.service", "system-service"),
    ],
    ["/system.slice/foo.service/delegated/sub", info("foo.service", "system-service")],
    ["/init.scope", info("init.scope", "manager")],
    [
      "/user.slice/user-1000.slice/user@1000.service/init.scope",
      info("user@1000.service", "user-manager", 1000),
    ],
    [
      "/user.slice/user-1001.slice/user@1001.service",
      info("user@1001.service", "user-manager", 1001),
    ],
    [
      "/user.slice/user-1000.slice/user@1000.service/app.slice/pipewire.service",
      info("pipewire.service", "user-service", 1000),
    ],
    [
      "/user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox-1234.scope",
      info("app-firefox-1234.scope", "session", 1000),
    ],
    ["/user.slice/user-1000.slice/session-3.scope", info("session-3.scope", "session", 1000)],
    ["/system.slice/run-r2c4.scope", info("run-r2c4.scope", "session")],
    [
      `/system.slice/docker-${H}.scope`,
      info(`docker-${H}.scope`, "container", null, { runtime: "docker", id: H }),
    ],
    [`/docker/${H}`, info(null, "container", null, { runtime: "docker", id: H })],
    [
      `/machine.slice/libpod-${H}.scope/container`,
      info(`libpod-${H}.scope`, "container", null, { runtime: "podman", id: H }),
    ],
    [
      `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${H}.scope`,
      info(`libpod-${H}.scope`, "container", 1000, { runtime: "podman", id: H }),
    ],
    [
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234abcd_5678_90ab_cdef_1234567890ab.slice/cri-containerd-${H}.scope`,
      info(`cri-containerd-${H}.scope`, "container", null, {
        runtime: "containerd",
        id: H,
        pod: "1234abcd-5678-90ab-cdef-1234567890ab",
      }),
    ],
    [
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0000abcd_5678_90ab_cdef_1234567890ab.slice/crio-${H}.scope`,
      info(`crio-${H}.scope`, "container", null, {
        runtime: "cri-o",
        id: H,
        pod: "0000abcd-5678-90ab-cdef-1234567890ab",
      }),
    ],
    [
      `/kubepods/burstable/pod4321abcd-5678-90ab-cdef-1234567890ab/${H}`,
      info(null, "container", null, {
        runtime: "kubernetes",
        id: H,
        pod: "4321abcd-5678-90ab-cdef-1234567890ab",
      }),
    ],
    // System containers: the unit their own systemd runs, and where its tree starts.
    [
      "/lxc.payload.web01/system.slice/nginx.service",
      info(null, "container", null, {
        runtime: "lxc",
        id: "web01",
        unit: info("nginx.service", "system-service"),
        cgroup: "/lxc.payload.web01",
      }),
    ],
    ["/lxc/web02", info(null, "container", null, { runtime: "lxc", id: "web02" })],
    // LXC's older layout, and Proxmox's (lxc.cgroup.dir.container.inner = ns).
    [
      "/lxc/web03/system.slice/cron.service",
      info(null, "container", null, {
        runtime: "lxc",
        id: "web03",
        unit: info("cron.service", "system-service"),
        cgroup: "/lxc/web03",
      }),
    ],
    [
      "/lxc/101/ns/system.slice/postfix@-.service",
      info(null, "container", null, {
        runtime: "lxc",
        id: "101",
        unit: info("postfix@-.service", "system-service"),
        cgroup: "/lxc/101/ns",
      }),
    ],
    [
      "/lxc.payload.web01/user.slice/user-1000.slice/session-4.scope",
      info(null, "container", 1000, {
        runtime: "lxc",
        id: "web01",
        unit: info("session-4.scope", "session", 1000),
        cgroup: "/lxc.payload.web01",
      }),
    ],
    [
      "/lxc.payload.web01/init.scope",
      info(null, "container", null, {
        runtime: "lxc",
        id: "web01",
        unit: info("init.scope", "manager"),
        cgroup: "/lxc.payload.web01",
      }),
    ],
    // Nothing a systemd inside would name: the container alone.
    ["/lxc.payload.web01/app", info(null, "container", null, { runtime: "lxc", id: "web01" })],
    [
      "/machine.slice/systemd-nspawn@debian.service/payload/system.slice/cron.service",
      info("systemd-nspawn@debian.service", "container", null, {
        runtime: "machined",
        id: "debian",
        unit: info("cron.service", "system-service"),
        cgroup: "/machine.slice/systemd-nspawn@debian.service/payload",
      }),
    ],
    [
      "/machine.slice/systemd-nspawn@debian.service/supervisor",
      info("systemd-nspawn@debian.service", "container", null, {
        runtime: "machined",
        id: "debian",
      }),
    ],
    [
      "/machine.slice/machine-qemu\\x2d1\\x2dvm1.scope/libvirt/emulator",
      info("machine-qemu\\x2d1\\x2dvm1.scope", "container", null, {
        runtime: "machined",
        id: "qemu-1-vm1",
      }),
    ],
    ["/", UNKNOWN_UNIT],
    ["", UNKNOWN_UNIT],
    ["/some/random/path", UNKNOWN_UNIT],
    ["/system.slice", UNKNOWN_UNIT],
  ];
  for (const [path, expected] of cases) {
    await t.step(path || "(empty)", () => assertEquals(classifyCgroup(path), expected));
  }
});
