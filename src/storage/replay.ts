/**
 * Rebuilds the log from the WAL's records, in order, exactly as the writer's state evolved:
 * headers restate where each segment starts, an entries record overwrites any suffix from its
 * first index, a hard state replaces the last, a snapshot marker moves the log's start.
 * Pure (no I/O) so its rules are tested directly; anything impossible is a WalCorruptionError.
 */
import { EMPTY_HARD_STATE, type Entry, type HardState } from "../raft/types.js";
import type { SegmentHeader, SnapshotMarker } from "./codec.js";
import { WalCorruptionError } from "./errors.js";

export interface RecordLocation {
  readonly file: string;
  readonly offset: number;
}

export interface ReplayedLog {
  readonly hardState: HardState;
  /** The snapshot the log continues from (0: none). */
  readonly baseIndex: number;
  readonly baseTerm: number;
  /** Entries baseIndex+1 .. lastIndex, contiguous. */
  readonly entries: Entry[];
}

export function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export class LogReplay {
  #started = false;
  #hardState: HardState = EMPTY_HARD_STATE;
  #baseIndex = 0;
  #baseTerm = 0;
  /**
   * Entries (baseIndex, unknownThrough] were in segments that compaction deleted: replay
   * starts from the first segment left, whose header says where the log ended. A later
   * snapshot marker must cover them by the end, or they are missing.
   */
  #unknownThrough = 0;
  /** The entries seen, contiguous from unknownThrough + 1. */
  #entries: Entry[] = [];

  #lastIndex(): number {
    return this.#entries.length === 0 ? this.#unknownThrough : this.#entries[this.#entries.length - 1]!.index;
  }

  #termAt(index: number): number | undefined {
    if (index === this.#baseIndex) return this.#baseTerm;
    if (index <= this.#unknownThrough || index > this.#lastIndex()) return undefined;
    return this.#entries[index - this.#unknownThrough - 1]!.term;
  }

  segmentHeader(header: SegmentHeader, at: RecordLocation): void {
    if (!this.#started) {
      this.#started = true;
      this.#hardState = header.hardState;
      this.#baseIndex = header.baseIndex;
      this.#baseTerm = header.baseTerm;
      this.#unknownThrough = header.lastIndex;
      return;
    }
    const agrees = header.baseIndex === this.#baseIndex && header.baseTerm === this.#baseTerm && header.lastIndex === this.#lastIndex() && sameHardState(header.hardState, this.#hardState);
    if (!agrees) {
      throw new WalCorruptionError(at.file, at.offset, `segment header (snapshot ${header.baseIndex}/${header.baseTerm}, last index ${header.lastIndex}, term ${header.hardState.term}) disagrees with the segments before it (snapshot ${this.#baseIndex}/${this.#baseTerm}, last index ${this.#lastIndex()}, term ${this.#hardState.term})`);
    }
  }

  entries(entries: readonly Entry[], at: RecordLocation): void {
    const first = entries[0]!.index;
    if (first <= this.#baseIndex) {
      throw new WalCorruptionError(at.file, at.offset, `entries from index ${first}, but the log starts after snapshot index ${this.#baseIndex}`);
    }
    const last = this.#lastIndex();
    if (first > last + 1) throw new WalCorruptionError(at.file, at.offset, `entries from index ${first} leave a gap after index ${last}`);
    if (first <= this.#unknownThrough + 1) {
      this.#entries = entries.slice();
      this.#unknownThrough = first - 1;
      return;
    }
    this.#entries.length = first - this.#unknownThrough - 1;
    for (const entry of entries) this.#entries.push(entry);
  }

  hardState(hardState: HardState): void {
    this.#hardState = hardState;
  }

  snapshotMarker(marker: SnapshotMarker, at: RecordLocation): void {
    if (marker.index <= this.#baseIndex) {
      throw new WalCorruptionError(at.file, at.offset, `snapshot marker at index ${marker.index} is not after the current snapshot ${this.#baseIndex}`);
    }
    if (marker.retainsLog) {
      this.#retainAfter(marker, at);
    } else {
      this.#entries = [];
      this.#unknownThrough = marker.index;
    }
    this.#baseIndex = marker.index;
    this.#baseTerm = marker.term;
  }

  #retainAfter(marker: SnapshotMarker, at: RecordLocation): void {
    if (marker.index > this.#lastIndex()) {
      throw new WalCorruptionError(at.file, at.offset, `snapshot marker at index ${marker.index} keeps the log, which ends at ${this.#lastIndex()}`);
    }
    const held = this.#termAt(marker.index);
    // Undefined when the entry was in a segment compaction deleted: nothing left to compare.
    if (held !== undefined && held !== marker.term) {
      throw new WalCorruptionError(at.file, at.offset, `snapshot marker ${marker.index}/${marker.term} keeps the log, which holds term ${held} there`);
    }
    if (marker.index >= this.#unknownThrough) {
      this.#entries = this.#entries.slice(marker.index - this.#unknownThrough);
      this.#unknownThrough = marker.index;
    }
  }

  /** The log as replayed; `at` names where to point if entries are missing after the snapshot. */
  finish(at: RecordLocation): ReplayedLog {
    if (this.#unknownThrough > this.#baseIndex) {
      throw new WalCorruptionError(at.file, at.offset, `entries ${this.#baseIndex + 1}..${this.#unknownThrough} are missing after snapshot ${this.#baseIndex} (a deleted segment?)`);
    }
    return { hardState: this.#hardState, baseIndex: this.#baseIndex, baseTerm: this.#baseTerm, entries: this.#entries };
  }
}
