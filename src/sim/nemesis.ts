/**
 * The adversary of the safety phase: crashes and restarts, partitions, membership changes,
 * leadership transfers, and Raft's Figure 8 played on purpose, each at the rate the seed drew
 * for it. Every decision draws from the nemesis's own Rng, so adding a fault kind never shifts
 * the network's or clients' draws. Membership changes and transfers go through the replicas'
 * own API (with its checks), as an operator's requests do.
 */
import type { Rng } from "../util/rng.js";
import type { FaultRates } from "./faults.js";
import { Figure8 } from "./figure8.js";
import type { SimNetwork } from "./network.js";
import type { SimNode } from "./sim-node.js";

/** What the nemesis may do to the cluster. */
export interface NemesisTarget {
  readonly network: SimNetwork;
  readonly tickMs: number;
  /** Nodes that were not removed, in creation order. */
  members(): readonly SimNode[];
  /** The node that leads the highest term now, if any. */
  leader(): SimNode | undefined;
  crash(node: SimNode, keepRecords: number): void;
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
  readonly #figure8: Figure8;
  #partitionHealAt = 0;

  constructor(rng: Rng, rates: FaultRates, bounds: MembershipBounds) {
    this.#rng = rng;
    this.#rates = rates;
    this.#bounds = bounds;
    this.#figure8 = new Figure8(rng.fork());
  }

  /** Figure 8 plays run so far (tests check the scenario happens). */
  get figure8Plays(): number {
    return this.#figure8.plays;
  }

  /** One tick of the adversary. */
  step(now: number, target: NemesisTarget): void {
    if (this.#figure8.active) {
      // A Figure 8 play owns the cluster until it ends: other faults would only blur it.
      this.#figure8.step(now, target);
      return;
    }
    this.#restartDue(now, target);
    this.#partitions(now, target);
    if (this.#rng.chance(this.#rates.crashRate)) this.#crashOne(now, target);
    if (this.#rng.chance(this.#rates.membershipRate)) this.#changeMembership(target);
    if (this.#rng.chance(this.#rates.transferRate)) this.#transferLeadership(target);
    if (this.#rng.chance(this.#rates.figure8Rate) && !target.network.partitioned) this.#figure8.begin(now, target);
  }

  #restartDue(now: number, target: NemesisTarget): void {
    for (const node of target.members()) {
      if (node.life === "down" && node.restartAt <= now) target.restart(node);
    }
  }

  #partitions(now: number, target: NemesisTarget): void {
    const network = target.network;
    if (network.partitioned) {
      if (now >= this.#partitionHealAt) network.healPartitions();
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
    this.#partitionHealAt = now + this.#rng.int(5, this.#rates.partitionTicksMax + 1) * target.tickMs;
    target.notePartition();
  }

  #crashOne(now: number, target: NemesisTarget): void {
    const up = target.members().filter((node) => node.up);
    if (up.length === 0) return;
    const leader = target.leader();
    const victim = leader !== undefined && this.#rng.chance(0.3) ? leader : this.#rng.pick(up);
    const records = victim.disk.unsyncedRecords;
    const keep = records > 0 && this.#rng.chance(this.#rates.tornWriteRate) ? this.#rng.int(1, records + 1) : 0;
    victim.restartAt = now + this.#rng.int(1, this.#rates.downTicksMax + 1) * target.tickMs;
    target.crash(victim, keep);
  }

  #changeMembership(target: NemesisTarget): void {
    const leader = target.leader();
    if (leader === undefined) return;
    const replica = leader.replica;
    const { voters, learners } = replica.raftStatus.confState;
    const options: (() => Promise<unknown> | undefined)[] = [];
    if (voters.length + learners.length < this.#bounds.membersMax) {
      options.push(() => {
        const node = target.joiningNode();
        return node && replica.addMember({ id: node.id, peer: node.id, learner: true });
      });
    }
    if (learners.length > 0 && voters.length < this.#bounds.votersMax) options.push(() => replica.promoteMember(this.#rng.pick(learners)));
    if (voters.length > this.#bounds.votersMin) options.push(() => replica.removeMember(this.#rng.pick(voters)));
    if (learners.length > 0) options.push(() => replica.removeMember(this.#rng.pick(learners)));
    if (options.length === 0) return;
    const change = this.#rng.pick(options)();
    if (change === undefined) return;
    // Refused (a change in flight, no quorum after it, not caught up) or lost with the leader: both fine.
    change.catch(() => {});
    target.noteMembershipProposal();
  }

  #transferLeadership(target: NemesisTarget): void {
    const leader = target.leader();
    if (leader === undefined) return;
    const others = leader.replica.raftStatus.confState.voters.filter((id) => id !== leader.id);
    if (others.length === 0) return;
    leader.replica.transferLeadership(this.#rng.pick(others)).catch(() => {});
    target.noteTransfer();
  }
}

export function shuffle<T>(items: readonly T[], rng: Rng): T[] {
  const result = items.slice();
  for (let i = result.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [result[i], result[j]] = [result[j]!, result[i]!];
  }
  return result;
}
