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

// The scan: which processes use deleted files.
export { scanFds, scanLibs, type ScanOptions } from "./lib/scan/scan.ts";
export {
  DEFAULT_NAME_BUDGET,
  type DeletedFile,
  type FileKind,
  type FileState,
  MAX_UNREADABLE_LISTED,
  type NameBudget,
  type ProcessFinding,
  ProcRootError,
  type ScanKind,
  type ScanResult,
  type UnreadableProcess,
} from "./lib/scan/model.ts";
export {
  DEFAULT_IGNORE_LITERALS,
  DEFAULT_IGNORE_PATTERNS,
  DEFAULT_IGNORE_RULES,
  type IgnoreRules,
} from "./lib/scan/ignore.ts";
export { fileNames, type Group, groupByArgv } from "./lib/scan/group.ts";
export { type LeftOut, type Narrowed, narrowFindings, type Narrowing } from "./lib/scan/narrow.ts";

// Reading /proc: names as bytes, maps lines, cgroups.
export { decodeName, encodeName, hasRawBytes } from "./lib/proc/names.ts";
export { type DeletedMapping, parseMapsLine } from "./lib/proc/maps.ts";
export {
  classifyCgroup,
  type ContainerRef,
  type ContainerRuntime,
  parseCgroupFile,
  type UnitClass,
  type UnitInfo,
  UNKNOWN_UNIT,
} from "./lib/proc/cgroup.ts";

// The answers: units, the restart plan, the reboot question, packages.
export {
  type SystemctlOptions,
  type UnitsByPid,
  unitsFromGroups,
  unitsFromSystemctl,
} from "./lib/answers/services.ts";
export {
  type ContainerUnit,
  type PlanOptions,
  planRestarts,
  type RestartPlan,
  type RiskyUnit,
  type SessionToEnd,
  type TemporaryOnly,
} from "./lib/answers/restart.ts";
export {
  type NextStep,
  nextStep,
  type NextStepInput,
  type NextStepKind,
  nextStepOfPlan,
  runningSystemdVersion,
  SOFT_REBOOT_SINCE,
} from "./lib/answers/next_step.ts";
export {
  type Fleet,
  FLEET_SCHEMA_VERSION,
  type FleetHost,
  type FleetItem,
  type HostReport,
  mergeReports,
  readReport,
  type ReportProblem,
} from "./lib/answers/fleet.ts";
export {
  checkReboot,
  type RebootCheck,
  type RebootOptions,
  type RebootReason,
  type RebootVerdict,
} from "./lib/answers/reboot.ts";
export {
  type BootedKernel,
  type BootSource,
  checkKernel,
  type InstalledKernel,
  type KernelOptions,
  type KernelState,
  type KernelStatus,
} from "./lib/answers/kernel.ts";
export {
  checkMicrocode,
  type MicrocodeOptions,
  type MicrocodeState,
  type MicrocodeStatus,
} from "./lib/answers/microcode.ts";
export { compareVersions } from "./lib/answers/versions.ts";
export { findPackageOwners, type PackageOwner } from "./lib/answers/packages.ts";
export { findRpmOwners } from "./lib/answers/rpm.ts";
export {
  findProcessPackages,
  type PackageLookup,
  type ProcessPackages,
  type ProcessPackagesOptions,
  withPackageTimes,
} from "./lib/answers/package_roots.ts";

// Acting (`--restart`): the steps a run may take, and what each did.
export {
  type LeftStep,
  RESTART_KINDS,
  type RestartChoice,
  type RestartKind,
  type RestartStep,
  restartSteps,
  type StepOptions,
} from "./lib/act/steps.ts";
export { type RestartRun, type StepOutcome, type Survivor } from "./lib/act/verify.ts";

// The formats: every text the tool prints.
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
  toJsonReport,
} from "./lib/format/json.ts";
export { type JsonRestart, type JsonRestartStep } from "./lib/format/restart_json.ts";
export {
  formatNagios,
  NAGIOS_STATUS,
  type NagiosOptions,
  type NagiosRange,
  type NagiosResult,
  parseNagiosRange,
} from "./lib/format/nagios.ts";
export { formatPrometheus, type PrometheusOptions } from "./lib/format/prometheus.ts";
export { formatFleetHuman, formatFleetJson, formatFleetMachine } from "./lib/format/fleet.ts";
export {
  formatNeedrestart,
  NEEDRESTART_BATCH_VERSION,
  type NeedrestartOptions,
} from "./lib/format/needrestart.ts";
export { formatServices } from "./lib/format/services.ts";
export { formatRestartPlan } from "./lib/format/restart.ts";
export { formatReboot } from "./lib/format/reboot.ts";
export { formatPackages, type PackageOwners } from "./lib/format/packages.ts";
export { escapeForTerminal } from "./lib/format/escape.ts";
