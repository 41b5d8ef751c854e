/**
 * Payload layouts of the WAL's records, hand-written for the write path: no field names, no
 * per-entry allocation. Numbers are little-endian; indexes and terms are doubles (exact below
 * 2^53, checked on decode). Decoding never trusts a length: every read is bounds-checked and
 * a bad payload is a PayloadError, which the reader turns into a WalCorruptionError.
 */
import { assert } from "../util/assert.js";
import { WAL_ENTRIES_RECORD_BYTES_TARGET, WAL_VOTE_BYTES_MAX } from "../util/limits.js";
import { EntryType, type Entry, type HardState } from "../raft/types.js";
import type { ByteArena } from "./byte-arena.js";
import { RecordType, beginRecord, finishRecord, RECORD_HEADER_BYTES } from "./record.js";

/** Where the log stands at the start of a segment, restated so that any suffix of segments replays alone. */
export interface SegmentHeader {
  readonly seq: number;
  readonly hardState: HardState;
  /** The durable snapshot the log continues from (index 0: none). */
  readonly baseIndex: number;
  readonly baseTerm: number;
  /** The log's last index: entries after baseIndex up to here are in earlier segments. */
  readonly lastIndex: number;
}

export interface SnapshotMarker {
  readonly index: number;
  readonly term: number;
  /**
   * Whether entries after `index` stay in the log (the log held `index` with this term: Raft's
   * rule for InstallSnapshot, Figure 13 step 6) or the whole log is replaced by the snapshot.
   */
  readonly retainsLog: boolean;
}

// Entries payload: first index f64, count u32, then per entry: term f64, type u8, length u32, data.
const ENTRIES_PREFIX_BYTES = 12;
const ENTRY_OVERHEAD_BYTES = 13;

export function entryRecordBytes(entry: Entry): number {
  return ENTRY_OVERHEAD_BYTES + entry.data.byteLength;
}

/** The most payload one entry may need: its record must still be valid on its own. */
export function entryAloneRecordPayloadBytes(entry: Entry): number {
  return ENTRIES_PREFIX_BYTES + entryRecordBytes(entry);
}

/**
 * Splits entries into records of about WAL_ENTRIES_RECORD_BYTES_TARGET: returns each record's
 * [start, end) in `entries` and its payload size.
 */
export function planEntriesRecords(entries: readonly Entry[]): { start: number; end: number; payloadBytes: number }[] {
  const plan: { start: number; end: number; payloadBytes: number }[] = [];
  let start = 0;
  let payloadBytes = ENTRIES_PREFIX_BYTES;
  for (let i = 0; i < entries.length; i++) {
    const bytes = entryRecordBytes(entries[i]!);
    if (i > start && payloadBytes + bytes > WAL_ENTRIES_RECORD_BYTES_TARGET) {
      plan.push({ start, end: i, payloadBytes });
      start = i;
      payloadBytes = ENTRIES_PREFIX_BYTES;
    }
    payloadBytes += bytes;
  }
  if (entries.length > start) plan.push({ start, end: entries.length, payloadBytes });
  return plan;
}

export function writeEntriesRecord(arena: ByteArena, entries: readonly Entry[], start: number, end: number, payloadBytes: number): void {
  const record = beginRecord(arena, RecordType.Entries, payloadBytes);
  arena.f64(entries[start]!.index);
  arena.u32(end - start);
  for (let i = start; i < end; i++) {
    const entry = entries[i]!;
    arena.f64(entry.term);
    arena.u8(entry.type);
    arena.u32(entry.data.byteLength);
    arena.bytes(entry.data);
  }
  finishRecord(arena, record);
}

function hardStatePayloadBytes(hardState: HardState): number {
  const voteBytes = Buffer.byteLength(hardState.vote, "utf8");
  assert(voteBytes <= WAL_VOTE_BYTES_MAX, () => `hard state: vote of ${voteBytes} bytes exceeds WAL_VOTE_BYTES_MAX`);
  return 18 + voteBytes;
}

function writeHardStateFields(arena: ByteArena, hardState: HardState): void {
  const voteBytes = Buffer.byteLength(hardState.vote, "utf8");
  arena.f64(hardState.term);
  arena.f64(hardState.commit);
  arena.u16(voteBytes);
  arena.utf8(hardState.vote, voteBytes);
}

export function writeHardStateRecord(arena: ByteArena, hardState: HardState): void {
  const record = beginRecord(arena, RecordType.HardState, hardStatePayloadBytes(hardState));
  writeHardStateFields(arena, hardState);
  finishRecord(arena, record);
}

export function writeSegmentHeaderRecord(arena: ByteArena, header: SegmentHeader): void {
  const record = beginRecord(arena, RecordType.SegmentHeader, 32 + hardStatePayloadBytes(header.hardState));
  arena.f64(header.seq);
  arena.f64(header.baseIndex);
  arena.f64(header.baseTerm);
  arena.f64(header.lastIndex);
  writeHardStateFields(arena, header.hardState);
  finishRecord(arena, record);
}

export function writeSnapshotMarkerRecord(arena: ByteArena, marker: SnapshotMarker): void {
  const record = beginRecord(arena, RecordType.SnapshotMarker, 17);
  arena.f64(marker.index);
  arena.f64(marker.term);
  arena.u8(marker.retainsLog ? 1 : 0);
  finishRecord(arena, record);
}

/** Size of a whole hard-state record, for batch accounting. */
export function hardStateRecordBytes(hardState: HardState): number {
  return RECORD_HEADER_BYTES + hardStatePayloadBytes(hardState);
}

export class PayloadError extends Error {
  override name = "PayloadError";
}

const ENTRY_TYPES: ReadonlySet<number> = new Set(Object.values(EntryType).filter((value) => typeof value === "number"));

class PayloadReader {
  readonly #bytes: Buffer;
  #at: number;
  readonly #end: number;

  constructor(bytes: Buffer, start: number, end: number) {
    this.#bytes = bytes;
    this.#at = start;
    this.#end = end;
  }

  #take(count: number, what: string): number {
    if (this.#end - this.#at < count) throw new PayloadError(`payload ends inside ${what}`);
    const at = this.#at;
    this.#at += count;
    return at;
  }

  u8(what: string): number {
    return this.#bytes[this.#take(1, what)]!;
  }

  u16(what: string): number {
    return this.#bytes.readUInt16LE(this.#take(2, what));
  }

  u32(what: string): number {
    return this.#bytes.readUInt32LE(this.#take(4, what));
  }

  /** A non-negative integer stored as a double (an index, a term, a sequence number). */
  count(what: string): number {
    const value = this.#bytes.readDoubleLE(this.#take(8, what));
    if (!Number.isSafeInteger(value) || value < 0) throw new PayloadError(`${what} is not a non-negative integer: ${value}`);
    return value;
  }

  /** A copy, so that a recovered entry does not pin the whole segment read into memory. */
  bytesCopy(count: number, what: string): Uint8Array {
    const at = this.#take(count, what);
    const copy = new Uint8Array(count);
    copy.set(this.#bytes.subarray(at, at + count));
    return copy;
  }

  utf8(count: number, what: string): string {
    const at = this.#take(count, what);
    return this.#bytes.toString("utf8", at, at + count);
  }

  expectEnd(what: string): void {
    if (this.#at !== this.#end) throw new PayloadError(`${this.#end - this.#at} unexpected bytes after ${what}`);
  }
}

export function decodeEntries(bytes: Buffer, start: number, end: number): Entry[] {
  const reader = new PayloadReader(bytes, start, end);
  const first = reader.count("first index");
  const count = reader.u32("entry count");
  if (count === 0) throw new PayloadError("entries record with no entries");
  if (first === 0) throw new PayloadError("entry index 0 (the log starts at 1)");
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const term = reader.count("entry term");
    const type = reader.u8("entry type");
    if (!ENTRY_TYPES.has(type)) throw new PayloadError(`unknown entry type ${type}`);
    const data = reader.bytesCopy(reader.u32("entry length"), "entry data");
    entries.push({ term, index: first + i, type: type as EntryType, data });
  }
  reader.expectEnd("the entries");
  return entries;
}

function readHardState(reader: PayloadReader): HardState {
  const term = reader.count("hard state term");
  const commit = reader.count("hard state commit");
  const vote = reader.utf8(reader.u16("vote length"), "vote");
  return { term, vote, commit };
}

export function decodeHardState(bytes: Buffer, start: number, end: number): HardState {
  const reader = new PayloadReader(bytes, start, end);
  const hardState = readHardState(reader);
  reader.expectEnd("the hard state");
  return hardState;
}

export function decodeSegmentHeader(bytes: Buffer, start: number, end: number): SegmentHeader {
  const reader = new PayloadReader(bytes, start, end);
  const seq = reader.count("segment sequence number");
  const baseIndex = reader.count("base index");
  const baseTerm = reader.count("base term");
  const lastIndex = reader.count("last index");
  if (lastIndex < baseIndex) throw new PayloadError(`last index ${lastIndex} is before the snapshot index ${baseIndex}`);
  const hardState = readHardState(reader);
  reader.expectEnd("the segment header");
  return { seq, hardState, baseIndex, baseTerm, lastIndex };
}

export function decodeSnapshotMarker(bytes: Buffer, start: number, end: number): SnapshotMarker {
  const reader = new PayloadReader(bytes, start, end);
  const index = reader.count("snapshot index");
  const term = reader.count("snapshot term");
  const retains = reader.u8("retains-log flag");
  if (retains > 1) throw new PayloadError(`retains-log flag is ${retains}, not 0 or 1`);
  reader.expectEnd("the snapshot marker");
  return { index, term, retainsLog: retains === 1 };
}
