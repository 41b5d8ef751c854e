/**
 * The kinds of fault a simulation may inject, and the rates one seed draws for them. Every
 * rate comes from the run's Rng, so a seed names one exact adversary (TigerBeetle's VOPR rule).
 */
import type { Rng } from "../util/rng.js";

export const FAULT_KINDS = ["loss", "dup", "reorder", "partition", "crash", "membership", "snapshot", "transfer", "figure8"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export class SimUsageError extends Error {
  override name = "SimUsageError";
  readonly code = "sim_usage";
}

/** "all", "none", or a comma-separated list of fault kinds. */
export function parseFaults(text: string): Set<FaultKind> {
  const trimmed = text.trim();
  if (trimmed === "all") return new Set(FAULT_KINDS);
  if (trimmed === "none" || trimmed === "") return new Set();
  const faults = new Set<FaultKind>();
  for (const part of trimmed.split(",")) {
    const name = part.trim();
    if (!(FAULT_KINDS as readonly string[]).includes(name)) {
      throw new SimUsageError(`unknown fault "${name}": expected all, none, or a list of ${FAULT_KINDS.join(",")}`);
    }
    faults.add(name as FaultKind);
  }
  return faults;
}

/** The canonical spelling of a fault set, as --faults takes it. */
export function formatFaults(faults: ReadonlySet<FaultKind>): string {
  if (faults.size === FAULT_KINDS.length) return "all";
  if (faults.size === 0) return "none";
  return FAULT_KINDS.filter((kind) => faults.has(kind)).join(",");
}

/** Probabilities are per message or per simulated tick; zero when the fault is off. */
export interface FaultRates {
  readonly lossRate: number;
  readonly duplicateRate: number;
  /** Extra random delay, in ticks, added per message: this is what reorders a link. */
  readonly jitterTicksMax: number;
  readonly partitionRate: number;
  readonly partitionTicksMax: number;
  readonly crashRate: number;
  readonly downTicksMax: number;
  /** Chance that a sync takes ticks rather than a millisecond or two: a crash meanwhile loses (or tears) what it was writing. */
  readonly slowSyncRate: number;
  /** Chance that a crash during a slow save leaves a torn prefix of its records on disk. */
  readonly tornWriteRate: number;
  readonly membershipRate: number;
  readonly transferRate: number;
  /** Chance per tick of playing Raft's Figure 8 on purpose (figure8.ts); such a run replicates one entry per append. */
  readonly figure8Rate: number;
  /** Applied entries past the last snapshot that trigger a new one. */
  readonly snapshotThresholdEntries: number;
  /** Entries kept in the log behind a new snapshot (so a slightly lagging follower needs none). */
  readonly snapshotKeepEntries: number;
}

/** Without the snapshot fault, snapshots are rare (they still bound the log of a long run). */
const SNAPSHOT_THRESHOLD_ENTRIES_WITHOUT_FAULT = 2_000;

export function drawFaultRates(faults: ReadonlySet<FaultKind>, rng: Rng): FaultRates {
  const between = (low: number, high: number): number => low + rng.float() * (high - low);
  const on = (kind: FaultKind, draw: () => number): number => {
    const value = draw(); // always drawn, so toggling one fault does not shift the others
    return faults.has(kind) ? value : 0;
  };
  return {
    lossRate: on("loss", () => between(0.01, 0.15)),
    duplicateRate: on("dup", () => between(0.01, 0.1)),
    jitterTicksMax: on("reorder", () => rng.int(2, 9)),
    partitionRate: on("partition", () => between(0.002, 0.02)),
    partitionTicksMax: rng.int(20, 200),
    crashRate: on("crash", () => between(0.001, 0.01)),
    downTicksMax: rng.int(10, 120),
    slowSyncRate: on("crash", () => between(0.05, 0.4)),
    tornWriteRate: on("crash", () => between(0.2, 0.8)),
    membershipRate: on("membership", () => between(0.003, 0.02)),
    transferRate: on("transfer", () => between(0.002, 0.01)),
    // Half the runs with the fault play it (a play every second or two); the others do not.
    figure8Rate: on("figure8", () => {
      const plays = rng.chance(0.5);
      const rate = between(0.005, 0.02);
      return plays ? rate : 0;
    }),
    snapshotThresholdEntries: on("snapshot", () => rng.int(5, 31)) || SNAPSHOT_THRESHOLD_ENTRIES_WITHOUT_FAULT,
    snapshotKeepEntries: rng.int(0, 6),
  };
}
