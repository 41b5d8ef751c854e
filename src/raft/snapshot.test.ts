import { describe, expect, it } from "vitest";
import { MessageType } from "./types.js";
import { TestCluster } from "./testing/cluster.js";

const three = ["a", "b", "c"];

describe("snapshots", () => {
  it("catches up a lagging follower by snapshot once the entries it needs are compacted", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    const lagging = three.find((id) => id !== leader)!;
    cluster.crash(lagging);
    for (let i = 0; i < 30; i++) cluster.propose(leader, `v${i}`);
    cluster.compact(leader);
    expect(cluster.node(leader).storage.firstIndex()).toBeGreaterThan(30);
    cluster.restart(lagging);
    cluster.tick(5);
    expect(cluster.sentOfType(MessageType.Snapshot).filter((m) => m.to === lagging)).toHaveLength(1);
    expect(cluster.appliedTexts(lagging)).toEqual(cluster.appliedTexts(leader));
    cluster.propose(leader, "after");
    expect(cluster.appliedTexts(lagging).at(-1)).toBe("after");
  });

  it("recovers when the follower crashes while the snapshot is on its way, and after installing it", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    const lagging = three.find((id) => id !== leader)!;
    cluster.crash(lagging);
    for (let i = 0; i < 20; i++) cluster.propose(leader, `v${i}`);
    cluster.compact(leader);
    cluster.restart(lagging);
    // The snapshot is lost with the crash: the leader must notice and send it again.
    cluster.droppedTypes.add(MessageType.Snapshot);
    cluster.tick(2);
    cluster.crash(lagging);
    cluster.raft(leader).reportSnapshot(lagging, false);
    cluster.heal();
    cluster.restart(lagging);
    cluster.tick(5);
    expect(cluster.appliedTexts(lagging)).toEqual(cluster.appliedTexts(leader));
    // Crash right after installing: it restarts from the installed snapshot.
    cluster.crash(lagging);
    cluster.restart(lagging);
    cluster.propose(leader, "later");
    cluster.tick(3);
    expect(cluster.appliedTexts(lagging)).toEqual(cluster.appliedTexts(leader));
  });

  it("retries a snapshot lost without a report after the stall timeout", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    const lagging = three.find((id) => id !== leader)!;
    cluster.crash(lagging);
    for (let i = 0; i < 10; i++) cluster.propose(leader, `v${i}`);
    cluster.compact(leader);
    cluster.restart(lagging);
    cluster.droppedTypes.add(MessageType.Snapshot);
    cluster.tick(3);
    cluster.heal();
    cluster.tick(60);
    expect(cluster.sentOfType(MessageType.Snapshot).filter((m) => m.to === lagging).length).toBeGreaterThan(1);
    expect(cluster.appliedTexts(lagging)).toEqual(cluster.appliedTexts(leader));
  });

  it("keeps serving after every node compacts its log, and a restart replays from the snapshot", () => {
    const cluster = new TestCluster(three);
    const leader = cluster.electLeader();
    for (let i = 0; i < 10; i++) cluster.propose(leader, `v${i}`);
    for (const id of three) cluster.compact(id);
    for (const id of three) cluster.crash(id);
    for (const id of three) cluster.restart(id);
    const next = cluster.electLeader();
    cluster.propose(next, "more");
    for (const id of three) expect(cluster.appliedTexts(id)).toHaveLength(11);
  });
});
