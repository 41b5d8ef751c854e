/**
 * What the node does at startup: recover the WAL and load it into the MemoryStorage that
 * serves the Raft core's reads (the WAL stays the durable copy, written through append()).
 */
import { MemoryStorage } from "../raft/log-storage.js";
import type { RecoveryReport } from "./recovery.js";
import { Wal, type WalOptions } from "./wal.js";

export interface OpenedStorage {
  readonly wal: Wal;
  readonly storage: MemoryStorage;
  readonly report: RecoveryReport;
}

export async function openStorage(dir: string, options?: WalOptions): Promise<OpenedStorage> {
  const { wal, recovered, report } = await Wal.open(dir, options);
  const storage = new MemoryStorage();
  if (recovered.snapshot !== undefined) storage.applySnapshot(recovered.snapshot);
  storage.append(recovered.entries);
  storage.setHardState(recovered.hardState);
  return { wal, storage, report };
}
