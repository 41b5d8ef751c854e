import { describe, expect, it } from "vitest";
import { Rng } from "../util/rng.js";
import { committedIndex, hasQuorum, majority, voteResult, VoteResult } from "./quorum.js";

/** Deliberately naive: try every candidate index and count the voters at or past it. */
function naiveCommittedIndex(voters: string[], match: Map<string, number>): number {
  let best = 0;
  for (const candidate of new Set([0, ...match.values()])) {
    const count = voters.filter((id) => (match.get(id) ?? 0) >= candidate).length;
    if (count * 2 > voters.length && candidate > best) best = candidate;
  }
  return voters.length === 0 ? 0 : best;
}

/** Deliberately naive: enumerate every way the missing votes could go. */
function naiveVoteResult(voters: string[], votes: Map<string, boolean>): VoteResult {
  if (voters.length === 0) return VoteResult.Lost;
  const missing = voters.filter((id) => !votes.has(id));
  let canWin = false;
  let canLose = false;
  for (let mask = 0; mask < 1 << missing.length; mask++) {
    let yes = voters.filter((id) => votes.get(id) === true).length;
    missing.forEach((_, i) => (yes += (mask >> i) & 1));
    if (yes * 2 > voters.length) canWin = true;
    else canLose = true;
  }
  if (canWin && !canLose) return VoteResult.Won;
  if (canLose && !canWin) return VoteResult.Lost;
  return VoteResult.Pending;
}

describe("quorum math", () => {
  it("agrees with the naive committed index on random configurations", () => {
    const rng = new Rng(42);
    for (let trial = 0; trial < 5000; trial++) {
      const voters = Array.from({ length: rng.int(0, 8) }, (_, i) => `n${i}`);
      const match = new Map(voters.filter(() => rng.chance(0.9)).map((id) => [id, rng.int(0, 20)]));
      expect(committedIndex(voters, (id) => match.get(id) ?? 0)).toBe(naiveCommittedIndex(voters, match));
    }
  });

  it("agrees with the naive vote count on random elections", () => {
    const rng = new Rng(43);
    for (let trial = 0; trial < 5000; trial++) {
      const voters = Array.from({ length: rng.int(0, 8) }, (_, i) => `n${i}`);
      const votes = new Map<string, boolean>();
      for (const id of voters) if (rng.chance(0.6)) votes.set(id, rng.chance(0.5));
      if (rng.chance(0.2)) votes.set("learner", true); // a non-voter's vote never counts
      expect(voteResult(voters, votes)).toBe(naiveVoteResult(voters, votes));
    }
  });

  it("knows its majorities and quorums", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(majority)).toEqual([1, 2, 2, 3, 3, 4, 4]);
    expect(hasQuorum(["a", "b", "c"], (id) => id !== "c")).toBe(true);
    expect(hasQuorum(["a", "b", "c"], (id) => id === "a")).toBe(false);
    expect(hasQuorum([], () => true)).toBe(false);
  });
});
