import { describe, expect, it } from "vitest";
import { Rng } from "../util/rng.js";
import { RaftNode, bootstrapStorage } from "./raft.js";
import { MemoryStorage } from "./log-storage.js";
import { MessageType, Role, makeMessage } from "./types.js";
import { TestCluster } from "./testing/cluster.js";

const three = ["a", "b", "c"];

describe("persistence and restarts", () => {
  it("releases a vote only after the vote is in a Ready to persist (messagesAfterPersist)", () => {
    const storage = new MemoryStorage();
    bootstrapStorage(storage, three);
    const raft = new RaftNode({ id: "b", storage, rng: new Rng(1) });
    let ready = raft.ready();
    storage.append(ready.entries);
    if (ready.hardState) storage.setHardState(ready.hardState);
    for (const entry of ready.committedEntries) raft.applyConfChange({ type: 0, node: ["a", "b", "c"][entry.index - 1]! }, entry.index);
    raft.advance();
    raft.step(makeMessage({ type: MessageType.Vote, from: "a", to: "b", term: 2, index: 3, logTerm: 1 }));
    ready = raft.ready();
    expect(ready.hardState).toMatchObject({ term: 2, vote: "a" });
    expect(ready.mustSync).toBe(true);
    expect(ready.messages.filter((m) => m.type === MessageType.VoteResponse)).toEqual([]);
    expect(ready.messagesAfterPersist).toEqual([expect.objectContaining({ type: MessageType.VoteResponse, to: "a", reject: false })]);
  });

  it("acknowledges appended entries only after the Ready that holds them is persisted", () => {
    const cluster = new TestCluster(three);
    cluster.campaign("a");
    const follower = cluster.raft("b");
    follower.step(
      makeMessage({
        type: MessageType.Append,
        from: "a",
        to: "b",
        term: cluster.raft("a").status().term,
        index: cluster.raft("b").status().lastIndex,
        logTerm: cluster.node("b").storage.term(cluster.raft("b").status().lastIndex)!,
        entries: [{ term: cluster.raft("a").status().term, index: cluster.raft("b").status().lastIndex + 1, type: 0, data: new Uint8Array([1]) }],
      }),
    );
    const ready = follower.ready();
    expect(ready.entries).toHaveLength(1);
    expect(ready.messages.some((m) => m.type === MessageType.AppendResponse)).toBe(false);
    expect(ready.messagesAfterPersist.some((m) => m.type === MessageType.AppendResponse && !m.reject)).toBe(true);
    follower.advance();
  });

  it("a leader does not count its own unpersisted entry toward commit", () => {
    const storage = new MemoryStorage();
    bootstrapStorage(storage, ["solo"]);
    const raft = new RaftNode({ id: "solo", storage, rng: new Rng(2) });
    const drive = (persist: boolean): void => {
      const ready = raft.ready();
      if (persist) {
        storage.append(ready.entries);
        if (ready.hardState) storage.setHardState(ready.hardState);
      }
      for (const e of ready.committedEntries) if (e.type === 1) raft.applyConfChange({ type: 0, node: "solo" }, e.index);
      raft.advance();
    };
    drive(true);
    raft.campaign();
    drive(true); // the no-op of the new term, persisted: it commits
    drive(true);
    const { index } = raft.propose(new Uint8Array([9]));
    // Take the Ready but "crash" before the disk write: the entry must not commit.
    const ready = raft.ready();
    expect(ready.entries.map((e) => e.index)).toEqual([index]);
    expect(ready.committedEntries.map((e) => e.index)).not.toContain(index);
    expect(raft.status().commit).toBeLessThan(index);
  });

  it("survives a crash and restart of every node, keeping every committed entry", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    cluster.propose(leader, "one");
    cluster.propose(leader, "two");
    for (const id of three) cluster.crash(id);
    for (const id of three) cluster.restart(id);
    const next = cluster.electLeader();
    cluster.propose(next, "three");
    for (const id of three) expect(cluster.appliedTexts(id)).toEqual(["one", "two", "three"]);
  });

  it("survives a crash of the leader: a new leader keeps the committed entries", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    cluster.propose(leader, "before");
    cluster.crash(leader);
    cluster.tick(40);
    const next = cluster.electLeader();
    expect(next).not.toBe(leader);
    cluster.propose(next, "after");
    cluster.restart(leader);
    cluster.tick(5);
    for (const id of three) expect(cluster.appliedTexts(id)).toEqual(["before", "after"]);
  });

  it("restarts a partitioned leader and a partitioned follower, which catch up", () => {
    const cluster = new TestCluster(["a", "b", "c", "d", "e"]);
    const leader = cluster.electLeader();
    const follower = ["a", "b", "c", "d", "e"].find((id) => id !== leader)!;
    cluster.isolate(leader);
    cluster.isolate(follower);
    cluster.propose(leader, "never"); // cannot commit: the leader is alone
    cluster.tick(40);
    const next = cluster.electLeader();
    cluster.propose(next, "committed");
    cluster.crash(leader);
    cluster.crash(follower);
    cluster.restart(leader);
    cluster.restart(follower);
    cluster.heal();
    cluster.tick(10);
    for (const id of ["a", "b", "c", "d", "e"]) expect(cluster.appliedTexts(id)).toEqual(["committed"]);
    expect(cluster.leaders()).toHaveLength(1);
    expect(cluster.raft(leader).status().role).not.toBe(Role.Leader);
  });

  it("restarts with the state machine's applied index past the snapshot and keeps the membership of the applied log", () => {
    const cluster = new TestCluster(["a", "b", "c"], { extra: ["d"] });
    const leader = cluster.electLeader();
    cluster.raft(leader).proposeConfChange({ type: 1, node: "d" }); // AddLearner, after the (empty) snapshot
    cluster.tick(3);
    const node = cluster.node(leader);
    const applied = node.raft.status().applied;
    // A durable state machine: restart at its applied index, with nothing re-delivered.
    const restarted = new RaftNode({ id: leader, storage: node.storage, rng: new Rng(9), applied });
    expect(restarted.status().confState).toEqual({ voters: ["a", "b", "c"], learners: ["d"] });
  });
});

