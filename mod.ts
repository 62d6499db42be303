/**
 * Finds processes that still use deleted files — shared libraries and
 * executables replaced by a package update (`scanLibs`), or open files such as
 * rotated logs (`scanFds`) — so an admin knows what to restart.
 *
 * A Deno re-implementation of the Python `lib_users` and `fd_users` tools: the
 * same grouping and output formats, but exact with hostile file names and
 * command lines (bytes, control characters, separators).
 *
 * Reading `/proc` needs `--allow-all`: Deno refuses reads under `/proc` with
 * anything less. A procfs mounted elsewhere, or a fixture tree, needs only
 * `--allow-read` on it (pass it as `proc`).
 *
 * ```ts
 * import { formatMachine, groupByArgv, scanLibs } from "./mod.ts";
 * import { assertStringIncludes } from "@std/assert";
 *
 * // The fixture tree of this repository; `scanLibs()` alone reads /proc (needs -A).
 * const result = await scanLibs({ proc: "testdata/proc" });
 * const text = formatMachine(groupByArgv(result.processes));
 * assertStringIncludes(text, "99,1000;/usr/lib/x86_64-linux-gnu/libc.so.6");
 * ```
 *
 * @module
 */

export { scanFds, scanLibs, type ScanOptions } from "./lib/scan/scan.ts";
export {
  DEFAULT_NAME_BUDGET,
  type DeletedFile,
  type FileKind,
  MAX_UNREADABLE_LISTED,
  type NameBudget,
  type ProcessFinding,
  ProcRootError,
  type ScanResult,
  type UnreadableProcess,
} from "./lib/scan/model.ts";
export { fileNames, type Group, groupByArgv } from "./lib/scan/group.ts";
export { formatHuman, type HumanFormatOptions, type HumanStyle } from "./lib/format/human.ts";
export { formatMachine, type MachineRecord, parseMachine } from "./lib/format/machine.ts";
export {
  formatJson,
  JSON_SCHEMA_VERSION,
  type JsonFile,
  type JsonFormatOptions,
  type JsonGroup,
  type JsonReboot,
  type JsonReport,
  type ScanKind,
  toJsonReport,
} from "./lib/format/json.ts";
export {
  compileIgnore,
  DEFAULT_IGNORE_LITERALS,
  DEFAULT_IGNORE_PATTERNS,
  DEFAULT_IGNORE_RULES,
  type IgnoreRules,
} from "./lib/scan/ignore.ts";
export { type DeletedMapping, parseMapsLine } from "./lib/proc/maps.ts";
export { escapeForTerminal } from "./lib/format/escape.ts";
export { decodeName, encodeName, hasRawBytes } from "./lib/proc/names.ts";
export { formatServices } from "./lib/format/services.ts";
export {
  parseSystemctlStatus,
  type SystemctlOptions,
  type UnitsByPid,
  unitsFromGroups,
  unitsFromSystemctl,
} from "./lib/answers/services.ts";
export {
  classifyCgroup,
  type ContainerRef,
  type ContainerRuntime,
  parseCgroupFile,
  type UnitClass,
  type UnitInfo,
  UNKNOWN_UNIT,
} from "./lib/proc/cgroup.ts";
export { formatRestartPlan } from "./lib/format/restart.ts";
export {
  type PlanOptions,
  planRestarts,
  type RestartPlan,
  riskOf,
  type RiskyUnit,
  type SessionToEnd,
} from "./lib/answers/restart.ts";
export {
  formatNagios,
  NAGIOS_STATUS,
  type NagiosOptions,
  type NagiosRange,
  nagiosRangeAlerts,
  type NagiosResult,
  parseNagiosRange,
} from "./lib/format/nagios.ts";
export { formatPrometheus, type PrometheusOptions } from "./lib/format/prometheus.ts";
export {
  checkReboot,
  type RebootCheck,
  rebootKnown,
  type RebootOptions,
  type RebootReason,
  type Verdict,
  verdictOf,
} from "./lib/answers/reboot.ts";
export {
  checkKernel,
  findInstalledKernels,
  type InstalledKernel,
  type KernelOptions,
  type KernelState,
  type KernelStatus,
  parseKernelImageVersion,
} from "./lib/answers/kernel.ts";
export { compareVersions } from "./lib/answers/versions.ts";
export { formatReboot } from "./lib/format/reboot.ts";
export { canonicalPath, findPackageOwners, type PackageOwner } from "./lib/answers/packages.ts";
export {
  findProcessPackages,
  type PackageLookup,
  type ProcessPackages,
  type ProcessPackagesOptions,
} from "./lib/answers/package_roots.ts";
export {
  type FilePackages,
  filePackages,
  formatPackages,
  formatPackagesMachine,
  packageLabel,
  type PackageOwners,
  type PackageUse,
  packageUses,
} from "./lib/format/packages.ts";
export {
  type Interpreter,
  interpreterOf,
  type ScriptArgument,
  scriptArgument,
} from "./lib/scan/scripts.ts";
export { findRpmOwners } from "./lib/answers/rpm.ts";
