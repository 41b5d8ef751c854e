/**
 * The promises a node hands out and settles later: writes waiting for their log entry to be
 * applied, and linearizable reads waiting for their read index. Both are bounded queues with
 * deadlines swept on every tick (one timer for all, not one per request).
 */
import type { CommandResult } from "../kv/index.js";
import { NodeError } from "./api.js";

interface Deferred<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: Error) => void;
  readonly deadline: number;
}

export interface PendingWrite extends Deferred<CommandResult> {
  /** The entry's position once known: at once for a local proposal, from the leader's answer when forwarded. */
  index: number | undefined;
  term: number;
  readonly requestId: string | null;
}

/**
 * Writes waiting for their log entry to apply. A write proposed here is known by its (index,
 * term) at once. A write forwarded to the leader is known first by its request id only, and
 * by its position once the leader answers; either settles it: the entry with its request id
 * applies (even if the leader's answer was lost), or another entry applies at its position
 * (it was overwritten: certainly not applied).
 */
export class PendingWrites {
  readonly #byIndex = new Map<number, PendingWrite>();
  readonly #forwarded = new Map<string, PendingWrite>();
  readonly #max: number;
  #size = 0;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#size;
  }

  hasRoom(): boolean {
    return this.#size < this.#max;
  }

  /** A write proposed on this node, at (index, term). */
  add(index: number, pending: Omit<PendingWrite, "index">): void {
    // Literals, not spreads (here and below): V8 clones a spread through a slow generic path.
    this.#byIndex.set(index, { resolve: pending.resolve, reject: pending.reject, deadline: pending.deadline, index, term: pending.term, requestId: pending.requestId });
    this.#size++;
  }

  /** A write forwarded to the leader, its position not known yet. */
  addForwarded(requestId: string, pending: Omit<PendingWrite, "index" | "term" | "requestId">): void {
    this.#forwarded.set(requestId, { resolve: pending.resolve, reject: pending.reject, deadline: pending.deadline, index: undefined, term: 0, requestId });
    this.#size++;
  }

  /**
   * The leader proposed the forwarded write `requestId` at (index, term). `applied` is this
   * node's applied index, `installedSnapshot` the last snapshot it installed (entries up to
   * it were not applied one by one here).
   */
  bind(requestId: string, index: number, term: number, applied: number, installedSnapshot: number): void {
    const pending = this.#forwarded.get(requestId);
    if (pending === undefined || pending.index !== undefined) return;
    if (index <= applied) {
      this.#forget(pending);
      // Applied one by one, its entry would have settled it: another entry took the index.
      pending.reject(index <= installedSnapshot ? unknownAfterSnapshot() : overwritten());
      return;
    }
    pending.index = index;
    pending.term = term;
    this.#byIndex.set(index, pending);
  }

  /** The leader refused the forwarded write: nothing was proposed. false: no such write waits here. */
  refuse(requestId: string, error: Error): boolean {
    const pending = this.#forwarded.get(requestId);
    if (pending === undefined) return false;
    this.#forget(pending);
    pending.reject(error);
    return true;
  }

  /** The entry at `index` was applied with `term`: settle whoever proposed or forwarded something there. */
  settle(index: number, term: number, requestId: string | null, outcome: () => CommandResult | Error): void {
    const atIndex = this.#byIndex.get(index);
    let pending: PendingWrite | undefined;
    if (atIndex !== undefined) {
      if (atIndex.term === term && atIndex.requestId === requestId) {
        pending = atIndex;
      } else {
        // Another entry took this index: ours was overwritten before it committed, so it will
        // never apply. The client may safely retry.
        this.#forget(atIndex);
        atIndex.reject(overwritten());
      }
    }
    if (pending === undefined && requestId !== null) {
      const forwarded = this.#forwarded.get(requestId);
      if (forwarded !== undefined && (forwarded.index === undefined || forwarded.index === index)) pending = forwarded;
    }
    if (pending === undefined) return;
    this.#forget(pending);
    const result = outcome();
    if (result instanceof Error) pending.reject(result);
    else pending.resolve(result);
  }

  /** Entries up to `index` were replaced wholesale (a snapshot): their fate is unknown here. */
  failUpTo(index: number): void {
    for (const [at, pending] of this.#byIndex) {
      if (at > index) continue;
      this.#forget(pending);
      pending.reject(unknownAfterSnapshot());
    }
  }

  /** Swept on every tick: no copy of the maps (deleting while iterating a Map is safe). */
  expire(now: number): void {
    const expire = (pending: PendingWrite): void => {
      if (pending.deadline > now) return;
      this.#forget(pending);
      pending.reject(new NodeError("unknown_outcome", "the write was not applied within the deadline; it may or may not be applied later"));
    };
    for (const pending of this.#byIndex.values()) expire(pending);
    for (const pending of this.#forwarded.values()) expire(pending); // a bound one is seen twice: harmless
  }

  failAll(error: NodeError): void {
    for (const pending of this.#byIndex.values()) pending.reject(error);
    for (const pending of this.#forwarded.values()) if (pending.index === undefined) pending.reject(error);
    this.#byIndex.clear();
    this.#forwarded.clear();
    this.#size = 0;
  }

  #forget(pending: PendingWrite): void {
    let removed = false;
    if (pending.index !== undefined && this.#byIndex.get(pending.index) === pending) {
      this.#byIndex.delete(pending.index);
      removed = true;
    }
    if (pending.requestId !== null && this.#forwarded.get(pending.requestId) === pending) {
      this.#forwarded.delete(pending.requestId);
      removed = true;
    }
    if (removed) this.#size--;
  }
}

function unknownAfterSnapshot(): NodeError {
  return new NodeError("unknown_outcome", "the write may or may not have been applied (this node installed a snapshot)");
}

function overwritten(): NodeError {
  return new NodeError("no_leader", "leadership changed before the write was committed; it was not applied");
}

interface PendingRead extends Deferred<void> {
  /** Set once the leader confirmed the read index. */
  index: number | undefined;
}

/**
 * Linearizable reads: each gets a context for Raft's ReadIndex; once its read index is known
 * and applied, the read may be served from the local state machine.
 */
export class PendingReads {
  readonly #byContext = new Map<string, PendingRead>();
  readonly #max: number;
  /**
   * Unique to this process's life: the leader may still answer reads that a previous life of
   * this node asked for, and such an answer must never be taken for a new read (found by
   * `flotilla torture`, seed 1002: a restarted node served stale linearizable reads).
   */
  readonly #bootId: string;
  #seq = 0;

  constructor(max: number, bootId: string) {
    this.#max = max;
    this.#bootId = bootId;
  }

  get size(): number {
    return this.#byContext.size;
  }

  hasRoom(): boolean {
    return this.#byContext.size < this.#max;
  }

  /** Registers a read; returns its context and a promise settled when it may be served. */
  add(deadline: number): { context: string; ready: Promise<void> } {
    const context = `${this.#bootId}.${++this.#seq}`;
    const ready = new Promise<void>((resolve, reject) => {
      this.#byContext.set(context, { resolve, reject, deadline, index: undefined });
    });
    return { context, ready };
  }

  /** Contexts still waiting for their read index (to ask again after a leader change). */
  unconfirmed(): string[] {
    return [...this.#byContext].filter(([, read]) => read.index === undefined).map(([context]) => context);
  }

  confirm(context: string, index: number, applied: number): void {
    const read = this.#byContext.get(context);
    if (!read || read.index !== undefined) return;
    read.index = index;
    if (index <= applied) this.#finish(context, read);
  }

  applied(applied: number): void {
    for (const [context, read] of this.#byContext) {
      if (read.index !== undefined && read.index <= applied) this.#finish(context, read);
    }
  }

  expire(now: number): void {
    for (const [context, read] of this.#byContext) {
      if (read.deadline > now) continue;
      this.#byContext.delete(context);
      read.reject(new NodeError("no_leader", "no leader confirmed the read within the deadline"));
    }
  }

  failAll(error: NodeError): void {
    for (const read of this.#byContext.values()) read.reject(error);
    this.#byContext.clear();
  }

  #finish(context: string, read: PendingRead): void {
    this.#byContext.delete(context);
    read.resolve();
  }
}
