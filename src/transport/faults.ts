/**
 * The fault hook tests use to make a real network misbehave: drop, duplicate and delay
 * messages, and cut links. Every random decision draws from one seeded Rng in the order of
 * send() calls, so the same seed and the same sends give the same faults.
 */
import type { NodeId } from "../raft/types.js";
import { assert } from "../util/assert.js";
import type { Rng } from "../util/rng.js";

export interface FaultConfig {
  /** Probability that an outgoing message is lost. */
  readonly dropRate?: number;
  /** Probability that an outgoing message is sent twice. */
  readonly duplicateRate?: number;
  /** Every outgoing message waits this long before it may leave (order is kept). */
  readonly delayMs?: number;
  /** Both directions with these nodes are cut: nothing is sent to them or accepted from them. */
  readonly partitionedFrom?: ReadonlySet<NodeId>;
  /** Nothing is sent to these nodes; what they send still arrives. */
  readonly oneWayBlockedTo?: ReadonlySet<NodeId>;
}

const NO_NODES: ReadonlySet<NodeId> = new Set();

export class Faults {
  readonly #rng: Rng;
  #dropRate = 0;
  #duplicateRate = 0;
  #delayMs = 0;
  #partitionedFrom = NO_NODES;
  #oneWayBlockedTo = NO_NODES;
  #active = false;

  constructor(rng: Rng) {
    this.#rng = rng;
  }

  set(config: FaultConfig | null): void {
    const c = config ?? {};
    const rate = (value: number | undefined, name: string): number => {
      assert(value === undefined || (value >= 0 && value <= 1), `${name} must be in [0, 1], got ${value}`);
      return value ?? 0;
    };
    this.#dropRate = rate(c.dropRate, "dropRate");
    this.#duplicateRate = rate(c.duplicateRate, "duplicateRate");
    assert(c.delayMs === undefined || (Number.isFinite(c.delayMs) && c.delayMs >= 0), `delayMs must be >= 0, got ${c.delayMs}`);
    this.#delayMs = c.delayMs ?? 0;
    this.#partitionedFrom = new Set(c.partitionedFrom ?? NO_NODES);
    this.#oneWayBlockedTo = new Set(c.oneWayBlockedTo ?? NO_NODES);
    this.#active = this.#dropRate > 0 || this.#duplicateRate > 0 || this.#delayMs > 0 || this.#partitionedFrom.size > 0 || this.#oneWayBlockedTo.size > 0;
  }

  /** False when no fault is configured: the send path then skips the hook entirely. */
  get active(): boolean {
    return this.#active;
  }

  get delayMs(): number {
    return this.#delayMs;
  }

  /** How many copies of a message to `to` go out: 0 (lost), 1, or 2 (duplicated). */
  copiesToSend(to: NodeId): 0 | 1 | 2 {
    if (this.blocksSendTo(to)) return 0;
    if (this.#dropRate > 0 && this.#rng.chance(this.#dropRate)) return 0;
    if (this.#duplicateRate > 0 && this.#rng.chance(this.#duplicateRate)) return 2;
    return 1;
  }

  blocksSendTo(to: NodeId): boolean {
    return this.#partitionedFrom.has(to) || this.#oneWayBlockedTo.has(to);
  }

  blocksReceiveFrom(from: NodeId): boolean {
    return this.#partitionedFrom.has(from);
  }
}
