import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  checkMicrocode,
  cpuSignature,
  parseAmdMicrocode,
  parseCpuinfo,
  parseIntelMicrocode,
} from "../../lib/answers/microcode.ts";
import { amdContainer, intelUpdate } from "../../tools/make_fixtures.ts";
import { ROOT, withFixtureCopy } from "../_helpers.ts";

const at = (name: string) => `${ROOT}/testdata/${name}`;

function write(path: string, bytes: string | Uint8Array): void {
  Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  if (typeof bytes === "string") Deno.writeTextFileSync(path, bytes);
  else Deno.writeFileSync(path, bytes);
}

const concat = (...parts: Uint8Array[]) => {
  const bytes = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
};

/** A cpuinfo of one processor. */
function cpuinfo(fields: Record<string, string>): string {
  return Object.entries({ processor: "0", ...fields }).map(([k, v]) => `${k}\t: ${v}`).join("\n") +
    "\n\n";
}

const KABY_LAKE = {
  vendor_id: "GenuineIntel",
  "cpu family": "6",
  model: "142",
  stepping: "10",
  flags: "fpu vme de pse",
};

Deno.test("parseCpuinfo() reads each processor's fields, and the hypervisor flag", () => {
  const intel = parseCpuinfo(Deno.readTextFileSync(at("root_ucode_intel/proc/cpuinfo")));
  assertEquals(intel.length, 2);
  assertEquals(intel[1], {
    vendor: "GenuineIntel",
    family: 6,
    model: 142,
    stepping: 10,
    microcode: 0xf0,
    hypervisor: false,
  });
  const vm = parseCpuinfo(Deno.readTextFileSync(at("root_ucode_vm/proc/cpuinfo")));
  assertEquals(vm.map((cpu) => [cpu.hypervisor, cpu.microcode]), [
    [true, 0xffffffff],
    [true, 0xffffffff],
  ]);
  // An ARM cpuinfo: processors, none of the x86 fields.
  const arm = parseCpuinfo("processor\t: 0\nBogoMIPS\t: 48.00\nCPU implementer\t: 0x41\n\n");
  assertEquals(arm, [{
    vendor: null,
    family: null,
    model: null,
    stepping: null,
    microcode: null,
    hypervisor: false,
  }]);
  assertEquals(parseCpuinfo("model\t: x\nmicrocode\t: 0xzz\n"), []);
  assertEquals(parseCpuinfo(cpuinfo({ microcode: "0x123456789" }))[0]?.microcode, null);
});

Deno.test("cpuSignature() encodes family, model and stepping as CPUID leaf 1 does", () => {
  const cases: [number, number, number, number][] = [
    [6, 0x8e, 0xa, 0x806ea], // Intel Kaby Lake: file 06-8e-0a
    [6, 0x55, 0x4, 0x50654], // Skylake-SP
    [6, 0x0f, 0x6, 0x6f6], // Core 2: no extended model
    [0xf, 0x4, 0xa, 0xf4a], // Pentium 4: family 15, no extended family
    [0x17, 0x31, 0x0, 0x830f10], // AMD Rome
    [0x19, 0x01, 0x1, 0xa00f11], // AMD Milan
    [0x19, 0x61, 0x2, 0xa60f12], // AMD Raphael
    [0x1a, 0x02, 0x1, 0xb00f21], // AMD Zen 5 (this sandbox's family 26)
    [0x10, 0x02, 0x2, 0x100f22], // AMD family 10h
  ];
  for (const [family, model, stepping, signature] of cases) {
    assertEquals(
      cpuSignature(family, model, stepping),
      signature,
      `${family}/${model}/${stepping}`,
    );
  }
});

Deno.test("parseIntelMicrocode() reads concatenated updates and extended signature tables", () => {
  const first = intelUpdate(
    { revision: 0xf4, date: 0x02232023, signature: 0x806e9, flags: 0xc0, dataSize: 64 },
    [{ signature: 0x806ea, flags: 0xc0 }],
  );
  const second = intelUpdate({
    revision: 0xf8,
    date: 0x12312024,
    signature: 0x806ec,
    flags: 0x94,
    dataSize: 32,
  });
  assertEquals(parseIntelMicrocode(concat(first, second)), [
    {
      revision: 0xf4,
      date: "2023-02-23",
      signatures: [{ signature: 0x806e9, flags: 0xc0 }, { signature: 0x806ea, flags: 0xc0 }],
    },
    { revision: 0xf8, date: "2024-12-31", signatures: [{ signature: 0x806ec, flags: 0x94 }] },
  ]);
  // Sizes of zero mean 2000 bytes of data in 2048.
  const old = new Uint8Array(2048);
  new DataView(old.buffer).setUint32(0, 1, true);
  new DataView(old.buffer).setUint32(4, 0x11, true);
  new DataView(old.buffer).setUint32(20, 1, true);
  const parsed = parseIntelMicrocode(old);
  assertEquals(typeof parsed === "string" ? parsed : parsed.map((u) => u.revision), [0x11]);
  // Something else than a table of exactly the room left is no table.
  const odd = intelUpdate({ revision: 1, date: 0, signature: 0x6f6, flags: 1, dataSize: 16 }, [
    { signature: 0x6f7, flags: 1 },
  ]);
  new DataView(odd.buffer).setUint32(48 + 16, 7, true);
  assertEquals(parseIntelMicrocode(odd), [{
    revision: 1,
    date: "0000-00-00",
    signatures: [{ signature: 0x6f6, flags: 1 }],
  }]);
});

Deno.test("parseIntelMicrocode() says why bytes are no microcode", () => {
  const good = intelUpdate({ revision: 1, date: 0, signature: 0x806ea, flags: 1, dataSize: 16 });
  const broken = (change: (view: DataView) => void) => {
    const bytes = good.slice();
    change(new DataView(bytes.buffer));
    return parseIntelMicrocode(bytes);
  };
  assertEquals(parseIntelMicrocode(good.subarray(0, 40)), "a truncated header at byte 0");
  assertEquals(
    parseIntelMicrocode(concat(good, good.subarray(0, 60))),
    "a truncated update at byte 64",
  );
  assertEquals(broken((v) => v.setUint32(0, 2, true)), "no update header at byte 0");
  assertEquals(broken((v) => v.setUint32(20, 0, true)), "no update header at byte 0");
  assertEquals(broken((v) => v.setUint32(32, 40, true)), "sizes that do not fit at byte 0");
  assertEquals(broken((v) => v.setUint32(28, 17, true)), "sizes that do not fit at byte 0");
  assertEquals(broken((v) => v.setUint32(32, 0x7ffffff0, true)), "a truncated update at byte 0");
  const many = concat(...Array.from({ length: 257 }, () => good));
  assertEquals(parseIntelMicrocode(many), "more than 256 updates");
  assertEquals(
    parseIntelMicrocode(new TextEncoder().encode("#".repeat(100))),
    "no update header at byte 0",
  );
  assertEquals(parseIntelMicrocode(new Uint8Array()), []);
});

Deno.test("parseAmdMicrocode() reads containers, their equivalence tables and patch headers", () => {
  const fam19 = amdContainer(
    [{ signature: 0xa00f11, id: 0xa011 }, { signature: 0xa00f12, id: 0xa012 }],
    [{ revision: 0x0a0011d3, id: 0xa011, date: 0 }, { revision: 0x0a001238, id: 0xa012, date: 0 }],
  );
  const fam17 = amdContainer([{ signature: 0x830f10, id: 0x8310 }], [
    { revision: 0x0830107a, id: 0x8310, date: 0 },
  ]);
  assertEquals(parseAmdMicrocode(concat(fam19, fam17)), [
    {
      equivalence: [{ signature: 0xa00f11, id: 0xa011 }, { signature: 0xa00f12, id: 0xa012 }],
      patches: [{ revision: 0x0a0011d3, id: 0xa011 }, { revision: 0x0a001238, id: 0xa012 }],
    },
    {
      equivalence: [{ signature: 0x830f10, id: 0x8310 }],
      patches: [{ revision: 0x0830107a, id: 0x8310 }],
    },
  ]);
  const broken = (at: number, value: number) => {
    const bytes = fam19.slice();
    new DataView(bytes.buffer).setUint32(at, value, true);
    return parseAmdMicrocode(bytes);
  };
  assertEquals(broken(0, 0x12345678), "no container at byte 0");
  assertEquals(broken(8, 1 << 20), "an equivalence table that does not fit at byte 0");
  assertEquals(broken(12 + 48, 2), "no patch section at byte 60"); // a section of type 2
  assertEquals(broken(12 + 48 + 4, 1 << 30), "no patch section at byte 60");
  assertEquals(
    parseAmdMicrocode(fam19.subarray(0, fam19.length - 1)),
    "no patch section at byte 324",
  );
  assertEquals(
    parseAmdMicrocode(concat(fam19, Uint8Array.from([1, 2, 3]))),
    "trailing bytes at 588",
  );
});

Deno.test("checkMicrocode() on the fixture roots: newer, current, not applicable, unknown", () => {
  assertEquals(checkMicrocode({ root: at("root_ucode_intel") }), {
    state: "newer",
    running: 0xf0,
    installed: 0xf4,
    source: "intel-ucode/06-8e-0a",
    reason: "CPU microcode 0xf0 is running, 0xf4 is installed (intel-ucode/06-8e-0a)",
  });
  assertEquals(checkMicrocode({ root: at("root_ucode_amd") }), {
    state: "current",
    running: 0x0a0011d3,
    installed: 0x0a0011d3,
    source: "amd-ucode/microcode_amd_fam19h.bin",
    reason:
      "CPU microcode 0xa0011d3 is running, none newer is installed (0xa0011d3 in amd-ucode/microcode_amd_fam19h.bin)",
  });
  const vm = checkMicrocode({ root: at("root_ucode_vm") });
  assertEquals([vm.state, vm.installed], ["not-applicable", null]);
  const none = checkMicrocode({ root: at("root_current") });
  assertEquals(none.state, "unknown");
  assertMatch(none.reason, /root_current\/proc\/cpuinfo cannot be read: it does not exist$/);
  // The proc root may be another than ROOT/proc.
  const elsewhere = checkMicrocode({
    root: at("root_ucode_intel"),
    proc: at("root_ucode_vm/proc"),
  });
  assertEquals(elsewhere.state, "not-applicable");
});

Deno.test("checkMicrocode() gives a verdict only where it holds exactly", async (t) => {
  const intel = (root: string, microcode: string, ...updates: Uint8Array[]) => {
    write(`${root}/proc/cpuinfo`, cpuinfo({ ...KABY_LAKE, microcode }));
    if (updates.length > 0) write(`${root}/lib/firmware/intel-ucode/06-8e-0a`, concat(...updates));
    return checkMicrocode({ root });
  };
  const update = (revision: number, flags: number) =>
    intelUpdate({ revision, date: 0x01012024, signature: 0x806ea, flags, dataSize: 16 });
  await t.step(
    "updates for two platforms: newer, current, or which one cannot be told",
    () =>
      withFixtureCopy(null, (root) => {
        const both = [update(0xf4, 0x40), update(0xf8, 0x80)];
        assertEquals(intel(root, "0xf0", ...both).state, "newer");
        assertEquals(
          intel(root, "0xf0", ...both).reason,
          "CPU microcode 0xf0 is running, 0xf4 to 0xf8, by platform is installed (intel-ucode/06-8e-0a)",
        );
        assertEquals(intel(root, "0xf8", ...both).state, "current");
        const between = intel(root, "0xf6", ...both);
        assertEquals([between.state, between.running, between.installed], ["unknown", 0xf6, null]);
        assertMatch(between.reason, /which platform this is cannot be read$/);
      }),
  );
  await t.step(
    "no file, no update for this CPU, a file that is no microcode",
    () =>
      withFixtureCopy(null, (root) => {
        assertMatch(intel(root, "0xf0").reason, /^intel-ucode\/06-8e-0a: it does not exist$/);
        const other = intelUpdate({
          revision: 9,
          date: 0,
          signature: 0x906ea,
          flags: 1,
          dataSize: 16,
        });
        assertEquals(
          intel(root, "0xf0", other).reason,
          "intel-ucode/06-8e-0a holds no update for signature 0x806ea",
        );
        const garbage = intel(root, "0xf0", Uint8Array.from({ length: 4096 }, (_, i) => i % 256));
        assertEquals([garbage.state, garbage.reason], [
          "unknown",
          "intel-ucode/06-8e-0a: no update header at byte 0",
        ]);
      }),
  );
  await t.step(
    "a huge file, a FIFO: refused without reading",
    () =>
      withFixtureCopy(null, (root) => {
        write(`${root}/proc/cpuinfo`, cpuinfo({ ...KABY_LAKE, microcode: "0xf0" }));
        const path = `${root}/lib/firmware/intel-ucode/06-8e-0a`;
        write(path, "");
        const file = Deno.openSync(path, { write: true });
        file.truncateSync((16 << 20) + 1); // sparse
        file.close();
        assertMatch(checkMicrocode({ root }).reason, /: larger than 16777216 bytes$/);
        Deno.removeSync(path);
        new Deno.Command("mkfifo", { args: [path] }).outputSync();
        assertEquals(checkMicrocode({ root }).reason, "intel-ucode/06-8e-0a: not a regular file");
      }),
  );
  await t.step(
    "not x86, no revision shown, usr/lib/firmware",
    () =>
      withFixtureCopy(null, (root) => {
        write(`${root}/proc/cpuinfo`, "processor\t: 0\nCPU implementer\t: 0x41\n\n");
        assertEquals(checkMicrocode({ root }).reason, "not an Intel or AMD x86 CPU (no vendor_id)");
        write(`${root}/proc/cpuinfo`, cpuinfo(KABY_LAKE));
        assertEquals(
          checkMicrocode({ root }).reason,
          "cpuinfo does not show the running microcode revision",
        );
        write(`${root}/proc/cpuinfo`, cpuinfo({ ...KABY_LAKE, microcode: "0xf0" }));
        write(`${root}/usr/lib/firmware/intel-ucode/06-8e-0a`, update(0xf4, 1));
        assertEquals(checkMicrocode({ root }).installed, 0xf4);
        write(`${root}/proc/cpuinfo`, "garbage\0\xff");
        assertMatch(checkMicrocode({ root }).reason, /cpuinfo lists no processor$/);
      }),
  );
  await t.step(
    "two kinds of processor: the one with a newer update speaks",
    () =>
      withFixtureCopy("root_ucode_amd", (root) => {
        const cpus = Deno.readTextFileSync(`${root}/proc/cpuinfo`) +
          cpuinfo({
            ...KABY_LAKE,
            vendor_id: "AuthenticAMD",
            "cpu family": "25",
            model: "1",
            stepping: "2",
            microcode: "0xa001200",
          })
            .replace("processor\t: 0", "processor\t: 2");
        write(`${root}/proc/cpuinfo`, cpus);
        const status = checkMicrocode({ root });
        assertEquals([status.state, status.running, status.installed], [
          "newer",
          0xa001200,
          0x0a001238,
        ]);
      }),
  );
  await t.step(
    "an AMD file that is no container",
    () =>
      withFixtureCopy("root_ucode_amd", (root) => {
        write(`${root}/lib/firmware/amd-ucode/microcode_amd_fam17h.bin`, "not microcode");
        assertEquals(
          checkMicrocode({ root }).reason,
          "amd-ucode/microcode_amd_fam17h.bin: no container at byte 0",
        );
      }),
  );
});

Deno.test("checkMicrocode() on the live host gives one of its states, with a reason", () => {
  const status = checkMicrocode();
  assert(["current", "newer", "not-applicable", "unknown"].includes(status.state));
  assert(status.reason.length > 0);
  if (status.state === "unknown") assertEquals(status.installed, null);
});
