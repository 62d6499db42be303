import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  findBootDefault,
  type GrubItem,
  parseBlsEntry,
  parseGrubConfig,
  parseGrubEnv,
  parseLoaderConf,
  resolveGrubDefault,
  sortBlsEntries,
} from "../../lib/answers/boot_loader.ts";
import { ROOT, withFixtureCopy } from "../_helpers.ts";

const at = (name: string) => `${ROOT}/testdata/${name}`;
const UUID = "5e8f0c3a-41d2-4b7e-9a6c-2d1f7e9b3c40";
const MACHINE = "0f3c6e2a9b8d4c51a7e2f0d1c4b3a596";

/** The value, or a failure: @std/assert from npm has no types, so its assert() narrows nothing. */
function present<T>(value: T | null | undefined, what = "a value"): T {
  if (value === null || value === undefined) throw new Error(`Expected ${what}`);
  return value;
}

/** An item of the given kind, or a failure. */
function kind<K extends GrubItem["kind"]>(
  item: GrubItem | undefined,
  want: K,
): GrubItem & { kind: K } {
  if (item?.kind !== want) throw new Error(`Expected a ${want}, got ${item?.kind}`);
  return item as GrubItem & { kind: K };
}

function write(path: string, text: string | Uint8Array): void {
  Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  if (typeof text === "string") Deno.writeTextFileSync(path, text);
  else Deno.writeFileSync(path, text);
}

/** The titles of a menu, submenus as [title, their titles]. */
function titles(items: readonly GrubItem[]): unknown[] {
  return items.map((item) =>
    item.kind === "submenu"
      ? [item.title, titles(item.items)]
      : item.kind === "entry"
      ? item.title
      : item.kind
  );
}

const MENU = `load_env
set default="\${saved_entry}"
menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'simple' {
  linux /boot/vmlinuz-6.1.0-11-amd64 root=UUID=x ro quiet
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'advanced' {
  menuentry 'Debian GNU/Linux, with Linux 6.1.0-11-amd64' $menuentry_id_option 'new' {
    linux /boot/vmlinuz-6.1.0-11-amd64
  }
  menuentry 'Debian GNU/Linux, with Linux 6.1.0-11-amd64 (recovery mode)' --id=new-recovery {
    linux /boot/vmlinuz-6.1.0-11-amd64 single
  }
  menuentry 'Debian GNU/Linux, with Linux 6.1.0-9-amd64' $menuentry_id_option 'old' {
    linux /boot/vmlinuz-6.1.0-9-amd64
  }
}
menuentry 'Xen > 4.17' --id xen {
  multiboot2 /boot/xen.gz placeholder
  module2 /boot/vmlinuz-6.1.0-10-amd64 placeholder root=UUID=x
  module2 --nounzip /boot/initrd.img-6.1.0-10-amd64
}
menuentry 'UEFI Firmware Settings' $menuentry_id_option 'uefi-firmware' { fwsetup }
`;

Deno.test("parseGrubConfig() reads Debian's grub.cfg: entries, the submenu, ids, images", () => {
  const config = present(parseGrubConfig(
    Deno.readTextFileSync(at("root_grub_pinned/boot/grub/grub.cfg")),
  ));
  assertEquals(titles(config.items), [
    "Debian GNU/Linux",
    ["Advanced options for Debian GNU/Linux", [
      "Debian GNU/Linux, with Linux 6.1.0-10-amd64",
      "Debian GNU/Linux, with Linux 6.1.0-10-amd64 (recovery mode)",
      "Debian GNU/Linux, with Linux 6.1.0-9-amd64",
      "Debian GNU/Linux, with Linux 6.1.0-9-amd64 (recovery mode)",
    ]],
    "UEFI Firmware Settings",
  ]);
  const submenu = kind(config.items[1], "submenu");
  assertEquals(submenu.id, `gnulinux-advanced-${UUID}`);
  const old = kind(submenu.items[2], "entry");
  assertEquals([old.id, old.image], [
    `gnulinux-6.1.0-9-amd64-advanced-${UUID}`,
    "/boot/vmlinuz-6.1.0-9-amd64",
  ]);
  assertEquals(config.loadsEnv, true);
  // The functions' bodies are no menu and no top-level command.
  assert(!config.commands.some((words) => words[0] === "saved_entry=${chosen}"));
});

Deno.test("parseGrubConfig() takes one-line blocks, Xen's module, quotes; refuses unbalanced braces", () => {
  const config = parseGrubConfig(MENU)!;
  const xen = kind(config.items[2], "entry");
  assertEquals([xen.title, xen.image], ["Xen > 4.17", "/boot/vmlinuz-6.1.0-10-amd64"]);
  assertEquals(titles(config.items).at(-1), "UEFI Firmware Settings");
  const quoted = parseGrubConfig(
    `menuentry 'it'\\''s "here"' --id q { linux (hd0,gpt2)/vmlinuz-x }`,
  );
  assertEquals(quoted?.items, [
    { kind: "entry", title: `it's "here"`, id: "q", image: "/vmlinuz-x" },
  ]);
  assertEquals(parseGrubConfig("menuentry 'a' {\n linux /x\n"), null);
  assertEquals(parseGrubConfig("}\n"), null);
  assertEquals(parseGrubConfig("")?.items, []);
});

Deno.test("parseGrubEnv() reads the environment block and grub-editenv's escapes", () => {
  assertEquals(
    parseGrubEnv(
      "# GRUB Environment Block\nsaved_entry=a\\\\b>c\nnext_entry=\nx=1\n" + "#".repeat(900),
    ),
    { saved_entry: "a\\b>c", next_entry: "", x: "1" },
  );
  assertEquals(parseGrubEnv("\0\xff garbage"), {});
});

Deno.test("resolveGrubDefault() chooses as GRUB's menu.c does", async (t) => {
  const config = parseGrubConfig(MENU)!;
  const cases: [string, Record<string, string>, string, string | RegExp][] = [
    [
      "saved_entry by ids through the submenu",
      { saved_entry: "advanced>old" },
      "6.1.0-9",
      /^saved/,
    ],
    [
      "saved_entry by titles",
      {
        saved_entry:
          "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-9-amd64",
      },
      "6.1.0-9",
      "saved_entry in grubenv",
    ],
    ["a number path, as strtoul reads 1>2", { saved_entry: "1>2" }, "6.1.0-9", /^saved/],
    ["a hexadecimal number", { saved_entry: "0x2" }, "6.1.0-10", /^saved/],
    ["a submenu alone: its first entry", { saved_entry: "advanced" }, "6.1.0-11", /^saved/],
    [
      "an id that names nothing: the first entry",
      { saved_entry: "gone" },
      "6.1.0-11",
      /"gone" names no entry: the first/,
    ],
    [
      "a path whose end names nothing: that submenu's first",
      { saved_entry: "advanced>gone" },
      "6.1.0-11",
      /"gone" names no entry/,
    ],
    ["an index past the end: the first entry", { saved_entry: "42" }, "6.1.0-11", /names no entry/],
    ["`>>` is a `>` in a title", { saved_entry: "Xen >> 4.17" }, "6.1.0-10", /^saved/],
    ["no saved_entry: the first entry", {}, "6.1.0-11", "saved_entry empty: the first entry"],
  ];
  for (const [what, env, release, via] of cases) {
    await t.step(what, () => {
      const choice = resolveGrubDefault(config, env);
      if (typeof choice === "string") throw new Error(choice);
      assertEquals(choice.entry.image, `/boot/vmlinuz-${release}-amd64`);
      if (typeof via === "string") assertEquals(choice.via, via);
      else assertMatch(choice.via, via);
    });
  }
});

Deno.test("resolveGrubDefault() runs the header's if and set: next_entry once, Fedora's boot counting", async (t) => {
  const header = (then: string, otherwise: string) =>
    `load_env\nif [ "\${next_entry}" ] ; then\n   set default="${then}"\n   set next_entry=\n` +
    `else\n   set default="${otherwise}"\nfi\n${MENU.split("\n").slice(2).join("\n")}`;
  const image = (config: string, env: Record<string, string>) => {
    const choice = resolveGrubDefault(parseGrubConfig(config)!, env);
    return typeof choice === "string" ? choice : [choice.entry.image, choice.via];
  };
  await t.step("next_entry wins once over saved_entry", () => {
    assertEquals(
      image(header("${next_entry}", "${saved_entry}"), {
        next_entry: "advanced>old",
        saved_entry: "new",
      }),
      ["/boot/vmlinuz-6.1.0-9-amd64", "next_entry in grubenv (this boot only)"],
    );
    assertEquals(
      image(header("${next_entry}", "${saved_entry}"), { next_entry: "", saved_entry: "xen" }),
      ["/boot/vmlinuz-6.1.0-10-amd64", "saved_entry in grubenv"],
    );
  });
  await t.step("a literal default (GRUB_DEFAULT=2)", () => {
    assertEquals(image(header("${next_entry}", "2"), {}), [
      "/boot/vmlinuz-6.1.0-10-amd64",
      'default="2"',
    ]);
  });
  await t.step("without load_env, grubenv does not count", () => {
    const config = MENU.replace("load_env\n", "");
    assertEquals(image(config, { saved_entry: "advanced>old" })[0], "/boot/vmlinuz-6.1.0-11-amd64");
  });
  await t.step("a branch whose test is false is skipped (Fedora's boot counting)", () => {
    const counting = `${MENU}\nif [ -n "\${boot_counter}" -a "\${boot_success}" = "0" ]; then\n` +
      `  if  [ "\${boot_counter}" = "0" -o "\${boot_counter}" = "-1" ]; then\n    set default=1\n  fi\nfi\n`;
    assertEquals(
      image(counting, { saved_entry: "xen", boot_success: "1" })[0],
      "/boot/vmlinuz-6.1.0-10-amd64",
    );
    // With the counter run down, the branch is taken: default=1 (the submenu's first).
    assertEquals(
      image(counting, { saved_entry: "xen", boot_success: "0", boot_counter: "0" })[0],
      "/boot/vmlinuz-6.1.0-11-amd64",
    );
  });
  await t.step("a default set under a test that cannot be evaluated is not known", () => {
    assertMatch(
      String(image(`${MENU}\nif loadfont unicode ; then\n  set default=2\nfi\n`, {})),
      /condition that cannot be evaluated/,
    );
    assertMatch(
      String(image(`${MENU}\nif [ "$grub_platform" = "efi" ]; then set default=2; fi\n`, {})),
      /condition that cannot be evaluated/,
    );
    // One that sets something else does not matter.
    assertEquals(
      image(`${MENU}\nif loadfont unicode ; then\n  set gfxmode=auto\nfi\n`, {
        saved_entry: "xen",
      })[0],
      "/boot/vmlinuz-6.1.0-10-amd64",
    );
  });
});

Deno.test("parseBlsEntry() and sortBlsEntries() order entries as systemd-boot does", () => {
  const entry = (file: string, text: string) => parseBlsEntry(text, file);
  const entries = [
    entry("b.conf", "title B\nversion 3\nmachine-id b75451ad92f94feeab50b0b442768dbd"),
    entry("a-5.conf", "title A\nversion 5\nmachine-id dd235d00696545768f6f693bfd23b15f"),
    entry("cx.conf", "sort-key xxxx\nversion 10\nmachine-id 309de666fd5044268a9a26541ac93176"),
    entry("a-10.conf", "title A\nversion 10\nmachine-id dd235d00696545768f6f693bfd23b15f"),
    entry("d.conf", "sort-key kkkk\nversion 100\nmachine-id 81c6e3147cf544c19006af023e22b292"),
    entry("c.conf", "sort-key xxxx\nversion 5\nmachine-id 309de666fd5044268a9a26541ac93176"),
    entry("z+0-3.conf", "sort-key aaaa\nversion 999"),
    entry(
      "y+2-1.conf",
      "sort-key xxxx\nversion 10~rc1\nmachine-id 309de666fd5044268a9a26541ac93176",
    ),
  ];
  // sort-key first (kkkk, xxxx: version newest first, ~rc before its release), then by id
  // newest first; an entry with no tries left last.
  assertEquals(sortBlsEntries(entries).map((e) => e.file), [
    "d.conf",
    "cx.conf",
    "y+2-1.conf",
    "c.conf",
    "b.conf",
    "a-10.conf",
    "a-5.conf",
    "z+0-3.conf",
  ]);
  assertEquals(entries[6]!.id, "z");
  assertEquals(entries[6]!.triesLeft, 0);
  const kernels = ["6.1.0-9-amd64", "6.1.0-10-amd64", "6.1.0-10~rc1-amd64", "6.1.0-10.1-amd64"];
  const sorted = sortBlsEntries(kernels.map((v) => entry(`${v}.conf`, `sort-key d\nversion ${v}`)));
  assertEquals(sorted.map((e) => e.version), [
    "6.1.0-10.1-amd64",
    "6.1.0-10-amd64",
    "6.1.0-10~rc1-amd64",
    "6.1.0-9-amd64",
  ]);
});

Deno.test("parseLoaderConf() gives the last default, or none", () => {
  assertEquals(parseLoaderConf("timeout 3\ndefault a-*\n  default   b.conf  \n"), "b.conf");
  assertEquals(parseLoaderConf("#default a\ntimeout 3\ndefaults x\n"), null);
  assertEquals(parseLoaderConf("\0\xff\n"), null);
});

Deno.test("findBootDefault() on the fixture roots", async (t) => {
  const cases: [string, Record<string, unknown>][] = [
    ["root_grub_pinned", {
      source: "grub",
      entry: "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-9-amd64",
      via: "saved_entry in boot/grub/grubenv",
      release: "6.1.0-9-amd64",
    }],
    ["root_grub_submenu", {
      source: "grub",
      via:
        'default="Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-10-amd64"',
      release: "6.1.0-10-amd64",
      // /boot is its own partition: the path is relative to it.
      image: "/vmlinuz-6.1.0-10-amd64",
    }],
    ["root_bls", {
      source: "bls",
      entry: `${MACHINE}-6.5.6-300.fc39.x86_64.conf`,
      via: "saved_entry in boot/grub2/grubenv",
      release: "6.5.6-300.fc39.x86_64",
    }],
    ["root_sdboot", {
      source: "systemd-boot",
      entry: `${MACHINE}-6.1.0-10-amd64.conf`,
      via: "the first entry",
      release: "6.1.0-10-amd64",
      path: `${at("root_sdboot")}/efi/${MACHINE}/6.1.0-10-amd64/linux`,
    }],
  ];
  for (const [root, expected] of cases) {
    await t.step(root, () => {
      const { boots: found, reason } = findBootDefault(at(root));
      const boots = present(found, reason);
      for (const [key, value] of Object.entries(expected)) {
        assertEquals(boots[key as keyof typeof boots], value, key);
      }
    });
  }
  await t.step("no boot loader", () => {
    assertEquals(findBootDefault(at("root_current")), {
      boots: null,
      reason: "no GRUB or systemd-boot configuration found",
    });
  });
});

Deno.test("findBootDefault() says why where the default is not known exactly", async (t) => {
  const grubenv = (root: string, saved: string) =>
    write(`${root}/boot/grub/grubenv`, `# GRUB Environment Block\nsaved_entry=${saved}\n`);
  await t.step(
    "the default entry's kernel is not there",
    () =>
      withFixtureCopy("root_grub_pinned", (root) => {
        Deno.removeSync(`${root}/boot/vmlinuz-6.1.0-9-amd64`);
        const { boots, reason } = findBootDefault(root);
        assertEquals(boots, null);
        assertMatch(
          reason,
          /^grub entry ".*6\.1\.0-9-amd64" boots \/boot\/vmlinuz-6\.1\.0-9-amd64, which is not there$/,
        );
      }),
  );
  await t.step(
    "saved_entry names an entry that is gone: GRUB boots the first",
    () =>
      withFixtureCopy("root_grub_pinned", (root) => {
        grubenv(root, `gnulinux-advanced-${UUID}>gnulinux-6.1.0-8-amd64-advanced-${UUID}`);
        const { boots } = findBootDefault(root);
        assertEquals(boots?.release, "6.1.0-10-amd64");
        assertMatch(boots?.via ?? "", /6\.1\.0-8-amd64.*names no entry: the first\)$/);
      }),
  );
  await t.step(
    "hostile grub.cfg: huge, binary, a FIFO, unbalanced",
    () =>
      withFixtureCopy("root_grub_pinned", (root) => {
        const config = `${root}/boot/grub/grub.cfg`;
        const file = Deno.openSync(config, { write: true, truncate: true });
        file.truncateSync((1 << 20) + 1); // sparse: a size past the bound costs nothing to make
        file.close();
        assertEquals(findBootDefault(root).reason, "boot/grub/grub.cfg: larger than 1048576 bytes");
        write(config, Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));
        assertMatch(
          findBootDefault(root).reason,
          /^boot\/grub\/grub\.cfg: (no menu entry to boot|its braces do not balance)$/,
        );
        write(config, "menuentry 'a' {\n linux /boot/vmlinuz-6.1.0-9-amd64\n");
        assertEquals(findBootDefault(root).reason, "boot/grub/grub.cfg: its braces do not balance");
        Deno.removeSync(config);
        new Deno.Command("mkfifo", { args: [config] }).outputSync();
        // Never opened: a FIFO would block the read for ever.
        assertEquals(findBootDefault(root).reason, "no GRUB or systemd-boot configuration found");
      }),
  );
  await t.step(
    "both GRUB and systemd-boot: LoaderInfo decides, else not known",
    () =>
      withFixtureCopy("root_sdboot", (root) => {
        write(`${root}/boot/grub/grub.cfg`, "menuentry 'a' { linux /vmlinuz-6.1.0-9-amd64 }\n");
        assertEquals(
          findBootDefault(root).reason,
          "both GRUB and systemd-boot are installed, and which one starts is not known",
        );
        const efivar = (name: string, text: string) =>
          write(
            `${root}/sys/firmware/efi/efivars/${name}-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f`,
            Uint8Array.from([
              6,
              0,
              0,
              0,
              ...new Uint8Array(
                new Uint16Array([...`${text}\0`].map((c) => c.charCodeAt(0))).buffer,
              ),
            ]),
          );
        efivar("LoaderInfo", "systemd-boot 252.22-1~deb12u1");
        assertEquals(findBootDefault(root).boots?.release, "6.1.0-10-amd64");
        // bootctl set-default: the EFI variable wins over loader.conf and the order.
        efivar("LoaderEntryDefault", `${MACHINE}-6.1.0-9-amd64.conf`);
        assertEquals(findBootDefault(root).boots?.via, "the EFI variable LoaderEntryDefault");
        assertEquals(findBootDefault(root).boots?.release, "6.1.0-9-amd64");
        efivar("LoaderInfo", "GRUB 2.12");
        assertMatch(
          findBootDefault(root).reason,
          /^grub entry "a" boots \/vmlinuz-6\.1\.0-9-amd64/,
        );
      }),
  );
  await t.step(
    "loader.conf: a glob, @saved, one that matches nothing",
    () =>
      withFixtureCopy("root_sdboot", (root) => {
        const conf = (line: string) =>
          write(`${root}/efi/loader/loader.conf`, `timeout 3\n${line}\n`);
        conf(`default ${MACHINE.toUpperCase()}-6.1.0-9-*`);
        assertEquals(findBootDefault(root).boots?.release, "6.1.0-9-amd64");
        conf("default memtest86+.conf");
        assertEquals(
          findBootDefault(root).reason,
          'systemd-boot entry "memtest86+.conf" boots no Linux kernel',
        );
        conf("default nothing-*");
        assertEquals(
          findBootDefault(root).boots?.via,
          "the first entry (no entry matches nothing-*)",
        );
        conf("default @saved");
        assertMatch(findBootDefault(root).reason, /@saved, and the saved entry cannot be read/);
      }),
  );
  await t.step(
    "not permitted to read the configuration",
    () =>
      withFixtureCopy("root_grub_pinned", async (root) => {
        const probe = `${root}/probe.ts`;
        write(
          probe,
          `import { findBootDefault } from "${ROOT}/lib/answers/boot_loader.ts";\n` +
            `console.log(findBootDefault(${JSON.stringify(root)}).reason);\n`,
        );
        // Only the code and one image may be read: every configuration is refused by Deno.
        const run = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--no-config",
            `--allow-read=${ROOT}/lib,${probe},${root}/boot/vmlinuz-6.1.0-9-amd64`,
            probe,
          ],
          env: { NO_COLOR: "1" },
        }).output();
        assertEquals(new TextDecoder().decode(run.stderr), "");
        assertEquals(
          new TextDecoder().decode(run.stdout).trim(),
          "no GRUB or systemd-boot configuration found (not permitted to read boot/grub/grub.cfg, " +
            "boot/grub2/grub.cfg, efi/loader/loader.conf, boot/efi/loader/loader.conf, boot/loader/loader.conf)",
        );
      }),
  );
});

Deno.test("findBootDefault() says unknown where part of the menu is not read: a sourced custom.cfg, unified kernel images", async () => {
  await withFixtureCopy("root_grub_pinned", (root) => {
    assertEquals(findBootDefault(root).boots?.release, "6.1.0-9-amd64");
    Deno.writeTextFileSync(`${root}/boot/grub/custom.cfg`, "set default=1\n");
    const { boots, reason } = findBootDefault(root);
    assertEquals(boots, null);
    assertEquals(reason, "boot/grub/grub.cfg sources boot/grub/custom.cfg, which is not read");
  });
  await withFixtureCopy("root_sdboot", (root) => {
    assert(findBootDefault(root).boots !== null);
    Deno.mkdirSync(`${root}/efi/EFI/Linux`, { recursive: true });
    Deno.writeFileSync(`${root}/efi/EFI/Linux/debian-6.1.0-30-amd64.efi`, new Uint8Array(16));
    const { boots, reason } = findBootDefault(root);
    assertEquals(boots, null);
    assertMatch(reason, /unified kernel images in efi\/EFI\/Linux, which are not read$/);
  });
});
