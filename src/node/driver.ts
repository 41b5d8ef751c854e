/**
 * The driver of one Raft core, in etcd's order: for every Ready, save → send → apply →
 * advance, over the four ports of ports.ts. The node runs it on the WAL, the TCP transport,
 * SQLite and real time; the simulator runs this same code on its twins of each.
 */
import {
  EntryType,
  MessageType,
  RaftNode,
  Role,
  applyChange,
  decodeConfChange,
  type ConfState,
  type Entry,
  type MemoryStorage,
  type RaftConfig,
  type Message,
  type NodeId,
  type Ready,
  type ReadState,
  type Snapshot,
  type SoftState,
} from "../raft/index.js";
import type { ApplyInput, ApplyResult, Command } from "../kv/index.js";
import { assert } from "../util/assert.js";
import { afterPromiseChains } from "../util/microtasks.js";
import type { Rng } from "../util/rng.js";
import type { Clock, DurableLog, NodeLogger, PeerNetwork, StateMachine, Timer } from "./ports.js";
import { trace, tracing } from "./trace.js";

/** Raft's knobs a driver passes on (the simulator draws tiny flow-control limits to reach their paths). */
export type RaftTuning = Partial<
  Pick<RaftConfig, "electionTimeoutTicks" | "heartbeatIntervalTicks" | "preVote" | "checkQuorum" | "appendBytesMax" | "inflightAppendsMax" | "inflightBytesMax" | "uncommittedBytesMax" | "pendingReadsMax" | "applyBytesMax">
>;

/** What the rest of the replica hears from its driver, in the order it happens. */
export interface DriverEvents {
  /** The known leader or this node's role changed. */
  softStateChanged(soft: SoftState, previous: SoftState): void;
  /** A kept decode of the command proposed at (index, term), for its apply (or undefined). */
  takeDecoded(index: number, term: number): Command | undefined;
  /** A batch applied; `membershipChanged` when a membership change was among it. */
  applied(results: readonly ApplyResult[], membershipChanged: boolean): void;
  /** The state machine was replaced by the leader's snapshot at `index`. */
  snapshotInstalled(index: number): void;
  /** The leader confirmed these read indexes (after this Ready's apply). */
  readStates(states: readonly ReadState[]): void;
  /** A Ready was handled or a tick passed: conditions waited for may hold now. */
  progressed(): void;
  /** A tick passed (deadlines are swept once a tick, not once a Ready). */
  ticked(now: number): void;
}

/** Measurements (the node's metrics); the simulator passes none. */
export interface DriverObserver {
  logAppended(seconds: number): void;
  batchApplied(seconds: number, entries: number): void;
  snapshotTaken(): void;
  snapshotInstalled(): void;
  leaderChanged(): void;
}

export interface DriverOptions {
  readonly id: NodeId;
  /** The log Raft reads, loaded from `log` at startup and kept in step with it. */
  readonly storage: MemoryStorage;
  readonly log: DurableLog;
  readonly machine: StateMachine;
  readonly network: PeerNetwork;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly logger: NodeLogger;
  readonly tickMs: number;
  readonly raft?: RaftTuning;
  /** Applied entries between snapshots. */
  readonly snapshotEntries: number;
  /** Entries kept behind a snapshot for followers slightly behind. */
  readonly snapshotCatchupEntries: number;
  readonly events: DriverEvents;
  readonly observer?: DriverObserver;
  /** A failed save or a broken invariant: the driver has stopped and the replica must not go on. */
  readonly onFatal: (error: Error) => void;
}

export class Driver {
  readonly raft: RaftNode;
  readonly #options: DriverOptions;
  readonly #storage: MemoryStorage;
  readonly #machine: StateMachine;
  readonly #network: PeerNetwork;
  readonly #clock: Clock;
  readonly #events: DriverEvents;
  #soft: SoftState = { leader: "", role: Role.Follower };
  #tickTimer: Timer | undefined;
  #loopScheduled = false;
  #loopRunning: Promise<void> | undefined;
  /** The snapshot being saved in the background (#maybeSnapshot), if any. */
  #snapshotSaving: Promise<void> | undefined;
  #stopped = false;
  #fatal: Error | undefined;

  constructor(options: DriverOptions) {
    this.#options = options;
    this.#storage = options.storage;
    this.#machine = options.machine;
    this.#network = options.network;
    this.#clock = options.clock;
    this.#events = options.events;
    this.raft = new RaftNode({
      id: options.id,
      storage: options.storage,
      rng: options.rng,
      applied: options.machine.appliedIndex(),
      ...options.raft,
      logger: options.logger,
    });
  }

  /** The leader this node knows ("" when none) and its role, as of the last Ready. */
  get softState(): SoftState {
    return this.#soft;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  get fatal(): Error | undefined {
    return this.#fatal;
  }

  start(): void {
    assert(this.#tickTimer === undefined && !this.#stopped, "the driver starts once");
    this.#tickTimer = this.#clock.setInterval(() => this.#tick(), this.#options.tickMs);
    this.schedule();
  }

  /** Stops ticking and taking Readies; resolves once the Ready in hand and a snapshot being saved are done. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#tickTimer?.cancel();
    await this.#loopRunning;
    await this.#snapshotSaving;
  }

  /** Runs the loop soon (after the work already queued): new input has reached the core. */
  schedule(): void {
    if (this.#loopScheduled || this.#stopped) return;
    this.#loopScheduled = true;
    this.#clock.defer(() => {
      this.#loopScheduled = false;
      if (this.#loopRunning) return; // the running loop picks up new work before it ends
      this.#loopRunning = this.#runLoop().finally(() => {
        this.#loopRunning = undefined;
        if (this.raft.hasReady() && !this.#stopped) this.schedule();
      });
    });
  }

  // ---------------------------------------------------------------------------------------
  // Input from the network

  receive(message: Message): void {
    if (this.#stopped) return;
    if (tracing()) this.#traceReceive(message);
    this.#guard(() => this.raft.step(message));
  }

  #traceReceive(message: Message): void {
    const at = this.#clock.now();
    const node = this.#options.id;
    if (message.type === MessageType.Append && message.entries.length > 0) {
      trace({ at, node, step: "append-received", peer: message.from, first: message.entries[0]!.index, last: message.entries[message.entries.length - 1]!.index });
    } else if (message.type === MessageType.AppendResponse && !message.reject) {
      trace({ at, node, step: "ack-received", peer: message.from, last: message.index });
    }
  }

  unreachable(peer: NodeId): void {
    if (this.#stopped) return;
    this.#guard(() => this.raft.reportUnreachable(peer));
  }

  snapshotSent(peer: NodeId, ok: boolean): void {
    if (this.#stopped) return;
    this.#guard(() => this.raft.reportSnapshot(peer, ok));
  }

  #guard(step: () => void): void {
    try {
      step();
    } catch (error) {
      this.#die(error as Error);
      return;
    }
    this.schedule();
  }

  /** Stops the driver for good: continuing could acknowledge what is not durable. */
  #die(error: Error): void {
    if (this.#fatal) return;
    this.#fatal = error;
    this.#stopped = true;
    this.#tickTimer?.cancel();
    this.#options.logger.fatal({ err: error }, "stopping the node: a durability or invariant failure");
    this.#options.onFatal(error);
  }

  // ---------------------------------------------------------------------------------------
  // The loop

  #tick(): void {
    if (this.#stopped) return;
    this.#machine.commitApplied(); // what was applied since the last tick reaches the state machine's own log
    this.#guard(() => this.raft.tick());
    this.#events.ticked(this.#clock.now());
    this.#events.progressed();
  }

  async #runLoop(): Promise<void> {
    try {
      while (!this.#stopped && this.raft.hasReady()) {
        await this.#handleReady(this.raft.ready());
        this.#events.progressed();
      }
    } catch (error) {
      this.#die(error as Error);
    }
  }

  async #handleReady(ready: Ready): Promise<void> {
    if (ready.softState) this.#onSoftState(ready.softState);
    const traced = tracing();
    if (traced) this.#traceReady(ready);
    // Entries to write: replicate them first, while this node writes them (thesis 10.2.1). A
    // Ready that only commits: apply first, so the answers to its writes leave before the
    // messages (commit notices, heartbeats): each socket write to a local peer costs tens of µs.
    const sendFirst = ready.entries.length > 0 || ready.snapshot !== undefined || ready.committedEntries.length === 0;
    if (sendFirst) this.#send(ready.messages, traced);
    if (ready.snapshot) {
      await this.#options.log.saveSnapshot(ready.snapshot);
      this.#storage.applySnapshot(ready.snapshot);
    }
    if (ready.entries.length > 0 || (ready.hardState && ready.mustSync)) {
      const started = this.#clock.now();
      if (traced) this.#traceRange("log-sync-start", ready.entries, started);
      await this.#options.log.append(ready.entries, ready.hardState ?? this.#storage.hardState());
      const ended = this.#clock.now();
      if (traced) this.#traceRange("log-sync-end", ready.entries, ended);
      this.#options.observer?.logAppended((ended - started) / 1000);
    }
    if (this.#stopped) return; // stopped while saving: nothing of this Ready goes further
    this.#storage.append(ready.entries);
    if (ready.hardState) this.#storage.setHardState(ready.hardState);
    if (ready.messagesAfterPersist.length > 0) {
      // Acknowledgements leave now, not behind this Ready's apply: the leader waits for them.
      this.#send(ready.messagesAfterPersist, traced);
      this.#network.flush();
    }
    if (ready.snapshot) this.#installSnapshot(ready.snapshot);
    if (ready.committedEntries.length > 0) {
      const started = this.#clock.now();
      this.#apply(ready.committedEntries);
      const ended = this.#clock.now();
      if (traced) this.#traceRange("applied", ready.committedEntries, ended);
      this.#options.observer?.batchApplied((ended - started) / 1000, ready.committedEntries.length);
    }
    if (!sendFirst) {
      // The answers to the writes just applied go out before the commit notices.
      if (ready.committedEntries.length > 0) await afterPromiseChains();
      this.#send(ready.messages, traced);
    }
    if (ready.readStates.length > 0) this.#events.readStates(ready.readStates);
    this.raft.advance();
    this.#maybeSnapshot();
  }

  #send(messages: readonly Message[], traced: boolean): void {
    if (traced) this.#traceSends(messages);
    this.#network.send(messages);
  }

  // ---------------------------------------------------------------------------------------
  // Tracing (trace.ts): only while someone subscribes

  #traceReady(ready: Ready): void {
    const at = this.#clock.now();
    if (ready.entries.length > 0) this.#traceRange("ready", ready.entries, at);
    const committed = ready.committedEntries;
    if (committed.length > 0) trace({ at, node: this.#options.id, step: "committed", first: committed[0]!.index, last: committed[committed.length - 1]!.index });
  }

  #traceRange(step: "ready" | "log-sync-start" | "log-sync-end" | "applied", entries: readonly Entry[], at: number): void {
    if (entries.length === 0) return;
    trace({ at, node: this.#options.id, step, first: entries[0]!.index, last: entries[entries.length - 1]!.index });
  }

  #traceSends(messages: readonly Message[]): void {
    const at = this.#clock.now();
    const node = this.#options.id;
    for (const message of messages) {
      if (message.type === MessageType.Append && message.entries.length > 0) {
        trace({ at, node, step: "append-sent", peer: message.to, first: message.entries[0]!.index, last: message.entries[message.entries.length - 1]!.index });
      } else if (message.type === MessageType.AppendResponse && !message.reject) {
        trace({ at, node, step: "ack-sent", peer: message.to, last: message.index });
      }
    }
  }

  #onSoftState(soft: SoftState): void {
    const previous = this.#soft;
    this.#soft = soft;
    if (soft.leader !== previous.leader) {
      this.#options.observer?.leaderChanged();
      this.#options.logger.info({ term: this.raft.status().term, leader: soft.leader, role: soft.role }, "leader changed");
    }
    this.#events.softStateChanged(soft, previous);
  }

  #installSnapshot(snapshot: Snapshot): void {
    this.#machine.restore(snapshot);
    this.#options.observer?.snapshotInstalled();
    this.#options.logger.info({ index: snapshot.meta.index, term: snapshot.meta.term }, "installed a snapshot from the leader");
    this.#events.snapshotInstalled(snapshot.meta.index);
  }

  /**
   * Membership changes are applied to Raft here, in log order, and reach the state machine as
   * plain inputs with their outcome: the state machine never calls back into Raft.
   */
  #apply(entries: readonly Entry[]): void {
    const inputs: ApplyInput[] = [];
    let membershipChanged = false;
    // The outcome the state machine records follows from its own membership and the change
    // alone, the same on every replica (Raft's may be ahead: a snapshot restored meanwhile).
    let membership: ConfState | undefined;
    for (const entry of entries) {
      if (entry.type === EntryType.ConfChange) {
        const change = decodeConfChange(entry.data);
        this.raft.applyConfChange(change, entry.index);
        membership = applyChange(membership ?? this.#machine.confState(), change);
        membershipChanged = true;
        inputs.push(
          change.context === undefined || change.context.byteLength === 0
            ? { kind: "membership", index: entry.index, term: entry.term, node: change.node, membership }
            : { kind: "membership", index: entry.index, term: entry.term, node: change.node, context: change.context, membership },
        );
        continue;
      }
      const decoded = entry.data.byteLength === 0 ? undefined : this.#events.takeDecoded(entry.index, entry.term);
      // Literals, not spreads: V8 clones a spread through a slow generic path, for every entry.
      inputs.push(
        decoded === undefined
          ? { kind: "command", index: entry.index, term: entry.term, data: entry.data }
          : { kind: "command", index: entry.index, term: entry.term, data: entry.data, decoded },
      );
    }
    const results = this.#machine.applyBatch(inputs);
    this.#events.applied(results, membershipChanged);
  }

  /**
   * Every snapshotEntries applied entries: the state machine's image becomes the log's
   * snapshot at once (in memory: the core may send it), and is saved and the log compacted in
   * the background. The loop does not wait for the file and its fsyncs: replication and
   * commits go on meanwhile (awaiting it here stalled every write for the whole save).
   */
  #maybeSnapshot(): void {
    const applied = this.#machine.appliedIndex();
    if (this.#snapshotSaving !== undefined || applied - this.#storage.snapshot().meta.index < this.#options.snapshotEntries) return;
    const image = this.#machine.snapshot();
    assert(image.meta.index === applied, "the state machine's snapshot is at its applied index");
    const { voters, learners } = image.meta.confState;
    const snapshot = this.#storage.createSnapshot(image.meta.index, { voters: [...voters], learners: [...learners] }, image.data);
    this.#snapshotSaving = this.#saveSnapshot(snapshot)
      .catch((error: unknown) => this.#die(error as Error))
      .finally(() => (this.#snapshotSaving = undefined));
  }

  async #saveSnapshot(snapshot: Snapshot): Promise<void> {
    await this.#options.log.saveSnapshot(snapshot);
    // Compacted only once the snapshot is durable: the entries it replaces stay until then.
    const compactTo = snapshot.meta.index - this.#options.snapshotCatchupEntries;
    if (compactTo >= this.#storage.firstIndex()) {
      this.#storage.compact(compactTo);
      await this.#options.log.compact(compactTo);
    }
    this.#options.observer?.snapshotTaken();
    this.#options.logger.info({ index: snapshot.meta.index, bytes: snapshot.data.byteLength }, "took a snapshot and compacted the log");
  }
}
