/**
 * The public surface of src/sim: the deterministic cluster simulator and the `flotilla sim`
 * command. See README.md for what a run does and what it checks.
 */
export { runSimulation, type SimOptions, type SimResult, type SimBug } from "./simulation.js";
export { runSimCommand, parseSimArgs, replayCommand, type SimCommandOptions, type SimCommandIo, type SimCommandTotals } from "./cli.js";
export { FAULT_KINDS, parseFaults, formatFaults, SimUsageError, type FaultKind } from "./faults.js";
export type { OpCounts } from "./clients.js";
export type { NetworkCounters } from "./network.js";
