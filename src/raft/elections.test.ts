import { describe, expect, it } from "vitest";
import { Rng } from "../util/rng.js";
import { MessageType, Role } from "./types.js";
import { TestCluster } from "./testing/cluster.js";

const ids = ["a", "b", "c"];

describe("elections", () => {
  it("elects exactly one leader at startup, and everyone follows it", () => {
    const cluster = new TestCluster(ids);
    const leader = cluster.electLeader();
    expect(cluster.leaders()).toEqual([leader]);
    const term = cluster.raft(leader).status().term;
    for (const id of ids) {
      expect(cluster.raft(id).status().leader).toBe(leader);
      expect(cluster.raft(id).status().term).toBe(term);
    }
  });

  it("elects a new leader when the leader is cut off, and the old one steps down (check-quorum)", () => {
    const cluster = new TestCluster(ids);
    const old = cluster.electLeader();
    const oldTerm = cluster.raft(old).status().term;
    cluster.isolate(old);
    cluster.tick(40);
    const fresh = cluster.leaders().filter((id) => id !== old);
    expect(fresh).toHaveLength(1);
    expect(cluster.raft(fresh[0]!).status().term).toBeGreaterThan(oldTerm);
    expect(cluster.raft(old).status().role).not.toBe(Role.Leader);
    cluster.heal();
    cluster.tick(5);
    expect(cluster.raft(old).status().leader).toBe(fresh[0]);
  });

  it("never has two leaders in one term through many random disconnections", () => {
    const rng = new Rng(7);
    const cluster = new TestCluster(["a", "b", "c", "d", "e"], { seed: 7 });
    const leaderOfTerm = new Map<number, string>();
    for (let round = 0; round < 60; round++) {
      cluster.heal();
      for (let cuts = rng.int(0, 4); cuts > 0; cuts--) cluster.isolate(rng.pick(["a", "b", "c", "d", "e"]));
      for (let t = 0; t < 15; t++) {
        cluster.tick();
        for (const id of cluster.leaders()) {
          const term = cluster.raft(id).status().term;
          expect(leaderOfTerm.get(term) ?? id).toBe(id);
          leaderOfTerm.set(term, id);
        }
      }
    }
    cluster.heal();
    expect(cluster.electLeader()).toBeDefined();
    expect(leaderOfTerm.size).toBeGreaterThan(3);
  });

  it("resolves dueling candidates: the one with the longer log wins, the other cannot", () => {
    const cluster = new TestCluster(ids, { preVote: false, checkQuorum: false });
    cluster.cut("a", "c");
    cluster.campaign("a");
    expect(cluster.raft("a").status().role).toBe(Role.Leader);
    // c campaigns without hearing a: b refuses, its log has a's no-op entry.
    cluster.campaign("c");
    expect(cluster.raft("c").status().role).not.toBe(Role.Leader);
    cluster.heal();
    cluster.tick(30);
    // The higher term of c deposed a, but only a or b (with the longer log) could win.
    const leader = cluster.electLeader();
    expect(leader).not.toBe("c");
    expect(cluster.leaders()).toEqual([leader]);
  });

  it("refuses a vote to a candidate whose log is less up to date", () => {
    const cluster = new TestCluster(ids, { preVote: false, checkQuorum: false });
    cluster.campaign("a");
    cluster.crash("c");
    cluster.propose("a", "x"); // committed on a and b only
    cluster.crash("a");
    cluster.restart("c");
    cluster.raft("c").campaign();
    cluster.settle();
    const refusals = cluster.sentOfType(MessageType.VoteResponse).filter((m) => m.from === "b" && m.to === "c");
    expect(refusals.at(-1)?.reject).toBe(true);
    expect(cluster.raft("c").status().role).not.toBe(Role.Leader);
    // b, whose log is complete, can win, and c then receives "x".
    cluster.tick(40, ["b", "c"]);
    expect(cluster.leader()).toBe("b");
    expect(cluster.appliedTexts("c")).toEqual(["x"]);
  });

  it("blocks a disruptive rejoining follower with pre-vote: the leader keeps its term", () => {
    const cluster = new TestCluster(ids);
    const leader = cluster.electLeader();
    const follower = ids.find((id) => id !== leader)!;
    const term = cluster.raft(leader).status().term;
    cluster.isolate(follower);
    cluster.tick(50);
    // Pre-vote never raised the isolated node's term: it could not win a pre-election.
    expect(cluster.raft(follower).status().term).toBe(term);
    cluster.heal();
    cluster.tick(5);
    expect(cluster.leader()).toBe(leader);
    expect(cluster.raft(leader).status().term).toBe(term);
  });

  it("without pre-vote, the same rejoining follower does disrupt (the contrast that shows pre-vote works)", () => {
    const cluster = new TestCluster(ids, { preVote: false, checkQuorum: false });
    const leader = cluster.electLeader();
    const follower = ids.find((id) => id !== leader)!;
    const term = cluster.raft(leader).status().term;
    cluster.isolate(follower);
    cluster.tick(50);
    expect(cluster.raft(follower).status().term).toBeGreaterThan(term);
    cluster.heal();
    cluster.tick(30);
    expect(cluster.raft(cluster.electLeader()).status().term).toBeGreaterThan(term);
  });

  it("a leader that loses its quorum steps down after one whole election timeout without contact", () => {
    const cluster = new TestCluster(ids);
    const leader = cluster.electLeader();
    cluster.tick(10); // one check-quorum window with everyone up
    for (const id of ids) if (id !== leader) cluster.crash(id);
    cluster.tick(9, [leader]);
    expect(cluster.raft(leader).status().role).toBe(Role.Leader);
    cluster.tick(11, [leader]);
    expect(cluster.raft(leader).status().role).toBe(Role.Follower);
    expect(() => cluster.raft(leader).propose(new Uint8Array([1]))).toThrow(/not the leader/);
  });
});
