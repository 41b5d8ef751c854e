/**
 * The simulated network: every message gets a delivery tick (latency plus, with the reorder
 * fault, random jitter), may be lost or duplicated, and is dropped on arrival when a partition
 * cuts its link. Links are directed, so one-way partitions are just one direction blocked.
 *
 * Besides messages, the network carries the transport's local reports back to a sender
 * (snapshot delivered or failed, peer unreachable): a real transport learns these from its
 * connection, so they are never lost themselves.
 */
import { MessageType, type Message, type NodeId } from "../raft/index.js";
import { SIM_MESSAGES_IN_FLIGHT_MAX } from "../util/limits.js";
import type { Rng } from "../util/rng.js";
import type { FaultRates } from "./faults.js";

export type Delivery =
  | { readonly kind: "message"; readonly to: NodeId; readonly message: Message }
  | { readonly kind: "snapshot-status"; readonly to: NodeId; readonly peer: NodeId; readonly ok: boolean }
  | { readonly kind: "unreachable"; readonly to: NodeId; readonly peer: NodeId };

export interface NetworkCounters {
  sent: number;
  lost: number;
  duplicated: number;
  /** Dropped because the queue of messages in flight was full. */
  overflowed: number;
}

export class SimNetwork {
  readonly #rng: Rng;
  readonly #rates: FaultRates;
  readonly #buckets = new Map<number, Delivery[]>();
  /** Directed links that are cut, as "from>to". */
  readonly #blocked = new Set<string>();
  #inFlight = 0;
  #reliable = false;
  readonly counters: NetworkCounters = { sent: 0, lost: 0, duplicated: 0, overflowed: 0 };

  constructor(rng: Rng, rates: FaultRates) {
    this.#rng = rng;
    this.#rates = rates;
  }

  /** The healed phase: no loss, no duplication, no jitter, no partitions from now on. */
  makeReliable(): void {
    this.#reliable = true;
    this.#blocked.clear();
  }

  get reliable(): boolean {
    return this.#reliable;
  }

  send(message: Message, now: number): void {
    this.counters.sent++;
    if (!this.#reliable && this.#rng.chance(this.#rates.lossRate)) {
      this.counters.lost++;
      this.reportDropped(message, now);
      return;
    }
    this.#enqueue({ kind: "message", to: message.to, message }, now + this.#delayTicks());
    if (!this.#reliable && this.#rng.chance(this.#rates.duplicateRate)) {
      this.counters.duplicated++;
      this.#enqueue({ kind: "message", to: message.to, message }, now + this.#delayTicks());
    }
  }

  /** What the sender's transport learns when `message` did not get through. */
  reportDropped(message: Message, now: number): void {
    if (message.type === MessageType.Snapshot) {
      this.#enqueue({ kind: "snapshot-status", to: message.from, peer: message.to, ok: false }, now + 1);
    } else if (message.type === MessageType.Append) {
      this.#enqueue({ kind: "unreachable", to: message.from, peer: message.to }, now + 1);
    }
  }

  /** A snapshot arrived whole: the sender's transport reports success. */
  reportSnapshotDelivered(message: Message, now: number): void {
    this.#enqueue({ kind: "snapshot-status", to: message.from, peer: message.to, ok: true }, now + 1);
  }

  /** Everything due at `now`, in the order it was enqueued; the caller delivers or defers it. */
  takeDue(now: number): Delivery[] {
    const due = this.#buckets.get(now);
    if (due === undefined) return [];
    this.#buckets.delete(now);
    this.#inFlight -= due.length;
    return due;
  }

  /** Receivers were busy (saving a Ready): these go first next tick, in their order. */
  defer(deliveries: readonly Delivery[], now: number): void {
    if (deliveries.length === 0) return;
    const later = this.#buckets.get(now + 1) ?? [];
    this.#buckets.set(now + 1, [...deliveries, ...later]);
    this.#inFlight += deliveries.length;
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.#blocked.size > 0 && this.#blocked.has(`${from}>${to}`);
  }

  block(from: NodeId, to: NodeId): void {
    if (!this.#reliable && from !== to) this.#blocked.add(`${from}>${to}`);
  }

  healPartitions(): void {
    this.#blocked.clear();
  }

  get partitioned(): boolean {
    return this.#blocked.size > 0;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  #delayTicks(): number {
    if (this.#reliable || this.#rates.jitterTicksMax === 0) return 1;
    return 1 + this.#rng.int(0, this.#rates.jitterTicksMax + 1);
  }

  #enqueue(delivery: Delivery, tick: number): void {
    if (this.#inFlight >= SIM_MESSAGES_IN_FLIGHT_MAX) {
      this.counters.overflowed++;
      return;
    }
    let bucket = this.#buckets.get(tick);
    if (bucket === undefined) this.#buckets.set(tick, (bucket = []));
    bucket.push(delivery);
    this.#inFlight++;
  }
}
