/**
 * The durable Raft log: a segmented, append-only write-ahead log with group commit.
 *
 * Appends are encoded at once, in call order, into the open batch's buffer; a flush loop
 * handles one batch at a time (one write, one fdatasync) and resolves its appends only then.
 * While a batch is on its way to disk, new appends gather in the next one, so N concurrent
 * appenders cost far fewer than N fsyncs. The writer tracks where the log stands (last index,
 * the term of every index as runs, hard state, snapshot base) so that every segment can
 * start with a header that restates it, and any suffix of segments replays on its own.
 */
import { closeSync, openSync } from "node:fs";
import { mkdir, readdir, unlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { assert } from "../util/assert.js";
import { afterPromiseChains } from "../util/microtasks.js";
import {
  WAL_BATCH_BUFFER_BYTES_INITIAL,
  WAL_BATCH_BUFFER_RETAINED_BYTES_MAX,
  WAL_BATCH_BYTES_MAX,
  WAL_PENDING_BYTES_MAX,
  WAL_RECORD_BYTES_MAX,
  WAL_SEGMENT_BYTES_MAX_DEFAULT,
  WAL_SEGMENT_BYTES_MIN,
} from "../util/limits.js";
import { NO_NODE, type Entry, type HardState, type Snapshot } from "../raft/types.js";
import { ByteArena } from "./byte-arena.js";
import {
  entryAloneRecordPayloadBytes,
  hardStateRecordBytes,
  planEntriesRecords,
  writeEntriesRecord,
  writeHardStateRecord,
  writeSegmentHeaderRecord,
  writeSnapshotMarkerRecord,
  type SnapshotMarker,
} from "./codec.js";
import { SnapshotCorruptionError, StorageError, WalCorruptionError } from "./errors.js";
import { RECORD_HEADER_BYTES } from "./record.js";
import { applyRepairs, recoverLog, type RecoveryReport, type SegmentState } from "./recovery.js";
import { sameHardState } from "./replay.js";
import { parseSegmentFileName, segmentFileName, syncDirectory, TEMP_SUFFIX, type SegmentName } from "./segment-files.js";
import { datasync, writeFully } from "./file-io.js";
import { SegmentPrefill } from "./prefill.js";
import { parseSnapshotFileName, pruneSnapshotFiles, readSnapshotFile, snapshotFileName, writeSnapshotFile } from "./snapshot-file.js";
import { TermRuns } from "./term-runs.js";

export interface WalOptions {
  /** Size at which a new segment starts (default WAL_SEGMENT_BYTES_MAX_DEFAULT; tests use small ones). */
  readonly segmentBytesMax?: number;
  /** Write zeros ahead of the last record so appends do not grow the file (default true; storage/prefill.ts). */
  readonly prefill?: boolean;
}

/** Counters since open, for tests (group commit) and metrics. */
export interface WalStats {
  /** append() and saveHardState() calls accepted. */
  readonly appends: number;
  /** Group-commit batches written. */
  readonly batches: number;
  /** write() calls on segment files. */
  readonly writes: number;
  /** fdatasync/fsync calls: segments, snapshot files and the directory. */
  readonly fsyncs: number;
  readonly bytesWritten: number;
  readonly segmentsCreated: number;
  readonly segmentsRemoved: number;
  /** Chunks of zeros written and synced ahead of the records (not counted in `writes` or `fsyncs`). */
  readonly prefills: number;
  /** Zero-fills that failed (a full disk, say); appends then grow the file as they go. */
  readonly prefillFailures: number;
}

/** The durable state found at open. `entries` start at snapshot.meta.index + 1 (or 1). */
export interface RecoveredState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | undefined;
  readonly entries: Entry[];
}

/** Where the log stands after some record: what a segment header restates. */
interface LogPoint {
  readonly hardState: HardState;
  readonly baseIndex: number;
  readonly baseTerm: number;
  readonly lastIndex: number;
}

function logPoint(hardState: HardState, baseIndex: number, baseTerm: number, lastIndex: number): LogPoint {
  return { hardState, baseIndex, baseTerm, lastIndex };
}

interface BatchRecord {
  readonly start: number;
  readonly end: number;
  readonly after: LogPoint;
  readonly maxIndex: number;
  readonly marker: SnapshotMarker | undefined;
}

class Batch {
  readonly arena = new ByteArena(WAL_BATCH_BUFFER_BYTES_INITIAL);
  readonly records: BatchRecord[] = [];
  /** Taken by the flush loop (or full): later appends go to a new batch. */
  sealed = false;
  #durable: Promise<void> | undefined;
  #resolve: (() => void) | undefined;
  #reject: ((error: Error) => void) | undefined;

  /** One promise for every call waiting on this batch: one allocation per batch, not per append. */
  durable(): Promise<void> {
    this.#durable ??= new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    return this.#durable;
  }

  resolveWaiters(): void {
    this.#resolve?.();
  }

  rejectWaiters(error: Error): void {
    this.#reject?.(error);
  }

  reset(): void {
    this.arena.reset();
    this.records.length = 0;
    this.sealed = false;
    this.#durable = undefined;
    this.#resolve = undefined;
    this.#reject = undefined;
  }
}

const SPARE_BATCHES_MAX = 2;
const SNAPSHOT_MARKER_RECORD_BYTES = RECORD_HEADER_BYTES + 17;

/** Creates `dir` if needed, durably: every directory that gained an entry is fsync'd. */
async function ensureDirectory(dir: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true });
  if (created === undefined) return;
  const top = dirname(resolve(created));
  for (let path = resolve(dir); path !== top && dirname(path) !== path; path = dirname(path)) await syncDirectory(dirname(path));
}

interface DirectoryListing {
  readonly segments: SegmentName[];
  readonly snapshots: string[];
  readonly temporaries: string[];
  readonly ignored: string[];
}

function classify(names: readonly string[]): DirectoryListing {
  const listing: DirectoryListing = { segments: [], snapshots: [], temporaries: [], ignored: [] };
  for (const name of names) {
    const segment = parseSegmentFileName(name);
    if (segment !== undefined) listing.segments.push(segment);
    else if (parseSnapshotFileName(name) !== undefined) listing.snapshots.push(name);
    else if (name.endsWith(TEMP_SUFFIX)) listing.temporaries.push(name);
    else listing.ignored.push(name);
  }
  return listing;
}

async function loadBaseSnapshot(dir: string, index: number, term: number): Promise<Snapshot | undefined> {
  if (index === 0) return undefined;
  const name = snapshotFileName(index, term);
  try {
    return await readSnapshotFile(join(dir, name), { index, term });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new SnapshotCorruptionError(join(dir, name), "missing, but the WAL continues from this snapshot");
    throw error;
  }
}

export class Wal {
  readonly #dir: string;
  readonly #segmentBytesMax: number;
  readonly #segments: SegmentState[];
  /** File descriptor of the segment being written. */
  #active: number | undefined;
  /** The zeros ahead of the active segment's records (undefined with the option off). */
  #prefill: SegmentPrefill | undefined;
  readonly #prefillEnabled: boolean;
  /** Terms of the log as appended so far (including what is not durable yet). */
  readonly #terms: TermRuns;
  /** After every record enqueued. */
  #stream: LogPoint;
  /** After every record written (headers of new segments restate this). */
  #written: LogPoint;
  #durableSnapshot: { index: number; term: number };
  readonly #batches: Batch[] = [];
  readonly #spareBatches: Batch[] = [];
  #pendingBytes = 0;
  #flushRunning = false;
  #idle: Promise<void> = Promise.resolve();
  #failure: StorageError | undefined;
  #closed = false;
  #snapshotChain: Promise<void> = Promise.resolve();
  readonly #stats = { appends: 0, batches: 0, writes: 0, fsyncs: 0, bytesWritten: 0, segmentsCreated: 0, segmentsRemoved: 0, prefills: 0, prefillFailures: 0 };

  private constructor(dir: string, segmentBytesMax: number, prefill: boolean, segments: SegmentState[], start: LogPoint, entries: readonly Entry[]) {
    this.#dir = dir;
    this.#segmentBytesMax = segmentBytesMax;
    this.#prefillEnabled = prefill;
    this.#segments = segments;
    this.#terms = new TermRuns(start.baseIndex, start.baseTerm);
    this.#terms.append(entries);
    this.#stream = start;
    this.#written = start;
    this.#durableSnapshot = { index: start.baseIndex, term: start.baseTerm };
  }

  /**
   * Opens (or creates) the WAL in `dir` and recovers it: a torn tail of the last segment is
   * cut off and reported; damage anywhere else throws WalCorruptionError or
   * SnapshotCorruptionError naming the file, and leaves every file as it was.
   */
  static async open(dir: string, options: WalOptions = {}): Promise<{ wal: Wal; recovered: RecoveredState; report: RecoveryReport }> {
    const segmentBytesMax = options.segmentBytesMax ?? WAL_SEGMENT_BYTES_MAX_DEFAULT;
    if (!Number.isSafeInteger(segmentBytesMax) || segmentBytesMax < WAL_SEGMENT_BYTES_MIN) {
      throw new RangeError(`Wal.open: segmentBytesMax ${segmentBytesMax} must be an integer ≥ WAL_SEGMENT_BYTES_MIN (${WAL_SEGMENT_BYTES_MIN})`);
    }
    await ensureDirectory(dir);
    const listing = classify(await readdir(dir));
    const { log, report, repairs } = await recoverLog(dir, listing.segments);
    if (log.segments.length === 0 && listing.snapshots.length > 0) {
      throw new WalCorruptionError(dir, 0, `snapshot files (${listing.snapshots.join(", ")}) but no WAL segment: the log is missing`);
    }
    const snapshot = await loadBaseSnapshot(dir, log.baseIndex, log.baseTerm);
    // Everything checked out: only now change files.
    await applyRepairs(dir, repairs);
    for (const name of listing.temporaries) await unlink(join(dir, name));
    if (listing.temporaries.length > 0) await syncDirectory(dir);
    const lastIndex = log.entries.length > 0 ? log.entries[log.entries.length - 1]!.index : log.baseIndex;
    const start: LogPoint = { hardState: log.hardState, baseIndex: log.baseIndex, baseTerm: log.baseTerm, lastIndex };
    const wal = new Wal(dir, segmentBytesMax, options.prefill ?? true, log.segments, start, log.entries);
    await wal.#startWriting();
    return {
      wal,
      recovered: { hardState: log.hardState, snapshot, entries: log.entries },
      report: { ...report, removedFiles: [...listing.temporaries, ...report.removedFiles], ignoredFiles: listing.ignored },
    };
  }

  async #startWriting(): Promise<void> {
    const last = this.#segments.at(-1);
    if (last === undefined) {
      await this.#createSegment(1, this.#written);
      await datasync(this.#active!);
      await syncDirectory(this.#dir);
      this.#stats.fsyncs += 2;
      this.#segments.at(-1)!.durable = true;
    } else {
      this.#active = openSync(join(this.#dir, last.name), "r+");
      this.#startPrefill(last.bytes);
    }
    this.#prefill?.afterWrite(this.#segments.at(-1)!.bytes);
  }

  #startPrefill(bytes: number): void {
    if (this.#prefillEnabled) this.#prefill = new SegmentPrefill(this.#active!, bytes, this.#segmentBytesMax, this.#stats);
  }

  /** Cuts the zeros after the active segment's records, durably, before the file is closed. */
  async #finishPrefill(): Promise<void> {
    const prefill = this.#prefill;
    this.#prefill = undefined;
    if (prefill !== undefined && (await prefill.finish(this.#segments.at(-1)!.bytes))) this.#stats.fsyncs++;
  }

  /** Index of the first entry the log holds (the snapshot's index + 1). */
  firstIndex(): number {
    return this.#terms.baseIndex + 1;
  }

  /** Index of the last entry appended (durable or on its way). */
  lastIndex(): number {
    return this.#terms.lastIndex;
  }

  stats(): WalStats {
    return { ...this.#stats };
  }

  /**
   * Appends entries (overwriting the log from entries[0].index on, if it is ≤ lastIndex())
   * and then the hard state, if given and changed. Resolves once both are durable, along
   * with everything appended before. With no entries and no new hard state it is a barrier.
   */
  append(entries: readonly Entry[], hardState?: HardState): Promise<void> {
    const refused = this.#refusal() ?? this.#checkEntries(entries);
    if (refused !== undefined) return Promise.reject(refused);
    const newHardState = hardState !== undefined && !sameHardState(hardState, this.#stream.hardState) ? hardState : undefined;
    if (newHardState !== undefined) this.#checkHardState(newHardState);
    const plan = planEntriesRecords(entries);
    let bytes = newHardState === undefined ? 0 : hardStateRecordBytes(newHardState);
    for (const record of plan) bytes += RECORD_HEADER_BYTES + record.payloadBytes;
    if (this.#pendingBytes + bytes > WAL_PENDING_BYTES_MAX) {
      return Promise.reject(new StorageError("wal-overloaded", `${this.#pendingBytes} bytes already wait for the disk; ${bytes} more would exceed WAL_PENDING_BYTES_MAX (${WAL_PENDING_BYTES_MAX})`));
    }
    this.#stats.appends++;
    for (const record of plan) {
      const lastOfRecord = entries[record.end - 1]!.index;
      this.#terms.append(entries, record.start, record.end);
      // Literals, not spreads: a spread of #stream was the costliest line of append() in a profile.
      const after = logPoint(this.#stream.hardState, this.#stream.baseIndex, this.#stream.baseTerm, lastOfRecord);
      this.#enqueue(RECORD_HEADER_BYTES + record.payloadBytes, (arena) => writeEntriesRecord(arena, entries, record.start, record.end, record.payloadBytes), after, lastOfRecord);
    }
    if (newHardState !== undefined) {
      const after = logPoint(newHardState, this.#stream.baseIndex, this.#stream.baseTerm, this.#stream.lastIndex);
      this.#enqueue(hardStateRecordBytes(newHardState), (arena) => writeHardStateRecord(arena, newHardState), after, 0);
    }
    return this.#waitForDurable();
  }

  saveHardState(hardState: HardState): Promise<void> {
    return this.append([], hardState);
  }

  /**
   * Makes `snapshot` durable as a file, then records it in the WAL; resolves when both are
   * durable. Entries after the snapshot's index stay only if the log holds that index with
   * the snapshot's term (Raft, Figure 13); otherwise the snapshot replaces the whole log.
   * Afterwards compact() may drop the segments it covers. Snapshot files beyond the newest
   * two are deleted.
   */
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    const refused = this.#refusal();
    if (refused !== undefined) return Promise.reject(refused);
    this.#checkSnapshotIsNewer(snapshot);
    const saved = this.#snapshotChain.then(() => this.#saveSnapshotNow(snapshot));
    this.#snapshotChain = saved.catch(() => undefined);
    return saved;
  }

  #checkSnapshotIsNewer(snapshot: Snapshot): void {
    const { index } = snapshot.meta;
    assert(index > this.#terms.baseIndex, () => `Wal.saveSnapshot: snapshot ${index} is not newer than the current one at ${this.#terms.baseIndex}`);
  }

  async #saveSnapshotNow(snapshot: Snapshot): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    // Again: an earlier save in the chain may have moved the base past this one.
    this.#checkSnapshotIsNewer(snapshot);
    await writeSnapshotFile(this.#dir, snapshot);
    this.#stats.fsyncs += 2;
    if (this.#failure !== undefined) throw this.#failure;
    const { index, term } = snapshot.meta;
    // In stream order now: appends made while the file was written come before the marker.
    const marker: SnapshotMarker = { index, term, retainsLog: this.#terms.termAt(index) === term };
    if (marker.retainsLog) this.#terms.rebase(index, term);
    else this.#terms.reset(index, term);
    const after = logPoint(this.#stream.hardState, index, term, this.#terms.lastIndex);
    this.#enqueue(SNAPSHOT_MARKER_RECORD_BYTES, (arena) => writeSnapshotMarkerRecord(arena, marker), after, 0, marker);
    await this.#waitForDurable();
    const removed = await pruneSnapshotFiles(this.#dir, { index, term });
    if (removed.length > 0) this.#stats.fsyncs++;
  }

  /**
   * Deletes the oldest segments whose entries are all ≤ upToIndex, which must be covered by
   * the newest durable snapshot. The segment being written is never deleted. Returns how
   * many segments were deleted.
   */
  compact(upToIndex: number): Promise<number> {
    const refused = this.#refusal();
    if (refused !== undefined) return Promise.reject(refused);
    assert(upToIndex <= this.#durableSnapshot.index, () => `Wal.compact: ${upToIndex} is past the durable snapshot ${this.#durableSnapshot.index}`);
    return this.#compactNow(upToIndex);
  }

  async #compactNow(upToIndex: number): Promise<number> {
    let count = 0;
    // A segment goes only once its successor's header (restating hard state and snapshot) is durable.
    while (count + 1 < this.#segments.length && this.#segments[count]!.maxIndex <= upToIndex && this.#segments[count + 1]!.durable) count++;
    if (count === 0) return 0;
    const removed = this.#segments.splice(0, count);
    for (const segment of removed) await unlink(join(this.#dir, segment.name));
    await syncDirectory(this.#dir);
    this.#stats.fsyncs++;
    this.#stats.segmentsRemoved += count;
    return count;
  }

  /** Waits for everything appended to be durable, then closes the files. Later calls are refused. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#snapshotChain;
    while (this.#flushRunning) await this.#idle;
    // After a failed write the end of the file is unknown: recovery sorts it out.
    if (this.#failure === undefined) await this.#finishPrefill();
    else await this.#prefill?.settled(); // its write must not land in a file that reuses the descriptor
    if (this.#active !== undefined) closeSync(this.#active);
    this.#active = undefined;
  }

  #refusal(): StorageError | undefined {
    if (this.#failure !== undefined) return this.#failure;
    if (this.#closed) return new StorageError("wal-closed", `the WAL in ${this.#dir} is closed`);
    return undefined;
  }

  /** Bugs (gaps, terms going back) assert; an entry too large for a record is an operating error. */
  #checkEntries(entries: readonly Entry[]): StorageError | undefined {
    if (entries.length === 0) return undefined;
    const first = entries[0]!.index;
    assert(first > this.#terms.baseIndex, () => `Wal.append: entry ${first} is not after the snapshot at ${this.#terms.baseIndex}`);
    assert(first <= this.#terms.lastIndex + 1, () => `Wal.append: gap, entry ${first} after last index ${this.#terms.lastIndex}`);
    let previousTerm = this.#terms.termAt(first - 1)!;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      assert(entry.index === first + i, "Wal.append: entries must be contiguous");
      assert(Number.isSafeInteger(entry.term) && entry.term >= previousTerm, () => `Wal.append: entry ${entry.index} has term ${entry.term}, below the ${previousTerm} before it`);
      previousTerm = entry.term;
      const payloadBytes = entryAloneRecordPayloadBytes(entry);
      if (payloadBytes > WAL_RECORD_BYTES_MAX) {
        return new StorageError("too-large", `entry ${entry.index} needs a ${payloadBytes}-byte record, above WAL_RECORD_BYTES_MAX (${WAL_RECORD_BYTES_MAX})`);
      }
    }
    return undefined;
  }

  /** Raft never lowers its term or commit index, and never changes a vote within a term. */
  #checkHardState(next: HardState): void {
    const current = this.#stream.hardState;
    assert(Number.isSafeInteger(next.term) && Number.isSafeInteger(next.commit) && next.commit >= 0, "Wal: hard state term and commit must be integers");
    assert(next.term >= current.term, () => `Wal: hard state term went back from ${current.term} to ${next.term}`);
    assert(next.term > current.term || current.vote === NO_NODE || next.vote === current.vote, () => `Wal: vote changed from ${current.vote} to ${next.vote} in term ${next.term}`);
    assert(next.commit >= current.commit, () => `Wal: commit went back from ${current.commit} to ${next.commit}`);
  }

  #openBatch(recordBytes: number): Batch {
    let batch = this.#batches.at(-1);
    if (batch === undefined || batch.sealed || (batch.arena.length > 0 && batch.arena.length + recordBytes > WAL_BATCH_BYTES_MAX)) {
      if (batch !== undefined) batch.sealed = true;
      batch = this.#spareBatches.pop() ?? new Batch();
      this.#batches.push(batch);
    }
    return batch;
  }

  #enqueue(recordBytes: number, write: (arena: ByteArena) => void, after: LogPoint, maxIndex: number, marker?: SnapshotMarker): void {
    const batch = this.#openBatch(recordBytes);
    const start = batch.arena.length;
    write(batch.arena);
    assert(batch.arena.length - start === recordBytes, "Wal: record size differs from its plan");
    batch.records.push({ start, end: batch.arena.length, after, maxIndex, marker });
    this.#pendingBytes += recordBytes;
    this.#stream = after;
  }

  #waitForDurable(): Promise<void> {
    const durable = this.#openBatch(0).durable();
    this.#kick();
    return durable;
  }

  #kick(): void {
    if (this.#flushRunning) return;
    this.#flushRunning = true;
    this.#idle = this.#flushLoop();
  }

  /** One batch at a time; each wait lets appends made meanwhile, or set off by the last batch, join. */
  async #flushLoop(): Promise<void> {
    for (;;) {
      await afterPromiseChains();
      const batch = this.#batches.shift();
      if (batch === undefined) break;
      if (this.#failure !== undefined) {
        this.#fail(this.#failure, batch);
        break;
      }
      batch.sealed = true;
      try {
        await this.#writeBatch(batch);
      } catch (error) {
        this.#fail(error, batch);
        break;
      }
      this.#settle(batch);
    }
    this.#flushRunning = false;
  }

  async #writeBatch(batch: Batch): Promise<void> {
    if (batch.records.length === 0) return;
    this.#stats.batches++;
    const created: SegmentState[] = [];
    let segment = this.#segments.at(-1)!;
    let chunkStart = 0;
    let planned = segment.bytes;
    let point = this.#written;
    for (const record of batch.records) {
      const size = record.end - record.start;
      if (planned + size > this.#segmentBytesMax && planned > segment.headerBytes) {
        await this.#writeChunk(segment, batch.arena, chunkStart, record.start);
        segment = await this.#rollOver(point);
        created.push(segment);
        chunkStart = record.start;
        planned = segment.bytes;
      }
      planned += size;
      segment.maxIndex = Math.max(segment.maxIndex, record.maxIndex);
      point = record.after;
    }
    await this.#writeChunk(segment, batch.arena, chunkStart, batch.arena.length);
    if (created.length > 0) {
      await syncDirectory(this.#dir);
      this.#stats.fsyncs++;
      for (const fresh of created) fresh.durable = true;
    }
    this.#written = point;
  }

  /** Writes arena bytes [start, end) at the end of the active segment and makes them durable. */
  async #writeChunk(segment: SegmentState, arena: ByteArena, start: number, end: number): Promise<void> {
    if (end === start) return;
    const fill = this.#prefill?.fillReaching(segment.bytes + (end - start));
    if (fill !== undefined) await fill;
    this.#stats.writes += await writeFully(this.#active!, arena.backing, start, end, segment.bytes);
    this.#stats.bytesWritten += end - start;
    segment.bytes += end - start;
    await datasync(this.#active!);
    this.#stats.fsyncs++;
    this.#prefill?.afterWrite(segment.bytes);
  }

  /** Only after the previous segment's last chunk is durable: a torn non-last segment is corruption. */
  async #rollOver(point: LogPoint): Promise<SegmentState> {
    const previous = this.#segments.at(-1)!;
    await this.#finishPrefill();
    closeSync(this.#active!);
    this.#active = undefined;
    return this.#createSegment(previous.seq + 1, point);
  }

  /** A new active segment holding only its header (not yet durable: the caller syncs). */
  async #createSegment(seq: number, point: LogPoint): Promise<SegmentState> {
    const name = segmentFileName(seq, point.lastIndex + 1);
    const header = new ByteArena(256);
    writeSegmentHeaderRecord(header, { seq, hardState: point.hardState, baseIndex: point.baseIndex, baseTerm: point.baseTerm, lastIndex: point.lastIndex });
    this.#active = openSync(join(this.#dir, name), "wx");
    this.#stats.writes += await writeFully(this.#active, header.backing, 0, header.length, 0);
    this.#stats.bytesWritten += header.length;
    this.#stats.segmentsCreated++;
    const segment: SegmentState = { seq, name, bytes: header.length, headerBytes: header.length, maxIndex: 0, durable: false };
    this.#segments.push(segment);
    this.#startPrefill(segment.bytes);
    return segment;
  }

  #settle(batch: Batch): void {
    this.#pendingBytes -= batch.arena.length;
    for (const record of batch.records) {
      if (record.marker !== undefined) this.#durableSnapshot = { index: record.marker.index, term: record.marker.term };
    }
    batch.resolveWaiters();
    batch.reset();
    if (batch.arena.capacity <= WAL_BATCH_BUFFER_RETAINED_BYTES_MAX && this.#spareBatches.length < SPARE_BATCHES_MAX) this.#spareBatches.push(batch);
  }

  /** After a failed write or fsync what reached the disk is unknown: refuse everything from now on. */
  #fail(cause: unknown, batch: Batch): void {
    const message = cause instanceof Error ? cause.message : String(cause);
    this.#failure ??= new StorageError("wal-failed", `WAL write failed in ${this.#dir}: ${message}; reopen the WAL to recover`, { cause });
    const failed = [batch, ...this.#batches];
    this.#batches.length = 0;
    for (const each of failed) each.rejectWaiters(this.#failure);
  }
}
