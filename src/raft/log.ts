/**
 * The Raft log as the core sees it: the durable part in LogStorage, followed by the
 * "unstable" part that has been appended in memory and handed out in a Ready but not yet
 * acknowledged as persisted (advance()). Also tracks commit and apply positions.
 */
import { assert } from "../util/assert.js";
import { limitBytes, type LogStorage } from "./log-storage.js";
import { entriesBytes, type Entry, type Snapshot } from "./types.js";

export class RaftLog {
  readonly storage: LogStorage;
  /** A snapshot received from the leader that is not yet persisted. */
  unstableSnapshot: Snapshot | undefined;
  /** Entries not yet persisted; unstableEntries[i] has index unstableOffset + i. */
  unstableEntries: Entry[] = [];
  unstableOffset: number;
  /** Highest index known to be committed (stored on a quorum). */
  committed: number;
  /** Highest index handed to the application for applying. */
  applied: number;

  constructor(storage: LogStorage, applied: number | undefined) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstableOffset = last + 1;
    const { hardState } = storage.initialState();
    this.committed = Math.max(hardState.commit, first - 1);
    assert(this.committed <= last, () => `stored commit index ${hardState.commit} is beyond the last stored entry ${last}`);
    this.applied = applied ?? first - 1;
    assert(this.applied >= first - 1 && this.applied <= this.committed, () => `applied index ${this.applied} outside [${first - 1}, ${this.committed}]`);
  }

  firstIndex(): number {
    if (this.unstableSnapshot) return this.unstableSnapshot.meta.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstableEntries.length > 0) return this.unstableOffset + this.unstableEntries.length - 1;
    if (this.unstableSnapshot) return this.unstableSnapshot.meta.index;
    return this.storage.lastIndex();
  }

  /** Term at `index`, or undefined when compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index >= this.unstableOffset) {
      const entry = this.unstableEntries[index - this.unstableOffset];
      return entry?.term;
    }
    if (this.unstableSnapshot) {
      if (index === this.unstableSnapshot.meta.index) return this.unstableSnapshot.meta.term;
      if (index < this.unstableSnapshot.meta.index) return undefined;
    }
    if (index === 0) return 0;
    return this.storage.term(index);
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    assert(term !== undefined, "the last entry's term is always known");
    return term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** The highest index that is durable and still part of this log (for the leader's self-ack). */
  persistedIndex(): number {
    if (this.unstableSnapshot) return 0;
    const stored = this.storage.lastIndex();
    return this.unstableEntries.length > 0 ? Math.min(stored, this.unstableOffset - 1) : stored;
  }

  /**
   * A follower's append: if our log matches (prevIndex, prevTerm), add the new entries (cutting a
   * conflicting suffix) and advance the commit index. Returns the last index now known to match
   * the leader, or undefined when the log does not match.
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNewIndex = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, () => `entry ${conflict} conflicts with the committed log (commit ${this.committed})`);
      this.append(entries.slice(conflict - (prevIndex + 1)));
    }
    this.commitTo(Math.min(leaderCommit, lastNewIndex));
    return lastNewIndex;
  }

  /**
   * Index of the first entry that is not already in our log with the same term (0 when all
   * are present). An entry with a different term marks where our log diverges.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * Fast backtracking hint: the last index ≤ `index` whose term is ≤ `term`. Every entry after
   * it has a larger term than `term`, so cannot match the leader's entries there.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = Math.min(index, this.lastIndex()); i >= 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  /** Appends after truncating any unstable or stable suffix from entries[0].index on. */
  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const first = entries[0]!.index;
    assert(first > this.committed, () => `appending at ${first} would overwrite committed entry (commit ${this.committed})`);
    assert(first <= this.lastIndex() + 1, () => `appending at ${first} leaves a gap after ${this.lastIndex()}`);
    if (first === this.unstableOffset + this.unstableEntries.length) {
      this.unstableEntries.push(...entries);
    } else if (first <= this.unstableOffset) {
      // Replaces part of the stable log: the storage keeps the old entries until the driver
      // writes these, which overwrite them there too.
      this.unstableOffset = first;
      this.unstableEntries = entries.slice();
    } else {
      this.unstableEntries = this.unstableEntries.slice(0, first - this.unstableOffset).concat(entries);
    }
    return this.lastIndex();
  }

  /** Entries [low, lastIndex], limited to about `bytesMax`; undefined when `low` is compacted. */
  entriesFrom(low: number, bytesMax: number): Entry[] | undefined {
    const last = this.lastIndex();
    if (low > last) return [];
    return this.slice(low, last + 1, bytesMax);
  }

  /** Entries [low, high) from storage and unstable, limited to about `bytesMax` (at least one). */
  slice(low: number, high: number, bytesMax: number): Entry[] | undefined {
    if (low >= high) return [];
    if (low < this.firstIndex()) return undefined;
    assert(high <= this.lastIndex() + 1, () => `slice [${low}, ${high}) beyond last index ${this.lastIndex()}`);
    let result: Entry[] = [];
    if (low < this.unstableOffset) {
      const storedHigh = Math.min(high, this.unstableOffset, this.storage.lastIndex() + 1);
      if (low < storedHigh) {
        if (low < this.storage.firstIndex()) return undefined;
        result = this.storage.entries(low, storedHigh, bytesMax);
        if (result.length < storedHigh - low) return result; // the byte limit stopped it
      }
    }
    if (high > this.unstableOffset) {
      const from = Math.max(low, this.unstableOffset) - this.unstableOffset;
      const unstable = this.unstableEntries.slice(from, high - this.unstableOffset);
      result = result.length === 0 ? unstable : result.concat(unstable);
    }
    return limitBytes(result, bytesMax);
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), () => `commit ${index} is beyond the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Figure 8: a leader commits by counting replicas only entries of its own term. */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  hasCommittedToApply(): boolean {
    return this.unstableSnapshot === undefined && this.committed > this.applied && this.committed >= this.firstIndex();
  }

  /** Committed entries after `applied`, up to about `bytesMax`. */
  committedToApply(bytesMax: number): Entry[] {
    if (!this.hasCommittedToApply()) return [];
    const low = Math.max(this.applied + 1, this.firstIndex());
    const entries = this.slice(low, this.committed + 1, bytesMax);
    assert(entries !== undefined, () => `committed entries from ${low} are compacted before being applied`);
    return entries;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    assert(index <= this.committed && index >= this.applied, () => `applied ${index} outside [${this.applied}, ${this.committed}]`);
    this.applied = index;
  }

  /** The driver persisted entries up to (index, term): they leave the unstable part. */
  stableTo(index: number, term: number): void {
    if (index < this.unstableOffset || this.term(index) !== term) return;
    if (index >= this.unstableOffset + this.unstableEntries.length) return;
    this.unstableEntries = this.unstableEntries.slice(index + 1 - this.unstableOffset);
    this.unstableOffset = index + 1;
  }

  stableSnapshotTo(index: number): void {
    if (this.unstableSnapshot?.meta.index === index) this.unstableSnapshot = undefined;
  }

  /** Replaces the log with a snapshot from the leader. */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.meta.index;
    this.unstableSnapshot = snapshot;
    this.unstableOffset = snapshot.meta.index + 1;
    this.unstableEntries = [];
  }

  unstableBytes(): number {
    return entriesBytes(this.unstableEntries);
  }
}
