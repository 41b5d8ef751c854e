/**
 * Raft's Figure 8, played on purpose (the scenario random faults almost never line up): a
 * leader must not count replicas of an entry from an earlier term to commit it, or a newer
 * leader may overwrite the entry after it was applied. The play, in a 3-node cluster (a
 * quorum of the others in a larger one):
 *
 * 1. The leader L1 (term t1) is cut off (it hears the others but cannot reach them) while it
 *    takes writes, until it holds entries no other node has; then it is crashed, its disk
 *    keeping them.
 * 2. Another node L2 is elected (term t2 > t1) and appends its no-op at the same index; its
 *    new-term entries are held back in the network, and L2 is crashed once the no-op is on its
 *    own disk.
 * 3. L1 comes back and is elected again (term t3: its log ends with term t1, newer than the
 *    third node's). Its new-term entries (its no-op) are held back again wherever they would be
 *    taken (a probe the third node refuses still gets there, so the leader backs up), so only
 *    its old entries reach the third node, one append at a time (the run replicates one entry
 *    per append). A correct leader cannot commit them now; one that counts old-term replicas
 *    does, and applies them. L1 is crashed either way.
 * 4. L2 comes back: its log ends with term t2 > t1, so it wins the third node's vote and
 *    overwrites the entries L1 applied. The invariant checker sees two entries at one index.
 */
import { MessageType, Role, type Message } from "../raft/index.js";
import type { Rng } from "../util/rng.js";
import type { NemesisTarget } from "./nemesis.js";
import type { SimNode } from "./sim-node.js";

/** Ticks a stage may wait for what it needs before the play is abandoned. */
const STAGE_TICKS_MAX = 60;
/** Ticks L1, leading again, is given to (wrongly) commit its old entries before it is crashed. */
const COMMIT_WINDOW_TICKS = 30;
/** Ticks L1 stays down at the end of the play. */
const L1_DOWN_TICKS = 40;

type Stage =
  | { readonly name: "idle" }
  | { readonly name: "isolate"; readonly l1: SimNode; readonly t1: number; readonly until: number }
  | { readonly name: "await-l2"; readonly l1: SimNode; readonly t1: number; readonly index: number; readonly until: number }
  | { readonly name: "l2-noop"; readonly l1: SimNode; readonly l2: SimNode; readonly t2: number; readonly index: number; readonly until: number }
  | { readonly name: "l1-again"; readonly l1: SimNode; readonly l2: SimNode; readonly index: number; readonly until: number; ledAt?: number };

export class Figure8 {
  readonly #rng: Rng;
  #stage: Stage = { name: "idle" };
  plays = 0;

  constructor(rng: Rng) {
    this.#rng = rng;
  }

  get active(): boolean {
    return this.#stage.name !== "idle";
  }

  /** Starts a play: the leader is cut off from the others, one way. */
  begin(now: number, target: NemesisTarget): void {
    const l1 = target.leader();
    if (l1 === undefined || !l1.up || target.network.partitioned) return;
    this.plays++;
    for (const other of target.members()) if (other !== l1) target.network.block(l1.id, other.id);
    this.#stage = { name: "isolate", l1, t1: l1.replica.raftStatus.term, until: now + STAGE_TICKS_MAX * target.tickMs };
  }

  step(now: number, target: NemesisTarget): void {
    const stage = this.#stage;
    switch (stage.name) {
      case "idle":
        return;
      case "isolate": {
        const { l1, t1 } = stage;
        if (!l1.up || now >= stage.until) {
          target.network.healPartitions();
          return this.#end(now, target, undefined, undefined);
        }
        const last = l1.disk.durable.lastIndex();
        const othersLast = Math.max(...target.members().filter((node) => node !== l1 && node.up).map((node) => node.storage.lastIndex()));
        // Entries of its term on its disk alone: crash it (keeping them) and let the others meet.
        if (last <= othersLast || l1.disk.durable.term(last) !== t1) return;
        l1.restartAt = Infinity; // this play restarts it
        target.crash(l1, l1.disk.unsyncedRecords);
        target.network.healPartitions();
        this.#stage = { name: "await-l2", l1, t1, index: last, until: now + STAGE_TICKS_MAX * target.tickMs };
        return;
      }
      case "await-l2": {
        const l2 = target.leader();
        if (l2 !== undefined && l2 !== stage.l1 && l2.replica.raftStatus.term > stage.t1) {
          const t2 = l2.replica.raftStatus.term;
          target.network.setHold((message) => message.from === l2.id && carriesOwnTermEntries(message) && wouldAccept(target, message));
          this.#stage = { name: "l2-noop", l1: stage.l1, l2, t2, index: stage.index, until: now + STAGE_TICKS_MAX * target.tickMs };
        } else if (now >= stage.until) {
          this.#end(now, target, stage.l1, undefined);
        }
        return;
      }
      case "l2-noop": {
        const { l1, l2, t2 } = stage;
        const leading = l2.up && l2.replica.raftStatus.role === Role.Leader && l2.replica.raftStatus.term === t2;
        if (!leading || now >= stage.until) return this.#end(now, target, l1, undefined);
        const durable = l2.disk.durable;
        if (durable.term(durable.lastIndex()) !== t2) return; // its no-op is not on its disk yet
        l2.restartAt = Infinity;
        target.crash(l2, l2.disk.unsyncedRecords);
        target.restart(l1);
        target.network.setHold((message) => message.from === l1.id && carriesOwnTermEntries(message) && wouldAccept(target, message));
        this.#stage = { name: "l1-again", l1, l2, index: stage.index, until: now + STAGE_TICKS_MAX * target.tickMs };
        return;
      }
      case "l1-again": {
        const { l1, l2 } = stage;
        if (!l1.up) return this.#end(now, target, undefined, l2);
        const status = l1.replica.raftStatus;
        if (status.role === Role.Leader) stage.ledAt ??= now;
        const appliedOld = l1.kv.appliedIndex() >= stage.index;
        const windowOver = stage.ledAt !== undefined && now >= stage.ledAt + COMMIT_WINDOW_TICKS * target.tickMs;
        if (appliedOld || windowOver || now >= stage.until) {
          l1.restartAt = now + this.#rng.int(1, L1_DOWN_TICKS + 1) * target.tickMs;
          target.crash(l1, l1.disk.unsyncedRecords);
          this.#end(now, target, undefined, l2);
        }
        return;
      }
    }
  }

  /** Releases the hold and restarts whoever the play kept down. */
  #end(now: number, target: NemesisTarget, restartNow: SimNode | undefined, restartL2: SimNode | undefined): void {
    target.network.setHold(undefined);
    for (const node of [restartNow, restartL2]) {
      if (node === undefined) continue;
      node.restartAt = now;
      if (node.life === "down") target.restart(node);
    }
    this.#stage = { name: "idle" };
  }
}

/**
 * Whether the receiver holds the entry the append follows (it would take the entries). The
 * adversary lets through what the receiver would refuse: the refusal makes the leader back up
 * and send the old entries, one an append, which is what the play needs.
 */
function wouldAccept(target: NemesisTarget, message: Message): boolean {
  const receiver = target.members().find((node) => node.id === message.to);
  return receiver !== undefined && receiver.up && receiver.storage.term(message.index) === message.logTerm;
}

/** An append carrying entries of the sender's current term (a new leader's no-op and what follows it). */
function carriesOwnTermEntries(message: Message): boolean {
  return message.type === MessageType.Append && message.entries.some((entry) => entry.term === message.term);
}
