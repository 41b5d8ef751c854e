/**
 * The write path: a write proposed on the leader, or forwarded to it over the peer connection
 * by any other node, and answered once its entry has applied on the node that took it.
 */
import { ProposalDroppedError } from "../raft/index.js";
import { decodeCommand, encodeCommand, MalformedCommandError, type ApplyResult, type Command, type CommandBody, type CommandResult } from "../kv/index.js";
import { NODE_PENDING_WRITES_MAX, NODE_PROPOSE_ATTEMPTS_MAX } from "../util/limits.js";
import { NodeError, type WriteOptions } from "./api.js";
import type { ReplicaContext } from "./context.js";
import { followLeader, refusal } from "./follow-leader.js";
import { encodeForwardFrame, ForwardProtocolError, type ForwardFrame } from "./forwarding.js";
import { trace, tracing } from "./trace.js";
import { PendingWrites } from "./waiters.js";

type Position = { index: number; term: number };

/** A membership change refused because another one is still in flight: worth waiting for. */
export class ChangeInFlightError extends NodeError {
  constructor(message: string) {
    super("conflict", message);
  }
}

export class WritePath {
  readonly #ctx: ReplicaContext;
  readonly #pending = new PendingWrites(NODE_PENDING_WRITES_MAX);
  /**
   * Forwarded commands this leader decoded to check before proposing, by log position: the
   * apply of that entry here takes the decode instead of decoding again. An entry at the same
   * index with another term is another entry, and finds nothing.
   */
  readonly #decodes = new Map<number, { readonly term: number; readonly command: Command }>();
  /** The last snapshot this node installed from the leader: entries up to it were not applied one by one. */
  #installedSnapshotIndex = 0;

  constructor(ctx: ReplicaContext) {
    this.#ctx = ctx;
  }

  get size(): number {
    return this.#pending.size;
  }

  /**
   * Replicates a write. On the leader it is proposed here; on another node it is forwarded to
   * the leader and answered from this node's own state machine once its entry applies here. A
   * write that certainly was not proposed (the leader moved) goes again.
   */
  async write(command: CommandBody, options: WriteOptions = {}): Promise<CommandResult> {
    const ctx = this.#ctx;
    const deadline = ctx.clock.now() + (options.timeoutMs ?? ctx.requestTimeoutMs);
    const requestId = ctx.nextRequestId();
    // A literal, not a spread of `command` (V8 clones a spread through a slow generic path).
    const { type, payload } = command;
    const { idempotencyKey } = options;
    const data = encodeCommand((idempotencyKey === undefined ? { type, payload, requestId } : { type, payload, requestId, idempotencyKey }) as Command);
    // With forward: false, a write goes to this node only, and not_leader is the answer.
    return followLeader(
      ctx,
      deadline,
      (leader) => {
        if (leader === ctx.id) return this.proposeAndWait(deadline, requestId, () => ctx.driver.raft.propose(data));
        if (options.forward === false) throw ctx.notLeader();
        return this.#forward(leader, requestId, data, deadline);
      },
      options.forward === false ? 1 : undefined,
    );
  }

  /** Proposes on this node and resolves with the result once its entry has applied here. */
  async proposeAndWait(deadline: number, requestId: string | null, propose: () => Position): Promise<CommandResult> {
    if (!this.#pending.hasRoom()) throw new NodeError("overloaded", "too many writes in flight; retry shortly");
    const position = await this.#proposeHere(deadline, propose);
    if (tracing()) trace({ at: this.#ctx.clock.now(), node: this.#ctx.id, step: "proposed", first: position.index, last: position.index });
    this.#ctx.observer?.proposed();
    this.#ctx.driver.schedule();
    return new Promise<CommandResult>((resolve, reject) => {
      this.#pending.add(position.index, { resolve, reject, deadline, term: position.term, requestId });
    });
  }

  // ---------------------------------------------------------------------------------------
  // Forwarding: this node's side

  /** A write of another node's client: the leader proposes it; this node waits for its entry to apply here. */
  #forward(leader: string, requestId: string, data: Uint8Array, deadline: number): Promise<CommandResult> {
    const ctx = this.#ctx;
    if (!this.#pending.hasRoom()) throw new NodeError("overloaded", "too many writes in flight; retry shortly");
    return new Promise<CommandResult>((resolve, reject) => {
      this.#pending.addForwarded(requestId, { resolve, reject, deadline });
      const frame = encodeForwardFrame({ kind: "write", requestId, timeoutMs: Math.max(1, Math.ceil(deadline - ctx.clock.now())), command: data });
      if (ctx.network.sendApp(leader, frame)) {
        if (tracing()) trace({ at: ctx.clock.now(), node: ctx.id, step: "forwarded", peer: leader });
        ctx.observer?.forwardedWrite();
      } else {
        this.#pending.refuse(requestId, new NodeError("no_leader", `the leader ${leader} cannot be reached from ${ctx.id} right now; retry shortly`));
      }
    });
  }

  /** The leader proposed our forwarded write at (index, term). */
  accepted(frame: Extract<ForwardFrame, { kind: "accepted" }>): void {
    this.#pending.bind(frame.requestId, frame.index, frame.term, this.#ctx.machine.appliedIndex(), this.#installedSnapshotIndex);
  }

  /** The leader refused our forwarded write: nothing was proposed. Returns false when no write of ours has that id. */
  refused(requestId: string, error: NodeError): boolean {
    return this.#pending.refuse(requestId, error);
  }

  // ---------------------------------------------------------------------------------------
  // Forwarding: the leader's side

  /** Another node's write: propose it, and answer where it went or why not. */
  proposeForwarded(peer: string, frame: Extract<ForwardFrame, { kind: "write" }>, onFatal: (error: Error) => void): void {
    const ctx = this.#ctx;
    const { requestId } = frame;
    const answer = (reply: ForwardFrame): void => void ctx.network.sendApp(peer, encodeForwardFrame(reply));
    const refuse = (error: unknown): void => {
      if (error instanceof NodeError) return answer(refusal(ctx, requestId, error));
      if (error instanceof MalformedCommandError || error instanceof ForwardProtocolError) {
        ctx.logger.warn({ peer, err: error.message }, "refused an invalid forwarded write");
        return answer({ kind: "refused", requestId, code: "bad_request", message: error.message });
      }
      onFatal(error as Error);
    };
    let data: Uint8Array;
    let command: Command;
    const accepted = (position: Position): void => {
      if (tracing()) trace({ at: ctx.clock.now(), node: ctx.id, step: "proposed", first: position.index, last: position.index, peer });
      ctx.observer?.proposed();
      this.#keepDecode(position, command);
      ctx.driver.schedule();
      answer({ kind: "accepted", requestId, index: position.index, term: position.term });
    };
    try {
      if (ctx.leader() !== ctx.id) throw ctx.notLeader();
      data = frame.command.slice(); // its own bytes: the entry outlives the received frame
      // Checked before it is proposed: a command every replica cannot apply would stop them all.
      command = decodeCommand(data);
      if (command.requestId !== requestId) throw new ForwardProtocolError(`the command's requestId is not ${requestId}`);
      // The usual case, synchronously: the answers to a burst of frames leave together.
      return accepted(ctx.driver.raft.propose(data));
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) return refuse(error);
    }
    const deadline = ctx.clock.now() + Math.min(frame.timeoutMs, ctx.requestTimeoutMs);
    this.#proposeHere(deadline, () => ctx.driver.raft.propose(data)).then(accepted, refuse);
  }

  #keepDecode(position: Position, command: Command): void {
    // Bounded by the core's uncommitted budget: entries not yet applied; pruned as they apply.
    this.#decodes.set(position.index, { term: position.term, command });
  }

  /** The kept decode for the entry at (index, term), once. */
  takeDecoded(index: number, term: number): Command | undefined {
    const kept = this.#decodes.get(index);
    if (kept === undefined) return undefined;
    this.#decodes.delete(index);
    return kept.term === term ? kept.command : undefined;
  }

  // ---------------------------------------------------------------------------------------
  // Proposing here

  /**
   * Proposes here, riding out a leadership transfer (a hand-off takes a round trip or two):
   * once it has settled, proposes again if this node still leads, else throws not_leader.
   */
  async #proposeHere(deadline: number, propose: () => Position, attempt = 1): Promise<Position> {
    const ctx = this.#ctx;
    try {
      return propose();
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
      const moving = error.reason === "transfer_in_progress" || (error.reason === "not_leader" && (ctx.leader() === "" || ctx.leader() === ctx.id));
      if (!moving || attempt >= NODE_PROPOSE_ATTEMPTS_MAX) throw this.#dropped(error);
      await this.#leadershipSettled(deadline);
      await this.#requireLeader(deadline);
      return this.#proposeHere(deadline, propose, attempt + 1);
    }
  }

  /**
   * Resolves once no leadership transfer is in progress here (the core abandons one after an
   * election timeout) and this node's view of the leader caught up with the core's.
   */
  #leadershipSettled(deadline: number): Promise<void> {
    const ctx = this.#ctx;
    return ctx.conditions.until(
      () => {
        const raft = ctx.driver.raft.status();
        return ctx.driver.stopped || (raft.leadTransferee === "" && !(ctx.leader() === ctx.id && raft.leader !== ctx.id));
      },
      deadline,
      () => new NodeError("no_leader", "leadership is being transferred; retry shortly"),
    );
  }

  async #requireLeader(deadline: number): Promise<void> {
    const ctx = this.#ctx;
    ctx.checkOpen();
    if (ctx.leader() === "") await ctx.waitForLeader(deadline);
    if (ctx.leader() !== ctx.id) throw ctx.notLeader();
  }

  #dropped(error: ProposalDroppedError): NodeError {
    switch (error.reason) {
      case "not_leader":
      case "removed":
        return this.#ctx.notLeader();
      case "transfer_in_progress":
        return new NodeError("no_leader", "leadership is being transferred; retry shortly");
      case "too_many_uncommitted":
        return new NodeError("overloaded", "too many uncommitted writes; retry shortly");
      case "conf_change_pending":
        return new ChangeInFlightError(error.message);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Settling

  /** Entries applied here: settle the writes they belong to (a membership change answers as a no-op). */
  applied(results: readonly ApplyResult[]): void {
    for (const applied of results) {
      this.#decodes.delete(applied.index);
      this.#pending.settle(applied.index, applied.term, applied.requestId, () => {
        const result = applied.result;
        if (result.kind === "conf_change") return { kind: "noop", revision: result.revision };
        return result;
      });
    }
  }

  /** The leader's snapshot replaced the state machine up to `index`: writes at or below it cannot be matched. */
  snapshotInstalled(index: number): void {
    this.#installedSnapshotIndex = index;
    this.#pending.failUpTo(index);
    for (const at of this.#decodes.keys()) if (at <= index) this.#decodes.delete(at);
  }

  expire(now: number): void {
    this.#pending.expire(now);
  }

  /** The node stops: every write still waiting may or may not be applied. */
  failAll(error: NodeError): void {
    this.#pending.failAll(error);
    this.#decodes.clear();
  }
}
