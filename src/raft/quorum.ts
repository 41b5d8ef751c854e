/**
 * Majority quorum math, kept apart from the protocol so that it can be tested on its own
 * against a deliberately naive version (quorum.test.ts). Only voters count; learners never do.
 */
import type { NodeId } from "./types.js";

export enum VoteResult {
  Pending = "pending",
  Won = "won",
  Lost = "lost",
}

/** The smallest number of voters that forms a majority. */
export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest index that a majority of voters has durably matched: sort the match indexes in
 * descending order and take the one at the majority position. An empty configuration commits
 * nothing.
 */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  return matches[majority(voters.length) - 1]!;
}

/** Election outcome from the votes heard so far (true = granted, false = refused). */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return VoteResult.Lost;
  let granted = 0;
  let refused = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === true) granted++;
    else if (vote === false) refused++;
  }
  const needed = majority(voters.length);
  if (granted >= needed) return VoteResult.Won;
  if (voters.length - refused < needed) return VoteResult.Lost;
  return VoteResult.Pending;
}

/** True when the voters in `active` form a majority. */
export function hasQuorum(voters: readonly NodeId[], active: (id: NodeId) => boolean): boolean {
  let count = 0;
  for (const id of voters) if (active(id)) count++;
  return voters.length > 0 && count >= majority(voters.length);
}
