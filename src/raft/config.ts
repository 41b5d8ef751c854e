/**
 * RaftConfig: everything a core needs, validated at construction. Defaults come from
 * util/limits.ts, where every limit of Flotilla is named.
 */
import type { Rng } from "../util/rng.js";
import {
  APPEND_BYTES_MAX_DEFAULT,
  APPLY_BYTES_MAX_DEFAULT,
  ELECTION_TIMEOUT_TICKS_DEFAULT,
  HEARTBEAT_INTERVAL_TICKS_DEFAULT,
  INFLIGHT_APPENDS_MAX_DEFAULT,
  INFLIGHT_BYTES_MAX_DEFAULT,
  PENDING_READS_MAX_DEFAULT,
  UNCOMMITTED_BYTES_MAX_DEFAULT,
} from "../util/limits.js";
import type { LogStorage } from "./log-storage.js";
import type { NodeId } from "./types.js";

export interface RaftLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface RaftConfig {
  readonly id: NodeId;
  /** What is durable. The core reads it; the driver writes it. */
  readonly storage: LogStorage;
  /** Election jitter draws from this; a seeded generator makes runs replayable. */
  readonly rng: Rng;
  /** Last index the state machine has applied durably (default: the snapshot's index). */
  readonly applied?: number;
  readonly electionTimeoutTicks?: number;
  readonly heartbeatIntervalTicks?: number;
  /** Pre-vote (thesis 9.6): a node that cannot win does not disturb the cluster with a new term. */
  readonly preVote?: boolean;
  /** A leader that hears from no quorum for an election timeout steps down; followers keep a lease. */
  readonly checkQuorum?: boolean;
  readonly appendBytesMax?: number;
  readonly inflightAppendsMax?: number;
  readonly inflightBytesMax?: number;
  readonly uncommittedBytesMax?: number;
  readonly pendingReadsMax?: number;
  readonly applyBytesMax?: number;
  readonly logger?: RaftLogger;
}

export type ResolvedRaftConfig = Required<Omit<RaftConfig, "applied" | "logger">> & Pick<RaftConfig, "applied" | "logger">;

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`RaftConfig.${name} must be a positive integer, got ${value}`);
  }
}

export function resolveConfig(config: RaftConfig): ResolvedRaftConfig {
  if (typeof config.id !== "string" || config.id.length === 0) {
    throw new RangeError("RaftConfig.id must be a non-empty string");
  }
  const resolved: ResolvedRaftConfig = {
    id: config.id,
    storage: config.storage,
    rng: config.rng,
    applied: config.applied,
    logger: config.logger,
    electionTimeoutTicks: config.electionTimeoutTicks ?? ELECTION_TIMEOUT_TICKS_DEFAULT,
    heartbeatIntervalTicks: config.heartbeatIntervalTicks ?? HEARTBEAT_INTERVAL_TICKS_DEFAULT,
    preVote: config.preVote ?? true,
    checkQuorum: config.checkQuorum ?? true,
    appendBytesMax: config.appendBytesMax ?? APPEND_BYTES_MAX_DEFAULT,
    inflightAppendsMax: config.inflightAppendsMax ?? INFLIGHT_APPENDS_MAX_DEFAULT,
    inflightBytesMax: config.inflightBytesMax ?? INFLIGHT_BYTES_MAX_DEFAULT,
    uncommittedBytesMax: config.uncommittedBytesMax ?? UNCOMMITTED_BYTES_MAX_DEFAULT,
    pendingReadsMax: config.pendingReadsMax ?? PENDING_READS_MAX_DEFAULT,
    applyBytesMax: config.applyBytesMax ?? APPLY_BYTES_MAX_DEFAULT,
  };
  for (const name of [
    "electionTimeoutTicks",
    "heartbeatIntervalTicks",
    "appendBytesMax",
    "inflightAppendsMax",
    "inflightBytesMax",
    "uncommittedBytesMax",
    "pendingReadsMax",
    "applyBytesMax",
  ] as const) {
    requirePositiveInteger(name, resolved[name]);
  }
  if (resolved.heartbeatIntervalTicks >= resolved.electionTimeoutTicks) {
    throw new RangeError(
      `RaftConfig.heartbeatIntervalTicks (${resolved.heartbeatIntervalTicks}) must be less than electionTimeoutTicks (${resolved.electionTimeoutTicks})`,
    );
  }
  if (resolved.inflightBytesMax < resolved.appendBytesMax) {
    throw new RangeError("RaftConfig.inflightBytesMax must be at least appendBytesMax");
  }
  if (resolved.applied !== undefined && (!Number.isSafeInteger(resolved.applied) || resolved.applied < 0)) {
    throw new RangeError(`RaftConfig.applied must be a non-negative integer, got ${resolved.applied}`);
  }
  if (!config.storage || !config.rng) throw new RangeError("RaftConfig needs storage and rng");
  return resolved;
}
