import { afterEach, describe, expect, it } from "vitest";
import { MessageType } from "../raft/types.js";
import { closeAll, heartbeat, startCluster, waitFor, type TestNode } from "./testing/helpers.js";
import { makeMessage } from "../raft/types.js";

afterEach(closeAll);

/** Sends `count` heartbeats a→b, then a marker once faults are cleared, and returns the commits b got. */
async function sendThrough(a: TestNode, b: TestNode, count: number): Promise<number[]> {
  a.transport.send(Array.from({ length: count }, (_, i) => heartbeat(a.id, b.id, i)));
  a.transport.setFaults(null);
  a.transport.send([heartbeat(a.id, b.id, -1 >>> 0)]);
  await waitFor(() => b.received.some((m) => m.commit === -1 >>> 0), "marker delivered");
  return b.received.map((m) => m.commit).filter((c) => c !== -1 >>> 0);
}

describe("Transport: fault hook", () => {
  it("dropRate 1 loses every message and counts it", async () => {
    const [a, b] = await startCluster(["a", "b"]);
    a!.transport.setFaults({ dropRate: 1 });
    expect(await sendThrough(a!, b!, 50)).toEqual([]);
    expect(a!.transport.stats().peers["b"]!.faultDropped).toBe(50);
  });

  it("drops are random but replay exactly from the same seed", async () => {
    const run = async (seed: number): Promise<number[]> => {
      const [a, b] = await startCluster(["a", "b"], { seed });
      a!.transport.setFaults({ dropRate: 0.5 });
      const got = await sendThrough(a!, b!, 200);
      await closeAll();
      return got;
    };
    const first = await run(11);
    const again = await run(11);
    const other = await run(12);
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    expect(first.length).toBeGreaterThan(50);
    expect(first.length).toBeLessThan(150);
  });

  it("duplicateRate 1 delivers every message twice, in order", async () => {
    const [a, b] = await startCluster(["a", "b"]);
    a!.transport.setFaults({ duplicateRate: 1 });
    expect(await sendThrough(a!, b!, 5)).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  });

  it("delayMs holds messages back but keeps their order", async () => {
    const [a, b] = await startCluster(["a", "b"]);
    a!.transport.setFaults({ delayMs: 30 });
    const sentAt = performance.now();
    a!.transport.send(Array.from({ length: 20 }, (_, i) => heartbeat("a", "b", i)));
    await waitFor(() => b!.received.length === 20, "delayed messages delivered");
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(30);
    expect(b!.received.map((m) => m.commit)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it("a partition cuts both directions with the named node, and only with it", async () => {
    const [a, b, c] = await startCluster(["a", "b", "c"]);
    a!.transport.setFaults({ partitionedFrom: new Set(["b"]) });
    a!.transport.send([heartbeat("a", "b", 1), heartbeat("a", "c", 1)]);
    b!.transport.send([heartbeat("b", "a", 2), heartbeat("b", "c", 2)]);
    c!.transport.send([heartbeat("c", "a", 3)]);
    await waitFor(() => c!.received.length === 2 && a!.received.length === 1, "unpartitioned traffic delivered");
    // The message b sent to a reached a's socket and was dropped on receipt: wait for that count.
    await waitFor(() => a!.transport.stats().peers["b"]!.faultDropped === 2, "both directions dropped at a");
    expect(a!.received.map((m) => m.from)).toEqual(["c"]);
    expect(b!.received).toEqual([]);

    a!.transport.setFaults(null);
    a!.transport.send([heartbeat("a", "b", 4)]);
    b!.transport.send([heartbeat("b", "a", 5)]);
    await waitFor(() => b!.received.length === 1 && a!.received.length === 2, "healed");
  });

  it("a one-way block stops only the outgoing direction", async () => {
    const [a, b] = await startCluster(["a", "b"]);
    a!.transport.setFaults({ oneWayBlockedTo: new Set(["b"]) });
    a!.transport.send([heartbeat("a", "b", 1)]);
    b!.transport.send([heartbeat("b", "a", 2)]);
    await waitFor(() => a!.received.length === 1, "b → a still delivered");
    expect(a!.transport.stats().peers["b"]!.faultDropped).toBe(1);
    expect(b!.received).toEqual([]);
  });

  it("a partitioned snapshot fails and is reported", async () => {
    const [a, b] = await startCluster(["a", "b"]);
    a!.transport.setFaults({ partitionedFrom: new Set(["b"]) });
    const snapshot = makeMessage({ type: MessageType.Snapshot, from: "a", to: "b", term: 1, snapshot: { meta: { index: 1, term: 1, confState: { voters: ["a"], learners: [] } }, data: new Uint8Array(10) } });
    a!.transport.send([snapshot]);
    await waitFor(() => a!.snapshotResults.length === 1, "result");
    expect(a!.snapshotResults).toEqual([{ peer: "b", ok: false }]);
    expect(b!.received).toEqual([]);
  });
});
