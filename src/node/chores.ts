/**
 * Housekeeping of the membership, one change at a time, on a timer and whenever a leader
 * appears: the membership must record every member's advertised addresses (followers forward
 * to the leader's, clients are told them), and a learner that joined on its own is promoted
 * once it has caught up. The leader does both; a follower whose addresses the membership does
 * not know yet (bootstrap lists only peer addresses) asks the leader, as a joining node does.
 */
import { ConfChangeType } from "../raft/index.js";
import { encodeMemberContext } from "../kv/index.js";
import { NODE_CHORES_INTERVAL_MS, NODE_PROMOTE_LAG_ENTRIES_MAX } from "../util/limits.js";
import type { ReplicaContext } from "./context.js";
import type { LeaderRequests } from "./leader-requests.js";
import type { MembershipChanges } from "./membership.js";
import type { Timer } from "./ports.js";

export class Chores {
  readonly #ctx: ReplicaContext;
  readonly #membership: MembershipChanges;
  readonly #requests: LeaderRequests;
  readonly #timers = new Set<Timer>();
  #interval: Timer | undefined;
  #running = false;
  #stopped = false;

  constructor(ctx: ReplicaContext, membership: MembershipChanges, requests: LeaderRequests) {
    this.#ctx = ctx;
    this.#membership = membership;
    this.#requests = requests;
  }

  start(): void {
    this.#interval = this.#ctx.clock.setInterval(() => void this.run(), NODE_CHORES_INTERVAL_MS);
  }

  stop(): void {
    this.#stopped = true;
    this.#interval?.cancel();
    for (const timer of this.#timers) timer.cancel();
    this.#timers.clear();
  }

  /**
   * A new leader records its client address at once (followers forward to it); a follower
   * tells the new leader its own. Not a second later, on the timer. (A new leader cannot change
   * membership before its first entry commits: try again soon.)
   */
  leaderChanged(): void {
    const { clock, tickMs } = this.#ctx;
    for (const delayMs of [0, tickMs, 3 * tickMs]) {
      const timer = clock.setTimeout(() => {
        this.#timers.delete(timer);
        void this.run();
      }, delayMs);
      this.#timers.add(timer);
    }
  }

  async run(): Promise<void> {
    const ctx = this.#ctx;
    if (this.#stopped || ctx.driver.stopped || ctx.leader() === "" || this.#running) return;
    this.#running = true;
    try {
      if (ctx.leader() === ctx.id) await this.#leaderChores();
      else await this.#registerWithLeader();
    } catch (error) {
      ctx.logger.debug({ err: (error as Error).message }, "a membership chore did not complete; it is retried");
    } finally {
      this.#running = false;
    }
  }

  async #leaderChores(): Promise<void> {
    const ctx = this.#ctx;
    const self = ctx.members().find((m) => m.id === ctx.id);
    if (self && (self.peer !== ctx.peerAddress || self.client !== ctx.clientUrl)) {
      const isVoter = ctx.machine.confState().voters.includes(ctx.id);
      await this.#membership.change(ctx.clock.now() + ctx.requestTimeoutMs, {
        type: isVoter ? ConfChangeType.AddVoter : ConfChangeType.AddLearner,
        node: ctx.id,
        context: encodeMemberContext({ peer: ctx.peerAddress, client: ctx.clientUrl }),
      });
      return;
    }
    const learner = ctx.members().find((m) => !m.voter && m.autoPromote && this.#membership.lagOf(m.id) <= NODE_PROMOTE_LAG_ENTRIES_MAX);
    if (learner) {
      await this.#membership.promote(learner.id, ctx.clock.now() + ctx.requestTimeoutMs);
      ctx.logger.info({ member: learner.id }, "promoted a caught-up learner to voter");
    }
  }

  async #registerWithLeader(): Promise<void> {
    const ctx = this.#ctx;
    const self = ctx.members().find((m) => m.id === ctx.id);
    if (!self || (self.peer === ctx.peerAddress && self.client === ctx.clientUrl)) return;
    await this.#requests.run({ op: "add-member", member: { id: ctx.id, peer: ctx.peerAddress, client: ctx.clientUrl, learner: !self.voter } });
    ctx.logger.info({ leader: ctx.leader() }, "recorded this node's addresses with the leader");
  }
}
