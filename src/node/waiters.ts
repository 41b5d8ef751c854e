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
  readonly term: number;
  readonly requestId: string | null;
}

/** Writes proposed by this node, keyed by the log index Raft gave them. */
export class PendingWrites {
  readonly #byIndex = new Map<number, PendingWrite>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#byIndex.size;
  }

  hasRoom(): boolean {
    return this.#byIndex.size < this.#max;
  }

  add(index: number, pending: PendingWrite): void {
    this.#byIndex.set(index, pending);
  }

  /** The entry at `index` was applied with `term`: settle whoever proposed something there. */
  settle(index: number, term: number, requestId: string | null, outcome: () => CommandResult | Error): void {
    const pending = this.#byIndex.get(index);
    if (!pending) return;
    this.#byIndex.delete(index);
    if (pending.term !== term || pending.requestId !== requestId) {
      // Another entry took this index: ours was overwritten before it committed, so it will
      // never apply. The client may safely retry.
      pending.reject(new NodeError("no_leader", "leadership changed before the write was committed; it was not applied"));
      return;
    }
    const result = outcome();
    if (result instanceof Error) pending.reject(result);
    else pending.resolve(result);
  }

  /** Entries up to `index` were replaced wholesale (a snapshot): their fate is unknown here. */
  failUpTo(index: number): void {
    for (const [at, pending] of this.#byIndex) {
      if (at > index) continue;
      this.#byIndex.delete(at);
      pending.reject(new NodeError("unknown_outcome", "the write may or may not have been applied (this node installed a snapshot)"));
    }
  }

  expire(now: number): void {
    for (const [index, pending] of this.#byIndex) {
      if (pending.deadline > now) continue;
      this.#byIndex.delete(index);
      pending.reject(new NodeError("unknown_outcome", "the write was not applied within the deadline; it may or may not be applied later"));
    }
  }

  failAll(error: NodeError): void {
    for (const pending of this.#byIndex.values()) pending.reject(error);
    this.#byIndex.clear();
  }
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
