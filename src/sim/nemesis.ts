/**
 * The adversary of the safety phase: crashes and restarts, partitions, membership changes
 * and leadership transfers, each at the rate the seed drew for it. Every decision draws from
 * the nemesis's own Rng, so adding a fault kind never shifts the network's or clients' draws.
 */
import { ConfChangeType, ProposalDroppedError, type ConfChange, type NodeId } from "../raft/index.js";
import type { Rng } from "../util/rng.js";
import type { FaultRates } from "./faults.js";
import type { SimNetwork } from "./network.js";
import type { SimNode } from "./sim-node.js";

/** What the nemesis may do to the cluster. */
export interface NemesisTarget {
  readonly network: SimNetwork;
  /** Nodes that were not removed, in creation order. */
  members(): readonly SimNode[];
  /** The node that leads the highest term and accepts requests now, if any. */
  leader(): SimNode | undefined;
  crash(node: SimNode, tornRecords: number): void;
  restart(node: SimNode): void;
  /** A started node that is not (yet) a member, or a brand-new one; undefined when ids run out. */
  joiningNode(): SimNode | undefined;
  noteTransfer(): void;
  notePartition(): void;
  noteMembershipProposal(): void;
}

export interface MembershipBounds {
  readonly votersMin: number;
  readonly votersMax: number;
  readonly membersMax: number;
}

export class Nemesis {
  readonly #rng: Rng;
  readonly #rates: FaultRates;
  readonly #bounds: MembershipBounds;
  #partitionHealTick = 0;

  constructor(rng: Rng, rates: FaultRates, bounds: MembershipBounds) {
    this.#rng = rng;
    this.#rates = rates;
    this.#bounds = bounds;
  }

  step(now: number, target: NemesisTarget): void {
    this.#restartDue(now, target);
    this.#partitions(now, target);
    if (this.#rng.chance(this.#rates.crashRate)) this.#crashOne(now, target);
    if (this.#rng.chance(this.#rates.membershipRate)) this.#changeMembership(target);
    if (this.#rng.chance(this.#rates.transferRate)) this.#transferLeadership(target);
  }

  #restartDue(now: number, target: NemesisTarget): void {
    for (const node of target.members()) {
      if (node.life === "down" && node.restartTick <= now) target.restart(node);
    }
  }

  #partitions(now: number, target: NemesisTarget): void {
    const network = target.network;
    if (network.partitioned) {
      if (now >= this.#partitionHealTick) network.healPartitions();
      return;
    }
    if (!this.#rng.chance(this.#rates.partitionRate)) return;
    const ids = target.members().map((node) => node.id);
    if (ids.length < 2) return;
    const shuffled = shuffle(ids, this.#rng);
    // Cutting the leader off is where elections, lost proposals and stale reads happen: favour it.
    const leader = target.leader();
    if (leader !== undefined && this.#rng.chance(0.4)) shuffled.unshift(...shuffled.splice(shuffled.indexOf(leader.id), 1));
    const kind = this.#rng.int(0, 4);
    const size = kind === 1 ? this.#rng.int(1, Math.floor(ids.length / 2) + 1) : 1;
    const side = shuffled.slice(0, size);
    const rest = shuffled.slice(size);
    for (const a of side) {
      for (const b of rest) {
        if (kind !== 3) network.block(a, b); // kinds 0, 1: both ways; 2: a cannot send
        if (kind !== 2) network.block(b, a); // 3: a cannot receive
      }
    }
    this.#partitionHealTick = now + this.#rng.int(5, this.#rates.partitionTicksMax + 1);
    target.notePartition();
  }

  #crashOne(now: number, target: NemesisTarget): void {
    const up = target.members().filter((node) => node.up);
    if (up.length === 0) return;
    const leader = target.leader();
    const victim = leader !== undefined && this.#rng.chance(0.3) ? leader : this.#rng.pick(up);
    const records = victim.savingRecords;
    const torn = records > 0 && this.#rng.chance(this.#rates.tornWriteRate) ? this.#rng.int(1, records + 1) : 0;
    victim.restartTick = now + this.#rng.int(1, this.#rates.downTicksMax + 1);
    target.crash(victim, torn);
  }

  #changeMembership(target: NemesisTarget): void {
    const leader = target.leader();
    if (leader === undefined) return;
    const { voters, learners } = leader.raft.status().confState;
    const options: (() => ConfChange | undefined)[] = [];
    if (voters.length + learners.length < this.#bounds.membersMax) {
      options.push(() => {
        const node = target.joiningNode();
        return node && { type: ConfChangeType.AddLearner, node: node.id };
      });
    }
    if (learners.length > 0 && voters.length < this.#bounds.votersMax) {
      options.push(() => ({ type: ConfChangeType.AddVoter, node: this.#rng.pick(learners) }));
    }
    if (voters.length > this.#bounds.votersMin) options.push(() => ({ type: ConfChangeType.Remove, node: this.#rng.pick(voters) }));
    if (learners.length > 0) options.push(() => ({ type: ConfChangeType.Remove, node: this.#rng.pick(learners) }));
    if (options.length === 0) return;
    const change = this.#rng.pick(options)();
    if (change === undefined) return;
    try {
      leader.raft.proposeConfChange(change);
      target.noteMembershipProposal();
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
    }
  }

  #transferLeadership(target: NemesisTarget): void {
    const leader = target.leader();
    if (leader === undefined) return;
    const others: NodeId[] = leader.raft.status().confState.voters.filter((id) => id !== leader.id);
    if (others.length === 0) return;
    leader.raft.transferLeadership(this.#rng.pick(others));
    target.noteTransfer();
  }
}

function shuffle<T>(items: readonly T[], rng: Rng): T[] {
  const result = items.slice();
  for (let i = result.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [result[i], result[j]] = [result[j]!, result[i]!];
  }
  return result;
}
