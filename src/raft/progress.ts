/**
 * The leader's view of each follower's log, and the flow control that bounds what it sends:
 * a follower is probed one append at a time until its match is known, then appends are
 * pipelined up to a window capped by count and by bytes, or it is paused while a snapshot
 * is on its way.
 */
import { assert } from "../util/assert.js";
import { ProgressState } from "./types.js";

/** A bounded ring of the appends in flight to one follower: (last index, bytes) of each. */
export class Inflights {
  readonly #countMax: number;
  readonly #bytesMax: number;
  #indexes: number[] = [];
  #sizes: number[] = [];
  #start = 0;
  #count = 0;
  #bytes = 0;

  constructor(countMax: number, bytesMax: number) {
    assert(countMax > 0 && bytesMax > 0, "in-flight limits must be positive");
    this.#countMax = countMax;
    this.#bytesMax = bytesMax;
  }

  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#bytes;
  }

  full(): boolean {
    return this.#count >= this.#countMax || this.#bytes >= this.#bytesMax;
  }

  add(lastIndex: number, bytes: number): void {
    assert(!this.full(), "cannot add to a full in-flight window");
    if (this.#count > 0) {
      const newest = this.#indexes[(this.#start + this.#count - 1) % this.#countMax]!;
      assert(lastIndex > newest, () => `in-flight appends must grow: ${lastIndex} after ${newest}`);
    }
    const slot = (this.#start + this.#count) % this.#countMax;
    this.#indexes[slot] = lastIndex;
    this.#sizes[slot] = bytes;
    this.#count++;
    this.#bytes += bytes;
  }

  /** Frees every append whose last index is ≤ `index` (acknowledged). */
  freeLE(index: number): void {
    while (this.#count > 0 && this.#indexes[this.#start]! <= index) {
      this.#bytes -= this.#sizes[this.#start]!;
      this.#start = (this.#start + 1) % this.#countMax;
      this.#count--;
    }
    if (this.#count === 0) this.#start = 0;
  }

  freeFirst(): void {
    if (this.#count > 0) this.freeLE(this.#indexes[this.#start]!);
  }

  reset(): void {
    this.#start = 0;
    this.#count = 0;
    this.#bytes = 0;
  }
}

export class Progress {
  /** Highest index known to be durably replicated on this node. */
  match = 0;
  /** Next index to send. */
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** In Probe: an append is out and we wait for its answer (or a heartbeat response). */
  probeSent = false;
  /** In Snapshot: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from within the current check-quorum window. */
  recentActive = false;
  ticksSinceContact = 0;
  /** Ticks spent waiting in the Snapshot state, so a lost snapshot does not stall forever. */
  snapshotTicks = 0;
  isLearner: boolean;
  readonly inflights: Inflights;

  constructor(next: number, isLearner: boolean, inflightCountMax: number, inflightBytesMax: number) {
    this.next = next;
    this.isLearner = isLearner;
    this.inflights = new Inflights(inflightCountMax, inflightBytesMax);
  }

  #resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, the follower holds at least the snapshot: probe from just after it.
    const next = this.state === ProgressState.Snapshot ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.#resetState(ProgressState.Probe);
    this.next = next;
  }

  becomeReplicate(): void {
    this.#resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.#resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** An acknowledgement up to `index`; returns true when it is news. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of the append after `rejected`, with the follower's hint of where the logs may
   * match. Returns false for a stale rejection (an answer to an older append).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Records an append of entries ending at `lastIndex` (none when `bytes` is 0 and lastIndex < next). */
  sentEntries(lastIndex: number, entryCount: number, bytes: number): void {
    if (this.state === ProgressState.Replicate) {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === ProgressState.Probe) {
      this.probeSent = true;
    }
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }
}
