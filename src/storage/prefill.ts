/**
 * Zeros written ahead of the active segment's last record, and made durable, before any
 * record lands there. An fdatasync after a write that extends a file must also commit the
 * file's new size through the filesystem's journal; after a write into blocks that are
 * already on disk it only flushes the data. On this machine's ext4 (three processes syncing
 * 2 KiB writes at once) that is 275 → 184 µs per fdatasync and 65 → 48 µs of CPU. etcd
 * preallocates each segment; TigerBeetle zero-fills its whole data file.
 *
 * The fill runs in the thread pool, a chunk at a time, beside the writer's batches and always
 * beyond the bytes they wrote: a batch that would reach into the chunk being filled waits for
 * it. At most WAL_PREFILL_CHUNK_BYTES lie ahead, so a small device loses little disk to it.
 * The zeros are cut off again when the segment is closed (a clean close, or a rollover: a
 * segment that is not the last must end with its last record); after a crash, recovery finds
 * them after the last record and cuts them ("zero-fill").
 */
import { ftruncate } from "node:fs";
import { WAL_PREFILL_CHUNK_BYTES } from "../util/limits.js";
import { datasync, writeFully } from "./file-io.js";

/** Counters the WAL reports in its stats. */
export interface PrefillStats {
  /** Chunks of zeros written and made durable ahead of the records. */
  prefills: number;
  /** Fills that failed (a full disk, say): the segment then grows as its records are written. */
  prefillFailures: number;
}

let zeros: Buffer | undefined;

function zeroChunk(): Buffer {
  zeros ??= Buffer.alloc(WAL_PREFILL_CHUNK_BYTES);
  return zeros;
}

function truncate(fd: number, bytes: number): Promise<void> {
  return new Promise<void>((resolve, reject) => ftruncate(fd, bytes, (error) => (error === null ? resolve() : reject(error))));
}

/** The zero-fill of one segment file, from its opening to its closing. */
export class SegmentPrefill {
  readonly #fd: number;
  readonly #limit: number;
  readonly #stats: PrefillStats;
  /** Bytes of the file that exist: records written, or zeros made durable. */
  #filledEnd: number;
  #running: Promise<void> | undefined;
  /** Where the chunk being filled starts. */
  #runningFrom = Number.POSITIVE_INFINITY;
  #failed = false;
  /** Zeros may lie past the records: the end must be cut before the segment is closed. */
  #extended = false;

  /** `bytes`: the segment's size now (all records); `limit`: the segment's size limit. */
  constructor(fd: number, bytes: number, limit: number, stats: PrefillStats) {
    this.#fd = fd;
    this.#filledEnd = bytes;
    this.#limit = limit;
    this.#stats = stats;
  }

  /**
   * Before the writer writes up to byte `end`: the fill to wait for if that reaches the chunk
   * being filled, else undefined (the usual case costs no turn of the microtask queue).
   */
  fillReaching(end: number): Promise<void> | undefined {
    return end > this.#runningFrom ? this.#running : undefined;
  }

  /**
   * After the writer's bytes up to `end` are durable: once less than half a chunk of zeros is
   * left ahead, tops them up to a whole chunk (never more than WAL_PREFILL_CHUNK_BYTES ahead).
   */
  afterWrite(end: number): void {
    if (end > this.#filledEnd) this.#filledEnd = end;
    if (this.#running !== undefined || this.#failed || this.#filledEnd >= this.#limit) return;
    const ahead = this.#filledEnd - end;
    if (ahead >= WAL_PREFILL_CHUNK_BYTES / 2) return;
    const from = this.#filledEnd;
    const length = Math.min(WAL_PREFILL_CHUNK_BYTES - ahead, this.#limit - from);
    this.#extended = true;
    this.#runningFrom = from;
    this.#running = this.#fill(from, length);
  }

  /**
   * Waits for the chunk being filled, then cuts the file back to `bytes` (its records) and
   * makes that durable. Returns whether it had to (one more fdatasync).
   */
  async finish(bytes: number): Promise<boolean> {
    await this.settled();
    if (!this.#extended) return false;
    this.#extended = false;
    await truncate(this.#fd, bytes);
    await datasync(this.#fd);
    return true;
  }

  /** Resolves once no fill is running: the file descriptor may then be closed. */
  async settled(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  /** Never rejects: a failed fill only costs speed (the records' own writes then extend the file). */
  async #fill(from: number, length: number): Promise<void> {
    try {
      await writeFully(this.#fd, zeroChunk(), 0, length, from);
      await datasync(this.#fd);
      this.#filledEnd = Math.max(this.#filledEnd, from + length);
      this.#stats.prefills++;
    } catch {
      this.#failed = true;
      this.#stats.prefillFailures++;
    } finally {
      this.#running = undefined;
      this.#runningFrom = Number.POSITIVE_INFINITY;
    }
  }
}
