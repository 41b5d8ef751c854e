/**
 * Reading the WAL back at open. Segments are read in sequence order and their records
 * replayed. Only the end of the last segment may be damaged: that is what a crash during a
 * write leaves (a torn record, or zeros: the writer's own ahead of its records, or a
 * filesystem's). Such a tail is cut off and reported. A bad record with any valid record
 * after it, or anywhere in an earlier segment, means data we acknowledged is damaged:
 * recovery refuses with a WalCorruptionError.
 */
import { open, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { WAL_RESYNC_SCAN_BYTES_MAX } from "../util/limits.js";
import type { Entry, HardState } from "../raft/types.js";
import { decodeEntries, decodeHardState, decodeSegmentHeader, decodeSnapshotMarker, PayloadError } from "./codec.js";
import { WalCorruptionError } from "./errors.js";
import { checkFrame, describeFrameProblem, isRecordType, RecordType, type FrameCheck } from "./record.js";
import { LogReplay, type RecordLocation } from "./replay.js";
import { syncDirectory, type SegmentName } from "./segment-files.js";

export interface TornTail {
  readonly file: string;
  readonly offset: number;
  readonly bytesTruncated: number;
  /** "zero-fill": only zeros from `offset` on (the WAL's zeros ahead of its records, or a filesystem's); "torn-record": a partial last record. */
  readonly kind: "torn-record" | "zero-fill";
  readonly problem: string;
}

export interface RecoveryReport {
  readonly segmentsRead: number;
  readonly recordsRead: number;
  readonly entriesRecovered: number;
  readonly bytesRead: number;
  /** The damaged end of the last segment that was cut off, if any. */
  readonly tornTail: TornTail | undefined;
  /** Files deleted: a last segment whose header never became whole, leftover temporary files. */
  readonly removedFiles: readonly string[];
  /** Files in the directory that are neither segments, snapshots nor temporaries (left alone). */
  readonly ignoredFiles: readonly string[];
}

/** A segment as recovery left it, for the writer: where to append and what it holds. */
export interface SegmentState {
  readonly seq: number;
  readonly name: string;
  /** Bytes of valid records (the file's size after any torn tail was cut). */
  bytes: number;
  readonly headerBytes: number;
  /** Highest entry index written into it (0: none); compaction deletes it once a snapshot covers this. */
  maxIndex: number;
  /** Whether its header is durable (a segment may be deleted only once its successor's is). */
  durable: boolean;
}

export interface RecoveredLog {
  readonly hardState: HardState;
  readonly baseIndex: number;
  readonly baseTerm: number;
  readonly entries: Entry[];
  readonly segments: SegmentState[];
}

/** A change to the files that recovery decided on; applied only once everything else checked out. */
export type Repair = { readonly kind: "truncate"; readonly name: string; readonly bytes: number } | { readonly kind: "remove"; readonly name: string };

interface ScannedRecord {
  readonly offset: number;
  readonly type: number;
  readonly payloadStart: number;
  readonly end: number;
}

interface ScannedSegment {
  readonly records: ScannedRecord[];
  readonly tail: TornTail | undefined;
}

function isZeroFrom(bytes: Buffer, offset: number): boolean {
  for (let i = offset; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * The offset of a whole, checksummed record starting after `from`, or -1. Tries the damaged
 * record's own end first (where the next record sits if only its content was hit), then
 * every offset, within a checksum budget: past it we cannot tell, so we refuse.
 */
function findValidRecordAfter(bytes: Buffer, from: number, problem: FrameCheck, file: string): number {
  if (problem.kind === "bad-checksum" && checkFrame(bytes, problem.end).kind === "ok") return problem.end;
  let budget = WAL_RESYNC_SCAN_BYTES_MAX;
  for (let offset = from + 1; offset < bytes.length; offset++) {
    const check = checkFrame(bytes, offset);
    if (check.kind === "ok") return offset;
    if (check.kind === "bad-checksum") budget -= check.end - offset;
    if (budget < 0) throw new WalCorruptionError(file, from, `damaged record; cannot tell a torn tail from corruption within WAL_RESYNC_SCAN_BYTES_MAX, refusing to guess`);
  }
  return -1;
}

export function scanSegment(bytes: Buffer, file: string, isLast: boolean): ScannedSegment {
  const records: ScannedRecord[] = [];
  let offset = 0;
  let check = checkFrame(bytes, offset);
  while (offset < bytes.length && check.kind === "ok") {
    records.push({ offset, type: check.type, payloadStart: check.payloadStart, end: check.end });
    offset = check.end;
    check = checkFrame(bytes, offset);
  }
  if (offset === bytes.length || check.kind === "ok") return { records, tail: undefined };
  const problem = describeFrameProblem(check);
  if (!isLast) throw new WalCorruptionError(file, offset, `${problem} in a segment that is not the last`);
  const bytesTruncated = bytes.length - offset;
  if (isZeroFrom(bytes, offset)) return { records, tail: { file, offset, bytesTruncated, kind: "zero-fill", problem } };
  const valid = findValidRecordAfter(bytes, offset, check, file);
  if (valid >= 0) throw new WalCorruptionError(file, offset, `${problem}, followed by a valid record at byte ${valid}`);
  return { records, tail: { file, offset, bytesTruncated, kind: "torn-record", problem } };
}

function decodeInto(replay: LogReplay, bytes: Buffer, record: ScannedRecord, at: RecordLocation): number {
  const { payloadStart, end } = record;
  switch (record.type as RecordType) {
    case RecordType.SegmentHeader:
      throw new WalCorruptionError(at.file, at.offset, "a segment header in the middle of a segment");
    case RecordType.Entries: {
      const entries = decodeEntries(bytes, payloadStart, end);
      replay.entries(entries, at);
      return entries[entries.length - 1]!.index;
    }
    case RecordType.HardState:
      replay.hardState(decodeHardState(bytes, payloadStart, end));
      return 0;
    case RecordType.SnapshotMarker:
      replay.snapshotMarker(decodeSnapshotMarker(bytes, payloadStart, end), at);
      return 0;
  }
}

/** Replays one segment's records; returns the highest entry index it holds. */
function replaySegment(replay: LogReplay, bytes: Buffer, segment: SegmentName, records: readonly ScannedRecord[]): number {
  let maxIndex = 0;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const at = { file: segment.name, offset: record.offset };
    try {
      if (!isRecordType(record.type)) throw new PayloadError(`unknown record type ${record.type}`);
      if (i === 0) {
        if (record.type !== RecordType.SegmentHeader) throw new PayloadError("the segment does not start with a header");
        const header = decodeSegmentHeader(bytes, record.payloadStart, record.end);
        if (header.seq !== segment.seq) throw new PayloadError(`header says segment ${header.seq}, the file name says ${segment.seq}`);
        replay.segmentHeader(header, at);
      } else {
        maxIndex = Math.max(maxIndex, decodeInto(replay, bytes, record, at));
      }
    } catch (error) {
      if (error instanceof PayloadError) throw new WalCorruptionError(at.file, at.offset, error.message);
      throw error;
    }
  }
  return maxIndex;
}

async function truncateFile(path: string, bytes: number): Promise<void> {
  const handle = await open(path, "r+");
  try {
    await handle.truncate(bytes);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** Cuts torn tails and deletes never-completed segments, durably. */
export async function applyRepairs(dir: string, repairs: readonly Repair[]): Promise<void> {
  for (const repair of repairs) {
    if (repair.kind === "truncate") {
      await truncateFile(join(dir, repair.name), repair.bytes);
    } else {
      await unlink(join(dir, repair.name));
      await syncDirectory(dir);
    }
  }
}

function checkSequence(segments: readonly SegmentName[]): void {
  for (let i = 1; i < segments.length; i++) {
    const expected = segments[i - 1]!.seq + 1;
    if (segments[i]!.seq !== expected) {
      throw new WalCorruptionError(segments[i]!.name, 0, `segment ${expected} is missing between ${segments[i - 1]!.name} and this one`);
    }
  }
}

/**
 * Reads every segment of `dir` (sorted by sequence) and returns the replayed log, a report, and
 * the repairs to make: cutting a torn tail off the last segment, or deleting a last segment
 * whose header record itself is torn (it never held an acknowledged record: the header goes
 * first, in the same write). Changes nothing itself, so a refusal leaves the files as found.
 */
export async function recoverLog(dir: string, segmentNames: readonly SegmentName[]): Promise<{ log: RecoveredLog; report: Omit<RecoveryReport, "ignoredFiles">; repairs: Repair[] }> {
  const names = [...segmentNames].sort((a, b) => a.seq - b.seq);
  checkSequence(names);
  const replay = new LogReplay();
  const segments: SegmentState[] = [];
  const repairs: Repair[] = [];
  let recordsRead = 0;
  let bytesRead = 0;
  let tornTail: TornTail | undefined;
  for (let i = 0; i < names.length; i++) {
    const segment = names[i]!;
    const path = join(dir, segment.name);
    const bytes = await readFile(path);
    bytesRead += bytes.length;
    const scanned = scanSegment(bytes, segment.name, i === names.length - 1);
    tornTail = scanned.tail;
    if (scanned.records.length === 0 && i < names.length - 1) throw new WalCorruptionError(segment.name, 0, "empty segment that is not the last");
    if (scanned.records.length === 0) {
      repairs.push({ kind: "remove", name: segment.name });
      continue;
    }
    const maxIndex = replaySegment(replay, bytes, segment, scanned.records);
    recordsRead += scanned.records.length;
    const validBytes = scanned.records[scanned.records.length - 1]!.end;
    if (scanned.tail !== undefined) repairs.push({ kind: "truncate", name: segment.name, bytes: validBytes });
    segments.push({ seq: segment.seq, name: segment.name, bytes: validBytes, headerBytes: scanned.records[0]!.end, maxIndex, durable: true });
  }
  const where = segments.length > 0 ? { file: segments[0]!.name, offset: 0 } : { file: dir, offset: 0 };
  const replayed = replay.finish(where);
  const removedFiles = repairs.flatMap((repair) => (repair.kind === "remove" ? [repair.name] : []));
  const report = { segmentsRead: names.length, recordsRead, entriesRecovered: replayed.entries.length, bytesRead, tornTail, removedFiles };
  return { log: { ...replayed, segments }, report, repairs };
}
