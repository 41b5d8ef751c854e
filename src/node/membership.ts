/**
 * Membership and leadership, as the leader runs them: one change at a time through the log,
 * each checked first (etcd's strict reconfiguration), and leadership handed to a voter that is
 * caught up and was heard from recently. Any other node reaches these through leader-requests.ts.
 */
import { ConfChangeType, EntryType, decodeConfChange, majority, type ConfChange, type MemoryStorage } from "../raft/index.js";
import { encodeMemberContext } from "../kv/index.js";
import { NODE_PROMOTE_LAG_ENTRIES_MAX } from "../util/limits.js";
import { NodeError, type AddMemberRequest, type MemberStatus } from "./api.js";
import type { ReplicaContext } from "./context.js";
import { ChangeInFlightError, type WritePath } from "./writes.js";

export class MembershipChanges {
  readonly #ctx: ReplicaContext;
  readonly #writes: WritePath;
  readonly #storage: MemoryStorage;

  constructor(ctx: ReplicaContext, writes: WritePath, storage: MemoryStorage) {
    this.#ctx = ctx;
    this.#writes = writes;
    this.#storage = storage;
  }

  /** The members as this node sees them; the leader adds each one's progress. */
  view(): MemberStatus[] {
    const ctx = this.#ctx;
    const raft = ctx.driver.raft.status();
    const progress = new Map(raft.peers.map((peer) => [peer.id, peer]));
    const conf = ctx.machine.confState();
    return ctx.members().map((member) => {
      const voter = conf.voters.includes(member.id);
      const role = !voter ? "learner" : member.id === raft.leader ? "leader" : "follower";
      const peer = progress.get(member.id);
      if (!peer) return { id: member.id, peer: member.peer, client: member.client, voter, role };
      return {
        id: member.id,
        peer: member.peer,
        client: member.client,
        voter,
        role,
        matchIndex: peer.match,
        lag: Math.max(0, raft.lastIndex - peer.match),
        lastContactMs: member.id === ctx.id ? 0 : peer.ticksSinceContact * ctx.tickMs,
      };
    });
  }

  add(request: AddMemberRequest, deadline: number): Promise<MemberStatus[]> {
    return this.#oneChangeAtATime(deadline, () => this.#add(request, deadline));
  }

  remove(id: string, deadline: number): Promise<MemberStatus[]> {
    return this.#oneChangeAtATime(deadline, () => this.#remove(id, deadline));
  }

  promote(id: string, deadline: number): Promise<MemberStatus[]> {
    return this.#oneChangeAtATime(deadline, () => this.#promote(id, deadline));
  }

  /**
   * One membership change at a time: a request that finds another one in flight (a joining
   * node, a chore recording addresses) waits for it to apply, then runs its checks again, until
   * its deadline; only then is it answered 409.
   */
  async #oneChangeAtATime<T>(deadline: number, change: () => Promise<T>): Promise<T> {
    const ctx = this.#ctx;
    for (;;) {
      try {
        return await change();
      } catch (error) {
        if (!(error instanceof ChangeInFlightError)) throw error;
        // Raft's own applied index decides (the state machine's runs ahead of it within a Ready);
        // and a retry waits for the state to change at least once, so it can never spin.
        const pending = ctx.driver.raft.status().pendingConfIndex;
        const applied = (): boolean => ctx.driver.stopped || ctx.driver.raft.status().applied >= pending || ctx.leader() !== ctx.id;
        try {
          await ctx.conditions.afterNextChange(applied, deadline, () => error);
        } catch {
          throw error;
        }
      }
    }
  }

  async #add(request: AddMemberRequest, deadline: number): Promise<MemberStatus[]> {
    this.#requireLeader();
    const ctx = this.#ctx;
    const existing = ctx.members().find((m) => m.id === request.id);
    const conf = ctx.machine.confState();
    const isVoter = conf.voters.includes(request.id);
    const wantsVoter = request.learner !== true;
    const client = request.client ?? existing?.client ?? "";
    if (existing && existing.peer === request.peer && existing.client === client && (isVoter || !wantsVoter)) {
      return this.view(); // already a member at this address: joining again is harmless
    }
    if (wantsVoter && !isVoter) this.#checkQuorumAfter(conf.voters.length + 1, conf.voters);
    const type = wantsVoter || isVoter ? ConfChangeType.AddVoter : ConfChangeType.AddLearner;
    const autoPromote = type === ConfChangeType.AddLearner && (request.autoPromote ?? existing?.autoPromote ?? false);
    await this.change(deadline, { type, node: request.id, context: encodeMemberContext({ peer: request.peer, client, autoPromote }) });
    return this.view();
  }

  async #remove(id: string, deadline: number): Promise<MemberStatus[]> {
    this.#requireLeader();
    const conf = this.#ctx.machine.confState();
    if (!conf.voters.includes(id) && !conf.learners.includes(id)) throw new NodeError("not_found", `${id} is not a member of the cluster`);
    if (conf.voters.includes(id)) {
      const remaining = conf.voters.filter((voter) => voter !== id);
      if (remaining.length === 0) throw new NodeError("conflict", `cannot remove ${id}: it is the last voter`);
      this.#checkQuorumAfter(remaining.length, remaining);
    }
    await this.change(deadline, { type: ConfChangeType.Remove, node: id });
    return this.view();
  }

  async #promote(id: string, deadline: number): Promise<MemberStatus[]> {
    this.#requireLeader();
    const ctx = this.#ctx;
    const conf = ctx.machine.confState();
    if (conf.voters.includes(id)) throw new NodeError("conflict", `${id} is already a voter`);
    if (!conf.learners.includes(id)) throw new NodeError("not_found", `${id} is not a member of the cluster`);
    const lag = this.lagOf(id);
    if (lag > NODE_PROMOTE_LAG_ENTRIES_MAX) throw new NodeError("conflict", `${id} is not caught up yet (${lag} entries behind); retry later`);
    // In a short log a learner that holds nothing lags little; it must at least hold its own
    // addition, or after a restart it would know no member to answer.
    const addedAt = this.#addedAt(id);
    if (this.#matchOf(id) < addedAt) throw new NodeError("conflict", `${id} is not caught up yet (it does not hold entry ${addedAt}, which added it); retry later`);
    this.#checkQuorumAfter(conf.voters.length + 1, [...conf.voters, id]);
    const member = ctx.members().find((m) => m.id === id)!;
    // Only the addresses travel: a voter needs no automatic promotion any more.
    await this.change(deadline, { type: ConfChangeType.AddVoter, node: id, context: encodeMemberContext({ peer: member.peer, client: member.client }) });
    return this.view();
  }

  /** Proposes a membership change here and resolves once it has applied. */
  async change(deadline: number, change: ConfChange): Promise<void> {
    await this.#writes.proposeAndWait(deadline, null, () => this.#ctx.driver.raft.proposeConfChange(change));
    this.#ctx.logger.info({ change: { type: ConfChangeType[change.type], node: change.node } }, "membership changed");
  }

  /** Hands leadership to `to`, or the best voter; resolves once it has moved. */
  async transfer(to: string | undefined, deadline: number): Promise<{ leader: string }> {
    this.#requireLeader();
    const ctx = this.#ctx;
    const raft = ctx.driver.raft.status();
    const voters = raft.confState.voters.filter((id) => id !== ctx.id);
    const target = to ?? this.handOffTarget() ?? voters.map((id) => ({ id, lag: this.lagOf(id) })).sort((a, b) => a.lag - b.lag)[0]?.id;
    if (!target) throw new NodeError("conflict", "there is no other voter to hand leadership to");
    if (target === ctx.id) return { leader: ctx.id };
    if (!voters.includes(target)) throw new NodeError("conflict", `${target} is not a voter`);
    ctx.driver.raft.transferLeadership(target);
    ctx.driver.schedule();
    const moved = (): boolean => {
      const status = ctx.driver.raft.status();
      return ctx.driver.stopped || status.leader === target || (status.leadTransferee === "" && status.leader === ctx.id);
    };
    await ctx.conditions.until(moved, deadline, () => new NodeError("no_leader", `leadership did not move to ${target} in time; ${ctx.driver.raft.status().leader || "no node"} leads`));
    const leader = ctx.driver.raft.status().leader;
    if (leader !== target) throw new NodeError("no_leader", `leadership did not move to ${target}; ${leader || "no node"} leads`);
    return { leader };
  }

  /**
   * The voter a stopping leader hands over to: one heard from within an election timeout (a
   * voter dead for seconds would take leadership and then need an election to lose it), close
   * enough to catch up within the transfer, the least behind of those.
   */
  handOffTarget(): string | undefined {
    const ctx = this.#ctx;
    const raft = ctx.driver.raft.status();
    const heard = new Map(raft.peers.map((peer) => [peer.id, peer.ticksSinceContact < ctx.electionTimeoutTicks]));
    return raft.confState.voters
      .filter((id) => id !== ctx.id && heard.get(id) === true)
      .map((id) => ({ id, lag: this.lagOf(id) }))
      .filter((voter) => voter.lag <= NODE_PROMOTE_LAG_ENTRIES_MAX)
      .sort((a, b) => a.lag - b.lag)[0]?.id;
  }

  lagOf(id: string): number {
    const raft = this.#ctx.driver.raft.status();
    const peer = raft.peers.find((p) => p.id === id);
    return peer ? raft.lastIndex - peer.match : Number.MAX_SAFE_INTEGER;
  }

  #matchOf(id: string): number {
    return this.#ctx.driver.raft.status().peers.find((p) => p.id === id)?.match ?? 0;
  }

  /** Index of the last membership change about `id` in the log (the snapshot's index if compacted away). */
  #addedAt(id: string): number {
    const entries = this.#storage.allEntries();
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i]!;
      if (entry.type === EntryType.ConfChange && decodeConfChange(entry.data).node === id) return entry.index;
    }
    return this.#storage.snapshot().meta.index;
  }

  /**
   * etcd's strict reconfiguration check: refuse a change after which the voters that are
   * reachable now would not form a quorum of the new configuration.
   */
  #checkQuorumAfter(voterCount: number, candidates: readonly string[]): void {
    const ctx = this.#ctx;
    const raft = ctx.driver.raft.status();
    const active = new Set(raft.peers.filter((p) => p.id === ctx.id || p.ticksSinceContact < 2 * ctx.electionTimeoutTicks).map((p) => p.id));
    const reachable = candidates.filter((id) => active.has(id)).length;
    if (reachable < majority(voterCount)) {
      throw new NodeError("conflict", `refused: after this change only ${reachable} of ${voterCount} voters would be reachable, fewer than a quorum (${majority(voterCount)})`);
    }
  }

  #requireLeader(): void {
    this.#ctx.checkOpen();
    if (this.#ctx.leader() !== this.#ctx.id) throw this.#ctx.notLeader();
  }
}
