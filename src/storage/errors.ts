/**
 * Operating errors of storage: a damaged file, a failed disk, misuse after close. Each names
 * the file (and the byte offset, for the WAL) so an operator can look at it. Bugs in Flotilla
 * (an append with a gap, a snapshot older than the current one) are util's InvariantErrors.
 */
export type StorageErrorCode =
  /** A WAL record before the tail (or in a non-last segment) is damaged: refused, never skipped. */
  | "wal-corrupt"
  /** A snapshot file is damaged or missing. */
  | "snapshot-corrupt"
  /** An earlier write or fsync failed; what reached the disk is unknown, so the WAL stops. */
  | "wal-failed"
  /** The WAL was used after close(). */
  | "wal-closed"
  /** Too many bytes wait to become durable (WAL_PENDING_BYTES_MAX). */
  | "wal-overloaded"
  /** One entry is too large for a WAL record (WAL_RECORD_BYTES_MAX), or a snapshot too large for a file. */
  | "too-large";

export class StorageError extends Error {
  override name = "StorageError";
  readonly code: StorageErrorCode;

  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A damaged WAL record that is not a torn tail. The node must not start: data would be lost. */
export class WalCorruptionError extends StorageError {
  override name = "WalCorruptionError";
  readonly file: string;
  readonly offset: number;

  constructor(file: string, offset: number, problem: string) {
    super("wal-corrupt", `WAL corrupt: ${file} at byte ${offset}: ${problem}`);
    this.file = file;
    this.offset = offset;
  }
}

export class SnapshotCorruptionError extends StorageError {
  override name = "SnapshotCorruptionError";
  readonly file: string;

  constructor(file: string, problem: string) {
    super("snapshot-corrupt", `snapshot corrupt: ${file}: ${problem}`);
    this.file = file;
  }
}
