import { describe, expect, it } from "vitest";
import { Rng } from "../util/rng.js";
import { ProposalDroppedError } from "./raft.js";
import { MessageType, Role, type Message } from "./types.js";
import { TestCluster } from "./testing/cluster.js";

const five = ["a", "b", "c", "d", "e"];

function allApplied(cluster: TestCluster, ids: string[]): string[][] {
  return ids.map((id) => cluster.appliedTexts(id));
}

describe("log replication", () => {
  it("replicates and applies proposals on every node in order", () => {
    const cluster = new TestCluster(["a", "b", "c"]);
    const leader = cluster.electLeader();
    for (const value of ["x", "y", "z"]) cluster.propose(leader, value);
    expect(allApplied(cluster, ["a", "b", "c"])).toEqual([["x", "y", "z"], ["x", "y", "z"], ["x", "y", "z"]]);
  });

  it("sends the proposals made between two Readies in one append per follower, and a commit notice that needs no answer where the follower is known to hold the entries", () => {
    const cluster = new TestCluster(["a", "b", "c"]);
    const leader = cluster.electLeader();
    const appendsBefore = cluster.sentOfType(MessageType.Append).length;
    const acksBefore = cluster.sentOfType(MessageType.AppendResponse).length;
    for (let i = 0; i < 20; i++) cluster.raft(leader).propose(new TextEncoder().encode(`v${i}`));
    cluster.process(leader);
    const appends = cluster.sentOfType(MessageType.Append).slice(appendsBefore);
    expect(appends.map((m) => [m.to, m.entries?.length])).toEqual(
      ["a", "b", "c"].filter((id) => id !== leader).map((id) => [id, 20]),
    );
    cluster.settle();
    // One acknowledgement per follower, of the entries. A commit notice to a follower whose
    // acknowledgement already arrived needs no answer; the other follower's ack was still on its
    // way when the first one committed the entries, so its notice is a plain append it answers.
    const acks = cluster.sentOfType(MessageType.AppendResponse).slice(acksBefore);
    expect(acks.length).toBe(3);
    expect(new Set(acks.map((m) => m.from))).toEqual(new Set(["a", "b", "c"].filter((id) => id !== leader)));
    for (const id of ["a", "b", "c"]) expect(cluster.appliedTexts(id)).toHaveLength(20);
  });

  it("an old leader that rejoins loses its uncommitted entries and takes the new leader's", () => {
    const cluster = new TestCluster(["a", "b", "c"]);
    cluster.campaign("a");
    cluster.isolate("a");
    cluster.propose("a", "lost");
    cluster.tick(40, ["b", "c"]);
    const fresh = cluster.leader()!;
    expect(fresh).not.toBe("a");
    cluster.propose(fresh, "kept");
    cluster.heal();
    cluster.tick(20);
    expect(allApplied(cluster, ["a", "b", "c"])).toEqual([["kept"], ["kept"], ["kept"]]);
    expect(cluster.logTerms("a")).toBe(cluster.logTerms(fresh));
  });

  it("reaches no agreement without a quorum, then commits once the quorum is back", () => {
    const cluster = new TestCluster(five);
    const leader = cluster.electLeader();
    const followers = five.filter((id) => id !== leader);
    for (const id of followers.slice(0, 3)) cluster.crash(id);
    cluster.raft(leader).propose(new TextEncoder().encode("waiting"));
    cluster.tick(5, [leader, followers[3]!]);
    expect(cluster.appliedTexts(leader)).toEqual([]);
    const commitBefore = cluster.raft(leader).status().commit;
    for (const id of followers.slice(0, 3)) cluster.restart(id);
    cluster.tick(30);
    const now = cluster.leader()!;
    expect(cluster.raft(now).status().commit).toBeGreaterThan(commitBefore);
    for (const id of five) expect(cluster.appliedTexts(id)).toEqual(["waiting"]);
  });

  it("backs up fast over long conflicting logs (conflict-term hints, not one entry at a time)", () => {
    const cluster = new TestCluster(five, { appendBytesMax: 64 });
    const first = cluster.electLeader();
    const [f1, f2, f3, f4] = five.filter((id) => id !== first) as [string, string, string, string];
    // The leader and f1 are cut off from the rest and accept 50 entries that never commit.
    for (const id of [f2, f3, f4]) cluster.isolate(id);
    for (let i = 0; i < 50; i++) cluster.raft(first).propose(new TextEncoder().encode(`doomed ${i}`));
    cluster.settle();
    // The majority side elects a leader and commits 50 other entries.
    cluster.heal();
    cluster.isolate(first);
    cluster.isolate(f1);
    cluster.tick(40, [f2, f3, f4]);
    const second = cluster.leader()!;
    expect([f2, f3, f4]).toContain(second);
    for (let i = 0; i < 50; i++) cluster.propose(second, `kept ${i}`);
    // Everyone heals; the old pair must drop 50 entries each.
    cluster.heal();
    const rejectionsBefore = cluster.sentOfType(MessageType.AppendResponse).filter((m) => m.reject).length;
    cluster.tick(30);
    const rejections = cluster.sentOfType(MessageType.AppendResponse).filter((m) => m.reject).length - rejectionsBefore;
    for (const id of five) {
      expect(cluster.appliedTexts(id)).toHaveLength(50);
      expect(cluster.appliedTexts(id)[49]).toBe("kept 49");
    }
    // Two followers with 50 conflicting entries each: a handful of rejections, not 100.
    expect(rejections).toBeLessThan(10);
  });

  it("brings the follower logs of Figure 7 in line with a leader of term 8", () => {
    // Raft paper, Figure 7 (our indexes are one higher: entry 1 holds the membership).
    const cluster = TestCluster.withLogs(
      {
        leader: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6],
        a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
        b: [1, 1, 1, 4],
        c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
        d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
        e: [1, 1, 1, 4, 4, 4, 4],
        f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
      },
      7,
    );
    cluster.campaign("leader");
    expect(cluster.raft("leader").status().role).toBe(Role.Leader);
    expect(cluster.raft("leader").status().term).toBe(8);
    cluster.tick(5);
    const expected = "1,1,1,4,4,5,5,6,6,6,8";
    for (const id of ["leader", "a", "b", "c", "d", "e", "f"]) expect(cluster.logTerms(id)).toBe(expected);
  });

  it("Figure 8: an entry of an earlier term on a majority is not committed by counting replicas", () => {
    // s1 leads term 4 holding entry 2 from term 2 (also on s2, s3); s5 holds a term-3 entry at 2.
    const cluster = TestCluster.withLogs({ s1: [2], s2: [2], s3: [2], s4: [], s5: [3] }, 3, { checkQuorum: false, preVote: false });
    // The network carries only entries up to index 2: the new term's no-op (index 3) never arrives.
    cluster.transform = (m: Message) => (m.type === MessageType.Append ? { ...m, entries: m.entries.filter((e) => e.index <= 2) } : m);
    cluster.cut("s1", "s4");
    cluster.cut("s1", "s5");
    cluster.campaign("s1");
    expect(cluster.raft("s1").status().role).toBe(Role.Leader);
    cluster.tick(3, ["s1", "s2", "s3"]);
    // Entry 2 is on s1, s2 and s3, a majority, but it is from term 2: not committed.
    expect(cluster.raft("s1").status().commit).toBe(1);
    // Had it been committed, this would lose it: s5 wins with s2, s3, s4 and overwrites it.
    cluster.crash("s1");
    cluster.transform = undefined;
    cluster.heal();
    cluster.campaign("s5"); // term 4: s2 and s3 already voted for s1 in it
    cluster.campaign("s5"); // term 5: s2, s3 and s4 vote for s5, whose last entry's term (3) is newer
    expect(cluster.raft("s5").status().role).toBe(Role.Leader);
    cluster.tick(3, ["s2", "s3", "s4", "s5"]);
    for (const id of ["s2", "s3", "s4", "s5"]) expect(cluster.logTerms(id)).toBe("3,5");
  });

  it("Figure 8, second half: once an entry of the current term is replicated, the earlier one commits with it", () => {
    const cluster = TestCluster.withLogs({ s1: [2], s2: [2], s3: [2], s4: [], s5: [3] }, 3, { checkQuorum: false });
    cluster.cut("s1", "s4");
    cluster.cut("s1", "s5");
    cluster.campaign("s1");
    cluster.tick(3, ["s1", "s2", "s3"]);
    expect(cluster.raft("s1").status().commit).toBe(3);
    cluster.heal();
    cluster.crash("s1");
    cluster.tick(60, ["s2", "s3", "s4", "s5"]);
    // s5 can no longer win: a majority holds the term-4 entry that it lacks.
    expect(cluster.leader()).not.toBe("s5");
  });

  it("agrees over an unreliable network (30% loss), then converges", () => {
    const cluster = new TestCluster(five, { seed: 11 });
    cluster.lossRate = 0.3;
    const encoder = new TextEncoder();
    let proposed = 0;
    for (let round = 0; round < 300 && proposed < 40; round++) {
      const leader = cluster.leader();
      if (leader) {
        try {
          cluster.raft(leader).propose(encoder.encode(`v${proposed}`));
          proposed++;
        } catch (error) {
          if (!(error instanceof ProposalDroppedError)) throw error;
        }
      }
      cluster.tick();
    }
    cluster.heal();
    cluster.tick(40);
    const reference = cluster.appliedTexts(cluster.leader()!);
    expect(reference.length).toBeGreaterThan(20);
    for (const id of five) expect(cluster.appliedTexts(id)).toEqual(reference);
    expect(new Set(reference).size).toBe(reference.length);
  });

  it("stays consistent through churn: nodes crash and restart while clients write", () => {
    const rng = new Rng(5);
    const cluster = new TestCluster(five, { seed: 5 });
    const encoder = new TextEncoder();
    let written = 0;
    for (let round = 0; round < 400; round++) {
      if (rng.chance(0.05)) {
        const id = rng.pick(five);
        if (cluster.node(id).up && five.filter((n) => !cluster.node(n).up).length < 2) cluster.crash(id);
      }
      if (rng.chance(0.08)) {
        const down = five.filter((n) => !cluster.node(n).up);
        if (down.length > 0) cluster.restart(rng.pick(down));
      }
      const leader = cluster.leader();
      if (leader && rng.chance(0.5)) {
        try {
          cluster.raft(leader).propose(encoder.encode(`w${written++}`));
        } catch (error) {
          if (!(error instanceof ProposalDroppedError)) throw error;
        }
      }
      cluster.tick();
    }
    for (const id of five) if (!cluster.node(id).up) cluster.restart(id);
    cluster.tick(40);
    const reference = cluster.appliedTexts(cluster.leader()!);
    expect(reference.length).toBeGreaterThan(50);
    for (const id of five) expect(cluster.appliedTexts(id)).toEqual(reference);
  });
});
