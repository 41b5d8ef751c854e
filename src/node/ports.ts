/**
 * The four boundaries of a replica's driver (hashicorp/raft's LogStore, Transport, FSM and
 * TigerBeetle's simulated time): the durable log, the peer network, the state machine and the
 * clock. Production plugs in the WAL, the TCP transport, SQLite (KvStore) and real time; the
 * simulator (src/sim) plugs in a simulated disk, a simulated network, the same KvStore on an
 * in-memory SQLite, and simulated time. The driver never knows which it runs on: that is how
 * the simulator proves the driver that runs in production.
 */
import type { Entry, HardState, Message, NodeId, Snapshot } from "../raft/index.js";
import type { ApplyInput, ApplyResult, KeyValue, Member, Membership, RangeOptions, RangeResult, StateImage } from "../kv/index.js";

/**
 * The durable copy of the Raft log (the driver keeps the copy Raft reads, a MemoryStorage, in
 * step with it). Every promise resolves once what it wrote is durable, and never earlier.
 */
export interface DurableLog {
  /** Entries (replacing the log from entries[0].index on) and then the hard state. */
  append(entries: readonly Entry[], hardState?: HardState): Promise<void>;
  /** A snapshot: the leader's, to install, or this node's own, before the log is compacted behind it. */
  saveSnapshot(snapshot: Snapshot): Promise<void>;
  /** Drops entries up to `upToIndex`, which a durable snapshot covers. */
  compact(upToIndex: number): Promise<unknown>;
}

/**
 * The connections to the other members. Sending never throws and never blocks: a message to
 * a peer that is unknown or down is dropped and reported (PeerEvents.unreachable).
 */
export interface PeerNetwork {
  /** Raft's messages: queued now, written together at the end of the current task. */
  send(messages: readonly Message[]): void;
  /** Writes what is queued now (acknowledgements must not wait behind an apply). */
  flush(): void;
  /** One frame of the node's own protocol (forwarding.ts); false when it certainly was not sent. */
  sendApp(to: NodeId, payload: Uint8Array): boolean;
  /** Knows (or moves) a peer. */
  addPeer(id: NodeId, address: string): void;
  removePeer(id: NodeId): void;
  peers(): ReadonlyMap<NodeId, string>;
  /**
   * Refuses `id` from now on: its connections are closed and its handshakes refused as
   * removed, so a member removed while it was away learns it when it comes back (etcd's
   * removed members do the same). acceptPeer undoes it (the id was added again).
   */
  refusePeer(id: NodeId): void;
  acceptPeer(id: NodeId): void;
}

/** What the network reports back to the driver. */
export interface PeerEvents {
  message(message: Message): void;
  app(from: NodeId, payload: Uint8Array): void;
  unreachable(peer: NodeId): void;
  snapshotSent(peer: NodeId, ok: boolean): void;
  /** `peer` refused this node as a removed member. */
  refusedAsRemoved(peer: NodeId): void;
}

/** The replicated state machine: src/kv's KvStore, on a file in production, in memory in the simulator. */
export interface StateMachine {
  appliedIndex(): number;
  /** Applies committed entries, the first at appliedIndex()+1, in one transaction. */
  applyBatch(inputs: readonly ApplyInput[]): ApplyResult[];
  /** Makes what was applied durable in the state machine's own store (it batches commits). */
  commitApplied(): void;
  confState(): Membership;
  members(): Member[];
  /** Ids removed from the cluster and not added again (refused by the network). */
  removedMembers(): string[];
  snapshot(): StateImage;
  restore(image: StateImage): void;
  get(key: string): KeyValue | null;
  range(prefix: string, options?: RangeOptions): RangeResult;
  revision(): number;
}

/** A pending callback of the clock; cancel() is safe to call more than once. */
export interface Timer {
  cancel(): void;
}

/**
 * Time, and the order of work: the driver reads the time and defers work only through this,
 * so the simulator controls both and a seed replays exactly.
 */
export interface Clock {
  /** Milliseconds, fractional: deadlines and durations. */
  now(): number;
  setTimeout(callback: () => void, ms: number): Timer;
  setInterval(callback: () => void, ms: number): Timer;
  /** Runs `callback` after the work already queued (setImmediate). */
  defer(callback: () => void): void;
}

/** The structured logger the driver writes to (pino's shape); the simulator passes a silent one. */
export interface NodeLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
  fatal(fields: Record<string, unknown>, message: string): void;
}

/** Real time, for production: the event loop's timers. */
export const realClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout(callback, ms) {
    const handle = setTimeout(callback, ms);
    handle.unref?.();
    return { cancel: () => clearTimeout(handle) };
  },
  setInterval(callback, ms) {
    const handle = setInterval(callback, ms);
    handle.unref?.();
    return { cancel: () => clearInterval(handle) };
  },
  defer(callback) {
    setImmediate(callback);
  },
};
