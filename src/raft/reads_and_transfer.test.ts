import { describe, expect, it } from "vitest";
import { ProposalDroppedError } from "./raft.js";
import { MessageType, Role } from "./types.js";
import { TestCluster } from "./testing/cluster.js";

const three = ["a", "b", "c"];

describe("ReadIndex", () => {
  it("answers a read on the leader at the commit index after one heartbeat round", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    cluster.propose(leader, "x");
    const heartbeatsBefore = cluster.sentOfType(MessageType.Heartbeat).length;
    cluster.raft(leader).readIndex("r1");
    cluster.settle();
    expect(cluster.node(leader).readStates).toEqual([{ index: cluster.raft(leader).status().commit, context: "r1" }]);
    expect(cluster.sentOfType(MessageType.Heartbeat).length).toBeGreaterThan(heartbeatsBefore);
  });

  it("serves a follower's read through the leader", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    cluster.propose(leader, "x");
    const follower = three.find((id) => id !== leader)!;
    cluster.raft(follower).readIndex("from-follower");
    cluster.settle();
    expect(cluster.node(follower).readStates).toEqual([{ index: cluster.raft(leader).status().commit, context: "from-follower" }]);
  });

  it("batches reads that arrive while a round is in flight into one next round", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    cluster.raft(leader).readIndex("first");
    for (let i = 0; i < 10; i++) cluster.raft(leader).readIndex(`batched-${i}`);
    cluster.processAll();
    const roundContexts = new Set(cluster.queue.filter((m) => m.type === MessageType.Heartbeat).map((m) => m.context));
    expect(roundContexts.size).toBe(1); // only the first round is out; the ten wait together
    cluster.settle();
    expect(cluster.node(leader).readStates.map((r) => r.context)).toEqual(["first", ...Array.from({ length: 10 }, (_, i) => `batched-${i}`)]);
    const allRounds = new Set(cluster.sentOfType(MessageType.Heartbeat).map((m) => m.context).filter(Boolean));
    expect(allRounds.size).toBe(2);
  });

  it("is held by a new leader until it commits an entry of its term", () => {
    const cluster = new TestCluster(three);
    cluster.droppedTypes.add(MessageType.AppendResponse);
    cluster.campaign("a");
    expect(cluster.raft("a").status().role).toBe(Role.Leader);
    cluster.raft("a").readIndex("early");
    cluster.tick(2);
    expect(cluster.node("a").readStates).toEqual([]);
    cluster.heal();
    cluster.tick(2);
    expect(cluster.node("a").readStates.map((r) => r.context)).toEqual(["early"]);
    expect(cluster.node("a").readStates[0]!.index).toBe(cluster.raft("a").status().commit);
  });

  it("is not answered by a leader cut off from its quorum", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    cluster.isolate(leader);
    cluster.raft(leader).readIndex("stale?");
    cluster.tick(5, [leader]);
    expect(cluster.node(leader).readStates).toEqual([]);
  });
});

describe("leadership transfer", () => {
  it("hands leadership to a caught-up follower at once", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    const target = three.find((id) => id !== leader)!;
    cluster.raft(leader).transferLeadership(target);
    cluster.settle();
    expect(cluster.leader()).toBe(target);
    expect(cluster.raft(leader).status().role).toBe(Role.Follower);
  });

  it("waits for a slow follower to catch up, then hands over; proposals are refused meanwhile", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    const slow = three.find((id) => id !== leader)!;
    cluster.crash(slow);
    for (let i = 0; i < 5; i++) cluster.propose(leader, `v${i}`);
    cluster.restart(slow);
    cluster.raft(leader).transferLeadership(slow);
    expect(() => cluster.raft(leader).propose(new Uint8Array([1]))).toThrow(ProposalDroppedError);
    cluster.tick(3);
    expect(cluster.leader()).toBe(slow);
    expect(cluster.appliedTexts(slow)).toHaveLength(5);
  });

  it("times out after an election timeout when the target never catches up", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    const target = three.find((id) => id !== leader)!;
    cluster.crash(target);
    cluster.propose(leader, "v");
    cluster.raft(leader).transferLeadership(target);
    expect(cluster.raft(leader).status().leadTransferee).toBe(target);
    cluster.tick(10, three.filter((id) => id !== target));
    expect(cluster.raft(leader).status().leadTransferee).toBe("");
    expect(cluster.leader()).toBe(leader);
    expect(() => cluster.raft(leader).propose(new Uint8Array([1]))).not.toThrow();
  });

  it("a follower forwards a transfer request to the leader", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    const [first, second] = three.filter((id) => id !== leader) as [string, string];
    cluster.raft(first).transferLeadership(second);
    cluster.settle();
    expect(cluster.leader()).toBe(second);
  });
});
