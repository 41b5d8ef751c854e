/**
 * What only the leader can do, asked from any node: membership changes (a joining node's
 * included, which reaches whichever node it contacted first), leadership transfers and the
 * leader's view of the members. On the leader they run here; elsewhere they travel to the
 * leader as a request frame over the peer connection (forwarding.ts), the same path as writes.
 */
import { NODE_PENDING_LEADER_REQUESTS_MAX } from "../util/limits.js";
import { NodeError } from "./api.js";
import type { ReplicaContext } from "./context.js";
import { followLeader, refusal } from "./follow-leader.js";
import { encodeForwardFrame, type ForwardFrame, type LeaderAnswer, type LeaderRequest } from "./forwarding.js";
import type { Timer } from "./ports.js";

/** Runs a request on this node, which leads (or throws not_leader). */
export type ServeRequest = (request: LeaderRequest, deadline: number) => Promise<LeaderAnswer>;

interface Waiting {
  readonly request: LeaderRequest;
  readonly resolve: (answer: LeaderAnswer) => void;
  readonly reject: (error: Error) => void;
  readonly timer: Timer;
}

export class LeaderRequests {
  readonly #ctx: ReplicaContext;
  readonly #serve: ServeRequest;
  readonly #waiting = new Map<string, Waiting>();

  constructor(ctx: ReplicaContext, serve: ServeRequest) {
    this.#ctx = ctx;
    this.#serve = serve;
  }

  /** Runs `request` on the leader, wherever it is; follows the leader when it moves meanwhile. */
  async run(request: LeaderRequest, timeoutMs?: number): Promise<LeaderAnswer> {
    const ctx = this.#ctx;
    const deadline = ctx.clock.now() + (timeoutMs ?? ctx.requestTimeoutMs);
    return followLeader(ctx, deadline, (leader) => (leader === ctx.id ? this.#serve(request, deadline) : this.#ask(leader, request, deadline)));
  }

  #ask(leader: string, request: LeaderRequest, deadline: number): Promise<LeaderAnswer> {
    const ctx = this.#ctx;
    if (this.#waiting.size >= NODE_PENDING_LEADER_REQUESTS_MAX) throw new NodeError("overloaded", "too many requests wait for the leader; retry shortly");
    const requestId = ctx.nextRequestId();
    return new Promise<LeaderAnswer>((resolve, reject) => {
      const timer = ctx.clock.setTimeout(() => {
        if (!this.#waiting.delete(requestId)) return;
        reject(unanswered(request, leader));
      }, Math.max(0, deadline - ctx.clock.now()));
      this.#waiting.set(requestId, { request, resolve, reject, timer });
      const frame = encodeForwardFrame({ kind: "request", requestId, timeoutMs: Math.max(1, Math.ceil(deadline - ctx.clock.now())), request });
      if (!ctx.network.sendApp(leader, frame)) this.#settle(requestId, new NodeError("no_leader", `the leader ${leader} cannot be reached from ${ctx.id} right now; retry shortly`));
    });
  }

  /** The leader's answer to one of ours. */
  answered(frame: Extract<ForwardFrame, { kind: "answer" }>): void {
    this.#settle(frame.requestId, frame.answer);
  }

  /** The leader refused one of ours (nothing was done). false: no request of ours has that id. */
  refused(requestId: string, error: NodeError): boolean {
    return this.#settle(requestId, error);
  }

  #settle(requestId: string, outcome: LeaderAnswer | Error): boolean {
    const waiting = this.#waiting.get(requestId);
    if (waiting === undefined) return false;
    this.#waiting.delete(requestId);
    waiting.timer.cancel();
    if (outcome instanceof Error) waiting.reject(outcome);
    else waiting.resolve(outcome);
    return true;
  }

  /** Another node's request: run it if this node leads, and answer with the outcome or the refusal. */
  serveRemote(peer: string, frame: Extract<ForwardFrame, { kind: "request" }>, onFatal: (error: Error) => void): void {
    const ctx = this.#ctx;
    const { requestId } = frame;
    const answer = (reply: ForwardFrame): void => void ctx.network.sendApp(peer, encodeForwardFrame(reply));
    const deadline = ctx.clock.now() + Math.min(frame.timeoutMs, ctx.requestTimeoutMs);
    const refuse = (error: unknown): void => {
      if (!(error instanceof NodeError)) return onFatal(error as Error);
      answer(refusal(ctx, requestId, error));
    };
    if (ctx.leader() !== ctx.id) return refuse(ctx.notLeader());
    this.#serve(frame.request, deadline).then((outcome) => answer({ kind: "answer", requestId, answer: outcome }), refuse);
  }

  failAll(error: NodeError): void {
    for (const [requestId] of this.#waiting) this.#settle(requestId, error);
  }
}

/** No answer in time: a change may or may not have been made; a view is simply not available. */
function unanswered(request: LeaderRequest, leader: string): NodeError {
  if (request.op === "members") return new NodeError("no_leader", `the leader ${leader} did not answer in time; retry shortly`);
  return new NodeError("unknown_outcome", `the leader ${leader} did not answer within the deadline: the ${request.op} may or may not have been done`);
}
