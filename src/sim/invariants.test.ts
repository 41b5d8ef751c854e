import { describe, expect, it } from "vitest";
import { EntryType, MessageType, makeMessage, type Entry } from "../raft/index.js";
import { entryHash, InvariantChecker, type LogView } from "./invariants.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const entry = (index: number, term: number, data = `e${index}`): Entry => ({ index, term, type: EntryType.Normal, data: bytes(data) });

/** A log view over a plain list of terms (index 1 first), no snapshot. */
function logOf(terms: number[]): LogView {
  return {
    snapshotIndex: () => 0,
    lastIndex: () => terms.length,
    term: (index) => (index === 0 ? 0 : terms[index - 1]),
  };
}

describe("InvariantChecker", () => {
  it("accepts one leader per term and flags a second one", () => {
    const checker = new InvariantChecker();
    expect(checker.leaderSeen("n1", 2)).toBe(true);
    expect(checker.leaderSeen("n1", 2)).toBe(false);
    expect(checker.violations).toEqual([]);
    checker.leaderSeen("n2", 2);
    expect(checker.violations[0]).toMatch(/two leaders in term 2: n1 and n2/);
  });

  it("flags two disks holding different entries at the same index and term", () => {
    const checker = new InvariantChecker();
    checker.persistingEntries("n1", logOf([1]), [entry(2, 2, "a")]);
    checker.persistingEntries("n2", logOf([1]), [entry(2, 2, "a")]);
    expect(checker.violations).toEqual([]);
    checker.persistingEntries("n3", logOf([1]), [entry(2, 2, "b")]);
    expect(checker.violations[0]).toMatch(/log matching: entry \(2, term 2\) differs between n1 and n3/);
  });

  it("flags an entry that follows a different term on two disks (the logs differ before it)", () => {
    const checker = new InvariantChecker();
    checker.persistingEntries("n1", logOf([1, 1]), [entry(3, 3)]);
    checker.persistingEntries("n2", logOf([1, 2]), [entry(3, 3)]);
    expect(checker.violations[0]).toMatch(/follows term 1 on n1 but term 2 on n2/);
  });

  it("flags a log whose terms decrease", () => {
    const checker = new InvariantChecker();
    checker.persistingEntries("n1", logOf([3]), [entry(2, 2)]);
    expect(checker.violations[0]).toMatch(/terms in a log never decrease/);
  });

  it("flags durable state that regresses: term, vote within a term, commit index", () => {
    const checker = new InvariantChecker();
    checker.persistingHardState("n1", { term: 3, vote: "n2", commit: 5 }, { term: 3, vote: "n2", commit: 6 });
    checker.persistingHardState("n1", { term: 3, vote: "", commit: 5 }, { term: 3, vote: "n4", commit: 5 });
    expect(checker.violations).toEqual([]);
    checker.persistingHardState("n1", { term: 3, vote: "n2", commit: 5 }, { term: 2, vote: "n2", commit: 5 });
    checker.persistingHardState("n1", { term: 3, vote: "n2", commit: 5 }, { term: 3, vote: "n3", commit: 5 });
    checker.persistingHardState("n1", { term: 3, vote: "n2", commit: 5 }, { term: 3, vote: "n2", commit: 4 });
    checker.persistedHardState("n1", logOf([1, 1]), { term: 3, vote: "n2", commit: 3 });
    expect(checker.violations.map((v) => v.replace(/^tick \d+: /, ""))).toEqual([
      "n1 lowers its durable term from 3 to 2",
      "n1 changes its durable vote in term 3 from n2 to n3",
      "n1 lowers its durable commit index from 5 to 4",
      "n1 persists commit index 3 beyond its last durable entry 2",
    ]);
  });

  it("flags an acknowledgement or a vote sent before the disk holds it", () => {
    const checker = new InvariantChecker();
    const ack = makeMessage({ type: MessageType.AppendResponse, from: "n2", to: "n1", term: 3, index: 2 });
    const vote = makeMessage({ type: MessageType.VoteResponse, from: "n2", to: "n1", term: 3 });
    checker.durablePromise(ack, { term: 3, vote: "n1", commit: 0 }, logOf([1, 3]));
    checker.durablePromise(vote, { term: 3, vote: "n1", commit: 0 }, logOf([1, 3]));
    checker.durablePromise({ ...ack, index: 5, reject: true }, { term: 3, vote: "", commit: 0 }, logOf([1]));
    // Superseded promises: the disk moved on to a later term since (like a delayed message).
    checker.durablePromise(ack, { term: 4, vote: "", commit: 0 }, logOf([1]));
    checker.durablePromise(vote, { term: 4, vote: "n3", commit: 0 }, logOf([1]));
    expect(checker.violations).toEqual([]);
    checker.durablePromise(ack, { term: 3, vote: "n1", commit: 0 }, logOf([1]));
    checker.durablePromise(vote, { term: 2, vote: "n1", commit: 0 }, logOf([1]));
    expect(checker.violations[0]).toMatch(/n2 acknowledges entries up to 2 to n1 in term 3 but its disk ends at 1/);
    expect(checker.violations[1]).toMatch(/n2 grants its vote in term 3 to n1 but its disk holds term 2/);
  });

  it("flags applies out of order and replicas that apply different entries or reach different states", () => {
    const checker = new InvariantChecker();
    checker.applied("n1", 1, 1, entryHash(entry(1, 1)), 0, "s1");
    checker.applied("n2", 1, 1, entryHash(entry(1, 1)), 0, "s1");
    expect(checker.violations).toEqual([]);
    checker.applied("n3", 3, 1, entryHash(entry(3, 1)), 1, "s3");
    expect(checker.violations[0]).toMatch(/applies entry 3 right after 1/);
    checker.applied("n4", 1, 2, entryHash(entry(1, 2)), 0, "s1");
    expect(checker.violations[1]).toMatch(/n4 applies \(1, term 2\) but n1 applied \(1, term 1\)/);
    checker.applied("n5", 1, 1, entryHash(entry(1, 1)), 0, "other");
    expect(checker.violations[2]).toMatch(/reach different states after applying entry 1/);
    checker.restored("n6", 1, "other");
    expect(checker.violations[3]).toMatch(/restored a snapshot at 1 whose state differs/);
    // A state is compared only where one was given (the end of a batch).
    checker.applied("n7", 2, 1, entryHash(entry(2, 1)), 1, undefined);
    checker.applied("n8", 2, 1, entryHash(entry(2, 1)), 1, "s2");
    checker.applied("n9", 2, 1, entryHash(entry(2, 1)), 1, "s2");
    expect(checker.violations).toHaveLength(4);
  });

  it("flags a leader that lacks an entry applied before its election, and ignores later ones", () => {
    const checker = new InvariantChecker();
    checker.setTick(5);
    checker.applied("n1", 1, 1, entryHash(entry(1, 1)), 0, "s1");
    checker.applied("n1", 2, 1, entryHash(entry(2, 1)), 1, "s2");
    checker.setTick(9);
    checker.applied("n1", 3, 2, entryHash(entry(3, 2)), 2, "s3");
    checker.checkLeaderCompleteness({ node: "n2", term: 3, electedTick: 9 }, logOf([1, 1]));
    expect(checker.violations).toEqual([]);
    checker.checkLeaderCompleteness({ node: "n3", term: 3, electedTick: 9 }, logOf([1]));
    expect(checker.violations[0]).toMatch(/n3, leader of term 3, lacks committed entry 2/);
    checker.checkLeaderCompleteness({ node: "n4", term: 3, electedTick: 9 }, logOf([1, 2]));
    expect(checker.violations[1]).toMatch(/n4, leader of term 3, holds term 2 at 2 where term 1 was committed/);
  });
});
