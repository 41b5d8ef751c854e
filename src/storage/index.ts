/**
 * storage: Flotilla's durable Raft log. A segmented write-ahead log with group commit
 * (Wal), snapshot files, and openStorage() to load what was recovered into the
 * MemoryStorage the Raft core reads. See README.md.
 */
export { Wal, type WalOptions, type WalStats, type RecoveredState } from "./wal.js";
export { openStorage, type OpenedStorage } from "./open-storage.js";
export type { RecoveryReport, TornTail } from "./recovery.js";
export { StorageError, WalCorruptionError, SnapshotCorruptionError, type StorageErrorCode } from "./errors.js";
export { crc32c } from "./crc32c.js";
