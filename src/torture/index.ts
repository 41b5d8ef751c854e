// The public surface of src/torture: `flotilla torture`, fault runs against real processes.
export { runTortureCommand, EXIT_INTERRUPTED, type TortureCommandIo } from "./command.js";
export { runTorture, TortureInterrupted, type TortureIo } from "./run.js";
export {
  parseTortureArgs,
  parseNemesis,
  formatNemesis,
  replayCommand,
  NEMESIS_KINDS,
  PROFILES,
  TORTURE_USAGE,
  TortureUsageError,
  type NemesisKind,
  type NetworkMode,
  type Pacing,
  type ProfileName,
  type TortureOptions,
} from "./options.js";
export { planSchedule, describePlan, type FaultPlan, type PartitionShape, type TargetPick, type ScheduleInput } from "./schedule.js";
export { writeReport, summaryLine, type ReportData, type TortureSummary } from "./report.js";
