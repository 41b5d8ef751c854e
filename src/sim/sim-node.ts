/**
 * One simulated machine: a Raft core, its disk (a MemoryStorage: what is written there is
 * durable, nothing else is) and its key-value state machine, driven exactly like a real node
 * drives a core: ready() → send messages → save → send messagesAfterPersist → apply → advance().
 *
 * A save may take several ticks ("fsyncing"), during which the Ready's messagesAfterPersist
 * are not sent and no new Ready is taken. A crash then keeps only a prefix of the save's
 * records (snapshot, entries in order, hard state last): what a torn write leaves behind.
 * Meanwhile the driver either blocks (no messages, ticks or requests reach the core) or, as
 * a group-commit driver does, keeps stepping the core (DriverModel.stepWhileSaving).
 */
import {
  EntryType,
  MemoryStorage,
  RaftNode,
  decodeConfChange,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Ready,
  type Snapshot,
  type SoftState,
} from "../raft/index.js";
import type { KvOutput } from "../check/index.js";
import { assert } from "../util/assert.js";
import { SIM_READIES_PER_STEP_MAX } from "../util/limits.js";
import type { Rng } from "../util/rng.js";
import { KvMachine, decodeCommand, type KvCommand, type KvMachineBug } from "./kv-machine.js";

/** What the rest of the simulation learns from a node as its driver runs. */
export interface NodeObserver {
  send(message: Message): void;
  softState(node: SimNode, softState: SoftState): void;
  /** Before the entries go to disk (the disk's previous content is still readable). */
  persistingEntries(node: SimNode, entries: readonly Entry[]): void;
  persistingHardState(node: SimNode, previous: HardState, next: HardState): void;
  persistingSnapshot(node: SimNode, snapshot: Snapshot): void;
  restoredSnapshot(node: SimNode, snapshot: Snapshot): void;
  /** `command` and `output` are set for client commands, `change` for membership changes. */
  applied(node: SimNode, entry: Entry, details: AppliedDetails): void;
  readStates(node: SimNode, readStates: readonly ReadState[]): void;
  snapshotTaken(node: SimNode, index: number): void;
}

export interface AppliedDetails {
  readonly previousApplied: number;
  readonly command?: KvCommand;
  readonly output?: KvOutput;
  readonly change?: ConfChange;
}

export interface RaftTuning {
  readonly electionTimeoutTicks: number;
  readonly heartbeatIntervalTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Applied entries past the last snapshot that make the node take a new one. */
  readonly snapshotThresholdEntries: number;
  readonly snapshotKeepEntries: number;
  /**
   * Flow-control and size limits passed to the core. Tiny ones (drawn per seed) make a few
   * client commands fill an append, the in-flight window, the apply batch and the uncommitted
   * budget, so those paths run; undefined keeps the core's defaults.
   */
  readonly limits?: {
    readonly appendBytesMax: number;
    readonly inflightAppendsMax: number;
    readonly inflightBytesMax: number;
    readonly applyBytesMax: number;
    readonly uncommittedBytesMax: number;
    readonly pendingReadsMax: number;
  };
}

export type NodeLife = "up" | "down" | "removed";

/** How the simulated driver behaves around its disk. */
export interface DriverModel {
  /** Keep stepping the core while a save is in flight (group commit) instead of blocking. */
  readonly stepWhileSaving?: boolean;
  /**
   * The state machine is durable (every apply commits with its index, like src/kv): a restart
   * passes that index as `applied` instead of replaying from the snapshot.
   */
  readonly durableStateMachine?: boolean;
}

/**
 * Deliberate driver bugs, for the tests that prove the invariants catch them:
 * "ack-before-persist" sends votes and append acknowledgements before the save completes.
 */
export type NodeBug = KvMachineBug | "ack-before-persist";

interface SaveInFlight {
  readonly ready: Ready;
  readonly doneTick: number;
}

export class SimNode {
  readonly id: NodeId;
  /** The disk. Survives crashes; a removed node's disk is never reused by another id. */
  readonly storage = new MemoryStorage();
  readonly #tuning: RaftTuning;
  readonly #rng: Rng;
  readonly #bug: KvMachineBug | undefined;
  readonly #ackBeforePersist: boolean;
  readonly #stepWhileSaving: boolean;
  readonly #durableMachine: boolean;
  #raft: RaftNode | undefined;
  #save: SaveInFlight | undefined;
  #life: NodeLife = "down";
  /** Counts starts; requests made to an earlier incarnation died with it. */
  incarnation = 0;
  machine: KvMachine;
  applied = 0;
  conf: ConfState = { voters: [], learners: [] };
  /** When a down node comes back (set by the nemesis). */
  restartTick = 0;

  constructor(id: NodeId, tuning: RaftTuning, rng: Rng, bug?: NodeBug, driver: DriverModel = {}) {
    this.id = id;
    this.#stepWhileSaving = driver.stepWhileSaving ?? false;
    this.#durableMachine = driver.durableStateMachine ?? false;
    this.#tuning = tuning;
    this.#rng = rng;
    this.#bug = bug === "lost-write" ? bug : undefined;
    this.#ackBeforePersist = bug === "ack-before-persist";
    this.machine = new KvMachine(this.#bug);
  }

  get life(): NodeLife {
    return this.#life;
  }

  get up(): boolean {
    return this.#life === "up";
  }

  /** Up with no save in flight: its driver is idle. */
  get idle(): boolean {
    return this.#life === "up" && this.#save === undefined;
  }

  /**
   * Whether the core may take messages, ticks and requests now. A synchronous driver is
   * blocked while it saves; one that keeps stepping during the save (stepWhileSaving) is not.
   */
  get accepting(): boolean {
    return this.#life === "up" && (this.#save === undefined || this.#stepWhileSaving);
  }

  get saving(): boolean {
    return this.#save !== undefined;
  }

  /** Records of the save in flight (0 when none): a crash may keep a prefix of them. */
  get savingRecords(): number {
    return this.#save === undefined ? 0 : SimNode.saveRecords(this.#save.ready);
  }

  get raft(): RaftNode {
    assert(this.#raft !== undefined && this.#life === "up", () => `node ${this.id} is ${this.#life}`);
    return this.#raft;
  }

  /**
   * Boots (or reboots) from the disk. A volatile state machine restarts from the last
   * snapshot; a durable one (like src/kv's SQLite) keeps what it applied, unless the disk
   * holds a newer snapshot.
   */
  start(): void {
    assert(this.#life === "down", () => `start: node ${this.id} is ${this.#life}`);
    const snapshot = this.storage.snapshot();
    if (!this.#durableMachine || this.applied < snapshot.meta.index) {
      this.machine = KvMachine.restore(snapshot.data, this.#bug);
      this.applied = snapshot.meta.index;
      this.conf = snapshot.meta.confState;
    }
    this.#raft = new RaftNode({
      id: this.id,
      storage: this.storage,
      rng: this.#rng.fork(),
      applied: this.applied,
      electionTimeoutTicks: this.#tuning.electionTimeoutTicks,
      heartbeatIntervalTicks: this.#tuning.heartbeatIntervalTicks,
      preVote: this.#tuning.preVote,
      checkQuorum: this.#tuning.checkQuorum,
      ...this.#tuning.limits,
    });
    this.incarnation++;
    this.#life = "up";
  }

  /**
   * Power loss: memory is gone. A save in flight keeps only its first `tornRecords` records
   * (0: nothing reached the disk).
   */
  crash(tornRecords: number, observer: NodeObserver): void {
    assert(this.#life === "up", () => `crash: node ${this.id} is ${this.#life}`);
    if (this.#save !== undefined && tornRecords > 0) this.#persist(this.#save.ready, observer, tornRecords);
    this.#halt("down");
  }

  /** Removed from the cluster: stopped for good. */
  stop(): void {
    this.#halt("removed");
  }

  /** Records a save of this Ready would write (snapshot, each entry, hard state). */
  static saveRecords(ready: Ready): number {
    return (ready.snapshot ? 1 : 0) + ready.entries.length + (ready.hardState ? 1 : 0);
  }

  /** Finishes a slow save whose time has come. */
  finishSave(now: number, observer: NodeObserver): void {
    if (this.#save === undefined || this.#save.doneTick > now || this.#life !== "up") return;
    const { ready } = this.#save;
    this.#save = undefined;
    this.#completeReady(ready, observer);
  }

  /**
   * Runs the driver loop: takes Ready batches and handles them. `syncTicks` says how long a
   * save takes; more than 0 leaves the node busy saving (and stops the loop).
   */
  handleReadies(now: number, observer: NodeObserver, syncTicks: (ready: Ready) => number): void {
    for (let handled = 0; handled < SIM_READIES_PER_STEP_MAX && this.idle && this.raft.hasReady(); handled++) {
      const ready = this.raft.ready();
      if (ready.softState) observer.softState(this, ready.softState);
      for (const message of ready.messages) observer.send(message);
      if (this.#ackBeforePersist) for (const message of ready.messagesAfterPersist) observer.send(message);
      const ticks = SimNode.saveRecords(ready) > 0 ? syncTicks(ready) : 0;
      if (ticks > 0) {
        this.#save = { ready, doneTick: now + ticks };
        return;
      }
      this.#completeReady(ready, observer);
    }
  }

  #halt(life: NodeLife): void {
    this.#raft = undefined;
    this.#save = undefined;
    this.#life = life;
    if (!this.#durableMachine) this.machine = new KvMachine(this.#bug);
  }

  #completeReady(ready: Ready, observer: NodeObserver): void {
    this.#persist(ready, observer, Number.MAX_SAFE_INTEGER);
    if (!this.#ackBeforePersist) for (const message of ready.messagesAfterPersist) observer.send(message);
    this.#apply(ready, observer);
    this.raft.advance();
  }

  /** Writes the first `records` records of the Ready's save: snapshot, entries, hard state. */
  #persist(ready: Ready, observer: NodeObserver, records: number): void {
    let budget = records;
    if (ready.snapshot && budget > 0) {
      observer.persistingSnapshot(this, ready.snapshot);
      this.storage.applySnapshot(ready.snapshot);
      budget--;
    }
    const entries = budget >= ready.entries.length ? ready.entries : ready.entries.slice(0, budget);
    if (entries.length > 0) {
      observer.persistingEntries(this, entries);
      this.storage.append(entries);
      budget -= entries.length;
    }
    if (ready.hardState && budget > 0) {
      observer.persistingHardState(this, this.storage.hardState(), ready.hardState);
      this.storage.setHardState(ready.hardState);
    }
  }

  #apply(ready: Ready, observer: NodeObserver): void {
    if (ready.snapshot) {
      this.machine = KvMachine.restore(ready.snapshot.data, this.#bug);
      this.applied = ready.snapshot.meta.index;
      this.conf = ready.snapshot.meta.confState;
      observer.restoredSnapshot(this, ready.snapshot);
    }
    for (const entry of ready.committedEntries) this.#applyEntry(entry, observer);
    if (ready.readStates.length > 0) observer.readStates(this, ready.readStates);
    this.#maybeSnapshot(observer);
  }

  #applyEntry(entry: Entry, observer: NodeObserver): void {
    const previousApplied = this.applied;
    this.applied = entry.index;
    if (entry.type === EntryType.ConfChange) {
      const change = decodeConfChange(entry.data);
      this.conf = this.raft.applyConfChange(change);
      observer.applied(this, entry, { previousApplied, change });
    } else if (entry.data.length === 0) {
      observer.applied(this, entry, { previousApplied });
    } else {
      const command = decodeCommand(entry.data);
      const output = this.machine.apply(command);
      observer.applied(this, entry, { previousApplied, command, output });
    }
  }

  #maybeSnapshot(observer: NodeObserver): void {
    const snapshotIndex = this.storage.snapshot().meta.index;
    if (this.applied - snapshotIndex < this.#tuning.snapshotThresholdEntries) return;
    this.storage.createSnapshot(this.applied, this.conf, this.machine.image());
    this.storage.compact(this.applied - this.#tuning.snapshotKeepEntries);
    observer.snapshotTaken(this, this.applied);
  }
}
