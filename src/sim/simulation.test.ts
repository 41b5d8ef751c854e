import { describe, expect, it } from "vitest";
import { parseFaults } from "./faults.js";
import { runSimulation, type SimResult } from "./simulation.js";

const ALL = parseFaults("all");

/** The result minus wall-clock measurements, which differ between runs by nature. */
function withoutTimings(result: SimResult): unknown {
  return { ...result, checker: { ...result.checker, elapsedMs: 0 } };
}

describe("runSimulation", () => {
  it("replays a seed exactly: same trace digest, same history, same counts", async () => {
    const first = await runSimulation({ seed: 4242, nodes: 5, faults: ALL, ticks: 1500, keepHistory: true });
    const second = await runSimulation({ seed: 4242, nodes: 5, faults: ALL, ticks: 1500, keepHistory: true });
    expect(second.traceDigest).toBe(first.traceDigest);
    expect(withoutTimings(second)).toEqual(withoutTimings(first));
    const other = await runSimulation({ seed: 4243, nodes: 5, faults: ALL, ticks: 1500 });
    expect(other.traceDigest).not.toBe(first.traceDigest);
  });

  it("runs the replicas' real paths: writes forwarded by followers, reads through ReadIndex, idempotent retries", async () => {
    const result = await runSimulation({ seed: 5, nodes: 3, faults: new Set(), ticks: 600, keepHistory: true });
    expect(result.violations).toEqual([]);
    expect(result.messages.frames).toBeGreaterThan(100); // forwarded writes and their answers
    expect(result.history!.filter((op) => op.input.kind === "read" && op.outcome === "ok").length).toBeGreaterThan(100);
    expect(result.history!.filter((op) => op.input.kind === "cas" && op.outcome === "ok").length).toBeGreaterThan(20);
  });

  it("catches stale reads (served without ReadIndex) through the linearizability checker", async () => {
    for (const seed of [1, 2, 3]) {
      const result = await runSimulation({ seed, nodes: 5, faults: ALL, ticks: 1500, bug: "stale-read" });
      expect(result.checker.verdict).toBe("illegal");
      expect(result.violations.some((violation) => violation.includes("linearizability: the history is not linearizable"))).toBe(true);
      // Raft itself was fine: only the checker could see this bug.
      expect(result.violations.filter((violation) => !violation.includes("linearizability"))).toEqual([]);
    }
  });

  it("catches disks that say a write is durable before it is: acknowledgements promise what a crash loses", async () => {
    const result = await runSimulation({ seed: 1, nodes: 3, faults: parseFaults("crash"), ticks: 300, bug: "ack-before-persist" });
    expect(result.violations.some((violation) => /acknowledges entries up to \d+ .* but its disk ends at|grants its vote .* but its disk holds/.test(violation))).toBe(true);
  });

  it("heals: without faults and after every fault, the cluster converges and serves a write and a read", async () => {
    const calm = await runSimulation({ seed: 7, nodes: 5, faults: new Set(), ticks: 500 });
    expect(calm.violations).toEqual([]);
    expect(calm.healedTicks).toBeDefined();
    expect(calm.crashes + calm.partitions + calm.messages.lost).toBe(0);
    for (const seed of [11, 12, 13]) {
      const stormy = await runSimulation({ seed, nodes: 7, faults: ALL, ticks: 1500 });
      expect(stormy.violations).toEqual([]);
      expect(stormy.healedTicks).toBeGreaterThan(0);
    }
  });

  it("every member removed along the way learns it and stops, including one that was down or lagging when it was removed", async () => {
    let removed = 0;
    for (const seed of [1, 2, 3]) {
      const result = await runSimulation({ seed, nodes: 3, faults: parseFaults("membership,crash,partition"), ticks: 2500 });
      expect(result.violations).toEqual([]);
      removed += result.removedNodes;
    }
    expect(removed).toBeGreaterThan(3);
  });

  it("reports a liveness violation when the healed cluster gets too little time", async () => {
    const result = await runSimulation({ seed: 11, nodes: 5, faults: ALL, ticks: 500, healTicksMax: 2 });
    expect(result.healedTicks).toBeUndefined();
    expect(result.violations.some((violation) => /liveness: the healed cluster did not .* within 2 ticks/.test(violation))).toBe(true);
  });

  it("restarts from a durable state machine's applied index (as src/kv does) and keeps its membership", async () => {
    for (const seed of [1, 24]) {
      const result = await runSimulation({ seed, nodes: 5, faults: parseFaults("crash,membership"), ticks: 2000, durableStateMachine: true });
      expect(result.violations).toEqual([]);
      expect(result.crashes).toBeGreaterThan(0);
    }
  });

  it("rejects options outside the supported range", () => {
    expect(() => runSimulation({ seed: 1, nodes: 2, faults: ALL })).toThrow(/nodes must be an integer in 3..7/);
    expect(() => runSimulation({ seed: 1, nodes: 8, faults: ALL })).toThrow(RangeError);
    expect(() => runSimulation({ seed: -1, nodes: 5, faults: ALL })).toThrow(/seed/);
    expect(() => runSimulation({ seed: 1, nodes: 5, faults: ALL, ticks: 0 })).toThrow(/ticks/);
  });
});
