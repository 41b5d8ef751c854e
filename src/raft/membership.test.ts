import { describe, expect, it } from "vitest";
import { ProposalDroppedError } from "./raft.js";
import { ConfChangeType, MessageType, Role } from "./types.js";
import { TestCluster } from "./testing/cluster.js";

const three = ["a", "b", "c"];

describe("membership changes", () => {
  it("adds a voter: the new node receives the log and then counts for the quorum", () => {
    const cluster = new TestCluster(three, { extra: ["d"] });
    const leader = cluster.electLeader();
    cluster.propose(leader, "before");
    cluster.raft(leader).proposeConfChange({ type: ConfChangeType.AddVoter, node: "d" });
    cluster.tick(3);
    expect(cluster.raft(leader).status().confState.voters).toEqual(["a", "b", "c", "d"]);
    expect(cluster.node("d").confState.voters).toEqual(["a", "b", "c", "d"]);
    expect(cluster.appliedTexts("d")).toEqual(["before"]);
    // With four voters, a majority is three: two nodes down stop commits.
    const others = ["a", "b", "c", "d"].filter((id) => id !== leader);
    cluster.crash(others[0]!);
    cluster.crash(others[1]!);
    cluster.raft(leader).propose(new TextEncoder().encode("stuck"));
    cluster.tick(3, [leader, others[2]!]);
    expect(cluster.appliedTexts(leader)).toEqual(["before"]);
  });

  it("removes a follower: the rest commit without it, and it cannot disrupt them", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    const removed = three.find((id) => id !== leader)!;
    cluster.raft(leader).proposeConfChange({ type: ConfChangeType.Remove, node: removed });
    cluster.tick(3);
    expect(cluster.raft(leader).status().confState.voters).not.toContain(removed);
    cluster.crash(removed);
    cluster.propose(leader, "two of two");
    expect(cluster.appliedTexts(leader)).toEqual(["two of two"]);
    // The removed node comes back: it is not a voter, so it never campaigns.
    cluster.restart(removed);
    const term = cluster.raft(leader).status().term;
    cluster.tick(60);
    expect(cluster.leader()).toBe(leader);
    expect(cluster.raft(leader).status().term).toBe(term);
  });

  it("removes the leader: it steps down after applying its removal and another voter leads", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    cluster.raft(leader).proposeConfChange({ type: ConfChangeType.Remove, node: leader });
    cluster.tick(1);
    expect(cluster.raft(leader).status().role).not.toBe(Role.Leader);
    cluster.tick(30);
    const next = cluster.leader()!;
    expect(next).not.toBe(leader);
    expect(cluster.raft(next).status().confState.voters).toHaveLength(2);
    cluster.propose(next, "after");
    expect(cluster.appliedTexts(next)).toEqual(["after"]);
  });

  it("a learner replicates but never votes nor counts for commit, until promoted", () => {
    const cluster = new TestCluster(three, { extra: ["l"] });
    const leader = cluster.electLeader();
    cluster.raft(leader).proposeConfChange({ type: ConfChangeType.AddLearner, node: "l" });
    cluster.tick(3);
    expect(cluster.raft(leader).status().confState.learners).toEqual(["l"]);
    cluster.propose(leader, "replicated");
    expect(cluster.appliedTexts("l")).toEqual(["replicated"]);
    // Learner + leader are not a quorum of three voters.
    for (const id of three) if (id !== leader) cluster.crash(id);
    cluster.raft(leader).propose(new TextEncoder().encode("not committed"));
    cluster.tick(3, [leader, "l"]);
    expect(cluster.appliedTexts(leader)).toEqual(["replicated"]);
    // The learner never campaigns, and nobody asks it for a vote.
    cluster.crash(leader);
    cluster.tick(60, ["l"]);
    expect(cluster.raft("l").status().role).toBe(Role.Follower);
    expect(cluster.sent.filter((m) => (m.type === MessageType.Vote || m.type === MessageType.PreVote) && (m.to === "l" || m.from === "l"))).toEqual([]);
  });

  it("promotes a caught-up learner to voter", () => {
    const cluster = new TestCluster(three, { extra: ["l"] });
    const leader = cluster.electLeader();
    cluster.raft(leader).proposeConfChange({ type: ConfChangeType.AddLearner, node: "l" });
    cluster.tick(3);
    cluster.raft(leader).proposeConfChange({ type: ConfChangeType.AddVoter, node: "l" });
    cluster.tick(3);
    expect(cluster.raft(leader).status().confState).toEqual({ voters: ["a", "b", "c", "l"], learners: [] });
    expect(cluster.node("l").confState.voters).toContain("l");
  });

  it("allows one membership change in flight at a time", () => {
    const cluster = new TestCluster(three, { extra: ["d", "e"] });
    const leader = cluster.electLeader();
    cluster.raft(leader).proposeConfChange({ type: ConfChangeType.AddLearner, node: "d" });
    expect(() => cluster.raft(leader).proposeConfChange({ type: ConfChangeType.AddLearner, node: "e" })).toThrow(ProposalDroppedError);
    cluster.tick(2);
    expect(() => cluster.raft(leader).proposeConfChange({ type: ConfChangeType.AddLearner, node: "e" })).not.toThrow();
  });

  it("a new leader makes no membership change before it commits an entry of its own term", () => {
    const cluster = new TestCluster(three, { extra: ["d"] });
    cluster.droppedTypes.add(MessageType.AppendResponse); // the new leader's no-op cannot commit
    cluster.campaign("a");
    expect(cluster.raft("a").status().role).toBe(Role.Leader);
    expect(() => cluster.raft("a").proposeConfChange({ type: ConfChangeType.AddLearner, node: "d" })).toThrow(/membership change/);
    cluster.heal();
    cluster.tick(2);
    expect(() => cluster.raft("a").proposeConfChange({ type: ConfChangeType.AddLearner, node: "d" })).not.toThrow();
  });
});
