/**
 * A simulated disk holding one node's write-ahead log: the twin of src/storage's WAL behind
 * the driver's DurableLog port. Writes are records in a stream (entries, hard state, snapshot),
 * made durable by a sync that takes simulated time, one sync at a time (group commit: what is
 * written during a sync goes with the next). A crash keeps what was synced and, at most, a
 * prefix of what was not (a torn tail is cut by recovery, as the WAL's CRCs make it): never a
 * later record without the ones before it.
 */
import { MemoryStorage, type Entry, type HardState, type Snapshot } from "../raft/index.js";
import type { DurableLog } from "../node/ports.js";
import type { Owner, Scheduler } from "./scheduler.js";

type DiskRecord =
  | { readonly kind: "entries"; readonly entries: readonly Entry[] }
  | { readonly kind: "hard-state"; readonly hardState: HardState }
  | { readonly kind: "snapshot"; readonly snapshot: Snapshot };

/** What the simulation watches as records become durable (the invariant checks). */
export interface DiskObserver {
  /** Before `entries` are folded into `durable` (which still shows the log before them). */
  persistingEntries(durable: MemoryStorage, entries: readonly Entry[]): void;
  persistingHardState(durable: MemoryStorage, previous: HardState, next: HardState): void;
  persistingSnapshot(snapshot: Snapshot): void;
}

interface Batch {
  readonly records: DiskRecord[];
  readonly waiters: (() => void)[];
}

export class SimDisk {
  /** Everything synced: what survives any crash. */
  readonly durable = new MemoryStorage();
  readonly #scheduler: Scheduler;
  readonly #observer: DiskObserver;
  /** How long the next sync takes, in ms (the seed decides; slow ones make crashes lose more). */
  readonly #syncMs: () => number;
  /** The sync in flight, and the batch that gathers behind it. */
  #syncing: Batch | undefined;
  #gathering: Batch = { records: [], waiters: [] };
  #owner: Owner | undefined;
  /** Says a write is durable when it is written, not when it is synced (a deliberate bug). */
  readonly #lies: boolean;
  syncs = 0;

  constructor(scheduler: Scheduler, observer: DiskObserver, syncMs: () => number, lies = false) {
    this.#scheduler = scheduler;
    this.#observer = observer;
    this.#syncMs = syncMs;
    this.#lies = lies;
  }

  /** Records written and not yet durable (a crash may keep a prefix of them). */
  get unsyncedRecords(): number {
    return (this.#syncing?.records.length ?? 0) + this.#gathering.records.length;
  }

  /** The log a (re)starting node recovers: a copy of what is durable, as the WAL's recovery gives it. */
  recover(owner: Owner): { log: DurableLog; storage: MemoryStorage } {
    this.#owner = owner;
    const storage = new MemoryStorage();
    const snapshot = this.durable.snapshot();
    if (snapshot.meta.index > 0) storage.applySnapshot(snapshot);
    const last = this.durable.lastIndex();
    if (last > snapshot.meta.index) storage.append(this.durable.entries(snapshot.meta.index + 1, last + 1, Number.MAX_SAFE_INTEGER));
    storage.setHardState(this.durable.hardState());
    const log: DurableLog = {
      append: (entries, hardState) => this.#write(owner, entries.length > 0 ? [{ kind: "entries", entries: entries.slice() }] : [], hardState),
      saveSnapshot: (snapshot) => this.#write(owner, [{ kind: "snapshot", snapshot }]),
      compact: async (upToIndex) => {
        if (owner.alive) this.durable.compact(Math.min(upToIndex, this.durable.snapshot().meta.index));
      },
    };
    return { log, storage };
  }

  /**
   * Power loss: what was synced stays; of the rest, the first `keep` records reach the disk
   * (0: none), the others are lost. Waiters of the lost life are never answered.
   */
  crash(keep: number): void {
    const unsynced = [...(this.#syncing?.records ?? []), ...this.#gathering.records];
    for (const record of unsynced.slice(0, keep)) this.#fold(record);
    this.#syncing = undefined;
    this.#gathering = { records: [], waiters: [] };
    this.#owner = undefined;
  }

  #write(owner: Owner, records: DiskRecord[], hardState?: HardState): Promise<void> {
    if (!owner.alive || owner !== this.#owner) return new Promise<void>(() => {}); // a dead life's write never completes
    const batch = this.#gathering;
    batch.records.push(...records);
    if (hardState !== undefined) batch.records.push({ kind: "hard-state", hardState });
    const durable = new Promise<void>((resolve) => batch.waiters.push(resolve));
    if (this.#syncing === undefined) this.#startSync(owner);
    return this.#lies ? Promise.resolve() : durable;
  }

  #startSync(owner: Owner): void {
    const batch = this.#gathering;
    this.#syncing = batch;
    this.#gathering = { records: [], waiters: [] };
    this.#scheduler.after(this.#syncMs(), () => {
      if (this.#syncing !== batch) return;
      this.syncs++;
      for (const record of batch.records) this.#fold(record);
      this.#syncing = undefined;
      for (const resolve of batch.waiters) resolve();
      if (this.#gathering.waiters.length > 0) this.#startSync(owner);
    }, owner);
  }

  /** One record reaches the disk: the WAL's replay rules. */
  #fold(record: DiskRecord): void {
    const durable = this.durable;
    switch (record.kind) {
      case "entries":
        this.#observer.persistingEntries(durable, record.entries);
        durable.append(record.entries);
        return;
      case "hard-state":
        this.#observer.persistingHardState(durable, durable.hardState(), record.hardState);
        durable.setHardState(record.hardState);
        return;
      case "snapshot": {
        this.#observer.persistingSnapshot(record.snapshot);
        const { index, term, confState } = record.snapshot.meta;
        if (index <= durable.snapshot().meta.index) return;
        // Entries after the snapshot stay only if the log holds its index with its term (Raft, Figure 13).
        if (durable.term(index) === term) durable.createSnapshot(index, confState, record.snapshot.data);
        else durable.applySnapshot(record.snapshot);
        return;
      }
    }
  }
}
