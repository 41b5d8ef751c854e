/**
 * The two sides of anything that must run on the leader (a write, a membership change): the
 * asking node follows the leader when it moves, and the node asked refuses in words the asker
 * can act on. Writes (writes.ts) and leader requests (leader-requests.ts) share both rules.
 */
import { NODE_PROPOSE_ATTEMPTS_MAX } from "../util/limits.js";
import { NodeError } from "./api.js";
import type { ReplicaContext } from "./context.js";
import type { ForwardFrame } from "./forwarding.js";

/**
 * Runs `attempt` with the leader this node knows (waiting for one until the deadline). When it
 * fails with not_leader (certainly not done: the leader moved), waits for the next leader and
 * tries again, `attemptsMax` times in all.
 */
export async function followLeader<T>(ctx: ReplicaContext, deadline: number, attempt: (leader: string) => Promise<T>, attemptsMax = NODE_PROPOSE_ATTEMPTS_MAX): Promise<T> {
  for (let attempts = 1; ; attempts++) {
    ctx.checkOpen();
    if (ctx.leader() === "") await ctx.waitForLeader(deadline);
    const leader = ctx.leader();
    try {
      return await attempt(leader);
    } catch (error) {
      const moved = error instanceof NodeError && error.code === "not_leader";
      if (!moved || attempts >= attemptsMax) throw error;
      await leaderChangedFrom(ctx, leader, deadline);
    }
  }
}

/** Waits (at most until the deadline) for this node to learn of a leader other than `previous`. */
export function leaderChangedFrom(ctx: ReplicaContext, previous: string, deadline: number): Promise<void> {
  return ctx.conditions.until(() => ctx.leader() !== previous || ctx.driver.stopped, deadline, () => new NodeError("no_leader", "no new leader was known within the deadline")).catch(() => undefined);
}

/**
 * The refusal of a peer's request this node could not carry out. A node no longer leading
 * (whether or not it knows a successor yet) says not_leader: the asker then tries the next one.
 */
export function refusal(ctx: ReplicaContext, requestId: string, error: NodeError): ForwardFrame {
  const moved = ctx.leader() !== ctx.id && (error.code === "not_leader" || error.code === "no_leader");
  return { kind: "refused", requestId, code: moved ? "not_leader" : error.code, message: error.message };
}
