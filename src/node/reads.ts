/**
 * The read path. Linearizable reads use ReadIndex: the leader confirms its leadership with one
 * heartbeat round shared by all reads that arrived meanwhile, and this node serves the read
 * once it has applied up to that index, so any node serves linearizable reads. Stale reads
 * come straight from the local state machine.
 */
import type { RangeResult } from "../kv/index.js";
import type { ReadState } from "../raft/index.js";
import { NODE_PENDING_READS_MAX } from "../util/limits.js";
import { NodeError, type GetResult, type RangeRequest, type ReadOptions } from "./api.js";
import type { ReplicaContext } from "./context.js";
import { PendingReads } from "./waiters.js";

export class ReadPath {
  readonly #ctx: ReplicaContext;
  readonly #pending: PendingReads;

  constructor(ctx: ReplicaContext) {
    this.#ctx = ctx;
    this.#pending = new PendingReads(NODE_PENDING_READS_MAX, ctx.bootId);
  }

  get size(): number {
    return this.#pending.size;
  }

  async get(key: string, options: ReadOptions = {}): Promise<GetResult> {
    await this.#barrier(options);
    return { kv: this.#ctx.machine.get(key), revision: this.#ctx.machine.revision() };
  }

  async range(request: RangeRequest, options: ReadOptions = {}): Promise<RangeResult> {
    await this.#barrier(options);
    return this.#ctx.machine.range(request.prefix, {
      ...(request.after !== undefined ? { after: request.after } : {}),
      ...(request.limit !== undefined ? { limit: request.limit } : {}),
    });
  }

  /** Linearizable: wait until this node has applied the leader-confirmed read index. */
  async #barrier(options: ReadOptions): Promise<void> {
    const ctx = this.#ctx;
    ctx.checkOpen();
    if (options.consistency === "stale") return;
    if (!this.#pending.hasRoom()) throw new NodeError("overloaded", "too many reads in flight; retry shortly");
    const { context, ready } = this.#pending.add(ctx.clock.now() + (options.timeoutMs ?? ctx.requestTimeoutMs));
    ctx.driver.raft.readIndex(context);
    ctx.driver.schedule();
    await ready;
    ctx.observer?.linearizableRead();
  }

  /** The leader confirmed these reads at their indexes. */
  confirmed(states: readonly ReadState[]): void {
    const applied = this.#ctx.machine.appliedIndex();
    for (const state of states) this.#pending.confirm(state.context, state.index, applied);
  }

  /** This node applied more: serve the reads whose index it reached. */
  applied(): void {
    if (this.#pending.size > 0) this.#pending.applied(this.#ctx.machine.appliedIndex());
  }

  /** Reads asked while no leader was known (or of a leader that went away) are asked again. */
  leaderKnown(): void {
    for (const context of this.#pending.unconfirmed()) this.#ctx.driver.raft.readIndex(context);
  }

  expire(now: number): void {
    this.#pending.expire(now);
  }

  failAll(error: NodeError): void {
    this.#pending.failAll(error);
  }
}
