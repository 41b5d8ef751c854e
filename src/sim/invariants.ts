/**
 * Raft's safety properties, checked as the simulation runs (after every step, incrementally):
 *
 * - Election safety: at most one leader per term, over the whole run.
 * - Log matching: entries with the same index and term hold the same payload and follow an
 *   entry of the same term. By induction, two logs that share an (index, term) are identical
 *   up to it. Checked on every write to any node's disk, so no log is ever rescanned.
 * - Leader completeness: an entry applied anywhere before a leader was elected is in that
 *   leader's log at the same index and term (unless the leader compacted it into a snapshot).
 * - State machine safety: every node applies the same entry at each index, in order, without
 *   gaps, and reaches the same state there (snapshots included).
 * - Durability promises: an append acknowledgement or a granted vote leaves only once the
 *   sender's disk holds what it promises.
 * - Durable state never regresses: the term never decreases, a vote is never changed within a
 *   term, the commit index never decreases nor passes the last durable entry.
 */
import { EntryType, MessageType, type Entry, type HardState, type Message, type NodeId, type Snapshot } from "../raft/index.js";
import { SIM_VIOLATIONS_KEPT_MAX } from "../util/limits.js";
import { hashBytes } from "./digest.js";

interface LogRecord {
  readonly hash: number;
  readonly previousTerm: number;
  readonly node: NodeId;
}

/** A leader whose log still has to be checked for completeness (once its disk has caught up). */
export interface PendingLeaderCheck {
  readonly node: NodeId;
  readonly term: number;
  /** Entries first applied before this tick were committed before the election. */
  readonly electedTick: number;
}

export interface LogView {
  snapshotIndex(): number;
  lastIndex(): number;
  term(index: number): number | undefined;
}

export class InvariantChecker {
  readonly #violations: string[] = [];
  #violationCount = 0;
  #tick = 0;
  readonly #leaderOfTerm = new Map<number, NodeId>();
  /** Terms already reported with two leaders (reported once, not at every tick). */
  readonly #splitTerms = new Set<number>();
  /** `${index}:${term}` → what every disk holding that entry must hold. */
  readonly #logRecords = new Map<string, LogRecord>();
  // Applied entries by index: term, payload hash, first tick it was applied, state after it.
  readonly #appliedTerm: number[] = [];
  readonly #appliedHash: number[] = [];
  readonly #appliedTick: number[] = [];
  readonly #appliedBy: NodeId[] = [];
  readonly #stateAfter: string[] = [];

  setTick(tick: number): void {
    this.#tick = tick;
  }

  get violations(): readonly string[] {
    return this.#violations;
  }

  get violationCount(): number {
    return this.#violationCount;
  }

  get elections(): number {
    return this.#leaderOfTerm.size;
  }

  /** Highest index any node has applied. */
  get appliedMax(): number {
    return this.#appliedTerm.length - 1;
  }

  violation(message: string): void {
    this.#violationCount++;
    if (this.#violations.length < SIM_VIOLATIONS_KEPT_MAX) this.#violations.push(`tick ${this.#tick}: ${message}`);
  }

  /** Returns true when this is the first sighting of `node` leading `term`. */
  leaderSeen(node: NodeId, term: number): boolean {
    const known = this.#leaderOfTerm.get(term);
    if (known === undefined) {
      this.#leaderOfTerm.set(term, node);
      return true;
    }
    if (known !== node && !this.#splitTerms.has(term)) {
      this.#splitTerms.add(term);
      this.violation(`election safety: two leaders in term ${term}: ${known} and ${node}`);
    }
    return false;
  }

  /** Called before `entries` are written to `node`'s disk, which `log` still shows unchanged. */
  persistingEntries(node: NodeId, log: LogView, entries: readonly Entry[]): void {
    let previousTerm = log.term(entries[0]!.index - 1);
    if (previousTerm === undefined) {
      this.violation(`${node} writes entry ${entries[0]!.index} but holds no entry ${entries[0]!.index - 1} (first ${log.snapshotIndex() + 1}, last ${log.lastIndex()})`);
      return;
    }
    for (const entry of entries) {
      if (entry.term < previousTerm) {
        this.violation(`${node} writes entry ${entry.index} of term ${entry.term} after an entry of term ${previousTerm}: terms in a log never decrease`);
      }
      const key = `${entry.index}:${entry.term}`;
      const hash = entryHash(entry);
      const record = this.#logRecords.get(key);
      if (record === undefined) {
        this.#logRecords.set(key, { hash, previousTerm, node });
      } else if (record.hash !== hash) {
        this.violation(`log matching: entry (${entry.index}, term ${entry.term}) differs between ${record.node} and ${node}`);
      } else if (record.previousTerm !== previousTerm) {
        this.violation(
          `log matching: entry (${entry.index}, term ${entry.term}) follows term ${record.previousTerm} on ${record.node} but term ${previousTerm} on ${node}`,
        );
      }
      previousTerm = entry.term;
    }
  }

  /**
   * An append acknowledgement or a granted vote promises durable state: the sender's disk must
   * already hold what it acknowledges, and the vote, when the message leaves. A disk that has
   * since moved to a later term is fine: the promise was made, then superseded (the same as
   * the message being delayed in the network past that change).
   */
  durablePromise(message: Message, hardState: HardState, log: LogView): void {
    if (message.reject || hardState.term > message.term) return;
    if (message.type === MessageType.AppendResponse && message.index > log.lastIndex()) {
      this.violation(`${message.from} acknowledges entries up to ${message.index} to ${message.to} in term ${message.term} but its disk ends at ${log.lastIndex()}`);
    } else if (message.type === MessageType.VoteResponse && (hardState.term !== message.term || hardState.vote !== message.to)) {
      this.violation(
        `${message.from} grants its vote in term ${message.term} to ${message.to} but its disk holds term ${hardState.term}, vote ${hardState.vote || "nobody"}`,
      );
    }
  }

  persistingHardState(node: NodeId, previous: HardState, next: HardState): void {
    if (next.term < previous.term) this.violation(`${node} lowers its durable term from ${previous.term} to ${next.term}`);
    if (next.term === previous.term && previous.vote !== "" && next.vote !== previous.vote) {
      this.violation(`${node} changes its durable vote in term ${next.term} from ${previous.vote} to ${next.vote || "nobody"}`);
    }
    if (next.commit < previous.commit) this.violation(`${node} lowers its durable commit index from ${previous.commit} to ${next.commit}`);
  }

  /** After a hard state is written: the commit index must name a durable entry. */
  persistedHardState(node: NodeId, log: LogView, hardState: HardState): void {
    if (hardState.commit > log.lastIndex()) {
      this.violation(`${node} persists commit index ${hardState.commit} beyond its last durable entry ${log.lastIndex()}`);
    }
  }

  persistingSnapshot(node: NodeId, snapshot: Snapshot): void {
    const { index, term } = snapshot.meta;
    const applied = this.#appliedTerm[index];
    if (applied !== undefined && applied !== term) {
      this.violation(`${node} installs a snapshot at (${index}, term ${term}) but the entry applied at ${index} has term ${applied}`);
    }
  }

  /** A node restored its state machine from a snapshot at `index` and reached `state`. */
  restored(node: NodeId, index: number, state: string): void {
    const expected = this.#stateAfter[index];
    if (expected !== undefined && expected !== state) {
      this.violation(`state machine safety: ${node} restored a snapshot at ${index} whose state differs from the state applied there`);
    }
  }

  /**
   * `node` applied the entry (index, term) whose payload hashes to `hash`, right after
   * `previousApplied`; its state machine is now `state` (undefined: not computed after this
   * entry, only after the last of a batch).
   */
  applied(node: NodeId, index: number, term: number, hash: number, previousApplied: number, state: string | undefined): void {
    if (index !== previousApplied + 1) {
      this.violation(`${node} applies entry ${index} right after ${previousApplied}: entries must be applied in order, without gaps, and once`);
    }
    const known = this.#appliedTerm[index];
    if (known === undefined) {
      this.#appliedTerm[index] = term;
      this.#appliedHash[index] = hash;
      this.#appliedTick[index] = this.#tick;
      this.#appliedBy[index] = node;
      if (state !== undefined) this.#stateAfter[index] = state;
      return;
    }
    if (known !== term || this.#appliedHash[index] !== hash) {
      this.violation(
        `state machine safety: ${node} applies (${index}, term ${term}) but ${this.#appliedBy[index]} applied (${index}, term ${known})${known === term ? " with another payload" : ""}`,
      );
      return;
    }
    if (state === undefined) return;
    const expected = this.#stateAfter[index];
    if (expected === undefined) this.#stateAfter[index] = state;
    else if (expected !== state) this.violation(`state machine safety: ${node} and ${this.#appliedBy[index]} reach different states after applying entry ${index}`);
  }

  /** Leader completeness for a leader whose whole log is on its disk (`log`). */
  checkLeaderCompleteness(check: PendingLeaderCheck, log: LogView): void {
    const first = log.snapshotIndex() + 1;
    const last = log.lastIndex();
    for (let index = first; index < this.#appliedTerm.length; index++) {
      const term = this.#appliedTerm[index];
      if (term === undefined || this.#appliedTick[index]! >= check.electedTick) continue;
      if (index > last) {
        this.violation(`leader completeness: ${check.node}, leader of term ${check.term}, lacks committed entry ${index} (its log ends at ${last})`);
        return;
      }
      const held = log.term(index);
      if (held !== term) {
        this.violation(`leader completeness: ${check.node}, leader of term ${check.term}, holds term ${held} at ${index} where term ${term} was committed`);
        return;
      }
    }
  }
}

/** The hash of a log entry's payload, as applied() takes it. */
export function entryHash(entry: Entry): number {
  return (hashBytes(entry.data) ^ (entry.type === EntryType.ConfChange ? 0x9e3779b9 : 0)) >>> 0;
}
