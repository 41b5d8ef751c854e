/**
 * One simulated machine: its disk (SimDisk), its state machine (src/kv's KvStore on an
 * in-memory SQLite) and, while it is up, a Replica (src/node) — the very replica production
 * runs — on a clock and a network endpoint of the simulation. A crash ends the replica's life:
 * every timer, sync and delivery it had scheduled is dropped, and its pending promises are
 * never answered, as when a process dies.
 */
import type { MemoryStorage } from "../raft/index.js";
import { KvStore, MEMORY_PATH, type ApplyInput, type StateImage } from "../kv/index.js";
import { Replica, peersInUnappliedLog, recoverStateMachine, type NodeLogger, type RaftTuning, type StateMachine } from "../node/index.js";
import type { Rng } from "../util/rng.js";
import { SimDisk, type DiskObserver } from "./disk.js";
import type { SimNetwork } from "./network.js";
import { Owner, type Scheduler } from "./scheduler.js";

export type NodeLife = "up" | "down" | "removed";

/** Timing and state machine settings of every node of a run (drawn from the seed). */
export interface NodeSettings {
  readonly tickMs: number;
  readonly requestTimeoutMs: number;
  readonly raft: RaftTuning;
  readonly snapshotEntries: number;
  readonly snapshotCatchupEntries: number;
  /**
   * The state machine keeps what it applied across a crash (src/kv on a file does). false: it
   * is lost and rebuilt from the disk's snapshot and log (a damaged or deleted state.db).
   */
  readonly durableStateMachine: boolean;
}

/** What the simulation watches on a node's state machine (the invariant checks). */
export interface MachineObserver {
  applied(node: SimNode, inputs: readonly ApplyInput[], previousApplied: number): void;
  restored(node: SimNode, index: number): void;
  /** The node stopped itself on a failed save or a broken invariant: always a bug here. */
  fatal(node: SimNode, error: Error): void;
  /** The node learned it was removed and stopped. */
  removed(node: SimNode, detail: string): void;
}

export interface SimNodeOptions {
  readonly id: string;
  readonly scheduler: Scheduler;
  readonly network: SimNetwork;
  readonly rng: Rng;
  readonly settings: NodeSettings;
  /** How much slower than true time this node's timers run (≥ 1). */
  readonly clockRate: number;
  readonly syncMs: () => number;
  /** A disk that says a write is durable before it is (the deliberate bug "ack-before-persist"). */
  readonly lyingDisk?: boolean;
  readonly disk: DiskObserver;
  readonly machine: MachineObserver;
}

const SILENT: NodeLogger = { debug() {}, info() {}, warn() {}, error() {}, fatal() {} };

export class SimNode {
  readonly id: string;
  readonly disk: SimDisk;
  readonly #options: SimNodeOptions;
  #kv: KvStore | undefined;
  #replica: Replica | undefined;
  #owner: Owner | undefined;
  #storage: MemoryStorage | undefined;
  #life: NodeLife = "down";
  /** Counts starts; requests made to an earlier life died with it. */
  incarnation = 0;
  /** When a down node comes back (set by the nemesis). */
  restartAt = 0;

  constructor(options: SimNodeOptions) {
    this.id = options.id;
    this.#options = options;
    this.disk = new SimDisk(options.scheduler, options.disk, options.syncMs, options.lyingDisk ?? false);
  }

  get life(): NodeLife {
    return this.#life;
  }

  get up(): boolean {
    return this.#life === "up";
  }

  get replica(): Replica {
    if (this.#replica === undefined || this.#life !== "up") throw new Error(`node ${this.id} is ${this.#life}`);
    return this.#replica;
  }

  get kv(): KvStore {
    if (this.#kv === undefined) throw new Error(`node ${this.id} has no state machine`);
    return this.#kv;
  }

  /** The log its Raft core reads (what it wrote, durable or about to be). */
  get storage(): MemoryStorage {
    if (this.#storage === undefined) throw new Error(`node ${this.id} is ${this.#life}`);
    return this.#storage;
  }

  /** Up, and everything it wrote is on its disk and its core has nothing to hand out. */
  get settled(): boolean {
    return this.up && this.disk.unsyncedRecords === 0 && !this.replica.stopping && this.replica.raftStatus.lastIndex === this.disk.durable.lastIndex();
  }

  /** Boots (or reboots) from the disk, as `flotilla start` does from its data directory. */
  start(extraPeers: Readonly<Record<string, string>> = {}): void {
    if (this.#life !== "down") throw new Error(`start: node ${this.id} is ${this.#life}`);
    const options = this.#options;
    const owner = new Owner();
    this.#owner = owner;
    const { log, storage } = this.disk.recover(owner);
    this.#storage = storage;
    if (this.#kv === undefined || !options.settings.durableStateMachine) {
      this.#kv?.close();
      this.#kv = KvStore.open({ path: MEMORY_PATH });
    }
    const kv = this.#kv;
    recoverStateMachine(kv, storage, SILENT);
    const machine = this.#observed(kv);
    // The network reports to the replica, which needs its endpoint to exist first.
    const life: { replica?: Replica } = {};
    const endpoint = options.network.attach(this.id, owner, {
      message: (message) => life.replica?.message(message),
      app: (peer, payload) => life.replica?.app(peer, payload),
      unreachable: (peer) => life.replica?.unreachable(peer),
      snapshotSent: (peer, ok) => life.replica?.snapshotSent(peer, ok),
      refusedAsRemoved: (peer) => life.replica?.refusedAsRemoved(peer),
    });
    this.incarnation++;
    const replica = new Replica({
      id: this.id,
      bootId: `b${this.incarnation}`,
      storage,
      log,
      machine,
      network: endpoint,
      clock: options.scheduler.clock(owner, options.clockRate),
      rng: options.rng.fork(),
      logger: SILENT,
      peerAddress: this.id,
      clientUrl: "",
      tickMs: options.settings.tickMs,
      requestTimeoutMs: options.settings.requestTimeoutMs,
      raft: options.settings.raft,
      snapshotEntries: options.settings.snapshotEntries,
      snapshotCatchupEntries: options.settings.snapshotCatchupEntries,
      extraPeers: { ...extraPeers, ...peersInUnappliedLog(storage, kv, this.id) },
      onFatal: (error) => {
        options.machine.fatal(this, error);
        this.#halt("down");
      },
      onRemoved: (detail) => {
        options.machine.removed(this, detail);
        this.#halt("removed");
      },
    });
    life.replica = replica;
    this.#replica = replica;
    this.#life = "up";
    replica.start();
  }

  /**
   * Power loss: memory is gone. Of what was written and not synced, the first `keepRecords`
   * records reach the disk (0: nothing).
   */
  crash(keepRecords: number): void {
    if (this.#life !== "up") throw new Error(`crash: node ${this.id} is ${this.#life}`);
    this.disk.crash(keepRecords);
    this.#halt("down");
  }

  /** The end of the run: its state machine's memory is freed. */
  close(): void {
    if (this.#life === "up") this.#halt("down");
    this.#kv?.close();
    this.#kv = undefined;
  }

  #halt(life: NodeLife): void {
    if (this.#owner) this.#owner.alive = false;
    this.#options.network.detach(this.id);
    this.#replica = undefined;
    this.#storage = undefined;
    if (this.#life !== "removed") this.#life = life;
  }

  /** The state machine, with the simulation watching what it applies and restores. */
  #observed(kv: KvStore): StateMachine {
    const observer = this.#options.machine;
    return {
      appliedIndex: () => kv.appliedIndex(),
      applyBatch: (inputs) => {
        const previous = kv.appliedIndex();
        const results = kv.applyBatch(inputs);
        observer.applied(this, inputs, previous);
        return results;
      },
      commitApplied: () => kv.commitApplied(),
      confState: () => kv.confState(),
      members: () => kv.members(),
      removedMembers: () => kv.removedMembers(),
      snapshot: () => kv.snapshot(),
      restore: (image: StateImage) => {
        kv.restore(image);
        observer.restored(this, image.meta.index);
      },
      get: (key) => kv.get(key),
      range: (prefix, options) => kv.range(prefix, options),
      revision: () => kv.revision(),
    };
  }
}

