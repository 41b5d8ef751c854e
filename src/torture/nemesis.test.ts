import { describe, expect, it } from "vitest";
import { Nemesis, type NemesisControl } from "./nemesis.js";
import { linkKey, type NetworkState } from "./network.js";
import type { FaultPlan } from "./schedule.js";

/** A cluster of `nodes` slots that only records what the nemesis does to it. */
function fakeControl(nodes: number, leader: number | undefined): NemesisControl & { calls: string[]; states: NetworkState[] } {
  const started = performance.now();
  const calls: string[] = [];
  const states: NetworkState[] = [];
  return {
    nodes,
    calls,
    states,
    clock: () => performance.now() - started,
    leaderSlot: () => leader,
    idOf: (slot) => `n${slot + 1}`,
    kill: async (slot) => void calls.push(`kill ${slot}`),
    restart: (slot) => void calls.push(`restart ${slot}`),
    pause: (slot) => void calls.push(`pause ${slot}`),
    resume: (slot) => void calls.push(`resume ${slot}`),
    replace: async (slot) => {
      calls.push(`replace ${slot}`);
      return `n${slot + 1} replaced`;
    },
    applyNetwork: async (state) => {
      // Slow, to let two lanes overlap their updates.
      await new Promise((resolve) => setTimeout(resolve, 5));
      states.push(state);
    },
  };
}

describe("the nemesis carries out a plan", () => {
  it("undoes every fault, resolves the leader when the fault starts, and leaves the network healed", async () => {
    const control = fakeControl(5, 3);
    const plan: FaultPlan[] = [
      { kind: "partition", lane: "network", atMs: 0, durationMs: 40, shape: { type: "isolate", target: { leader: true } } },
      { kind: "kill", lane: "process", atMs: 5, durationMs: 20, targets: [{ leader: true }, { slot: 3 }] },
      { kind: "loss", lane: "network", atMs: 50, durationMs: 10, rates: [[0, 0.2], [0.3, 0]] },
      { kind: "pause", lane: "process", atMs: 30, durationMs: 10, targets: [{ slot: 1 }] },
      { kind: "membership", lane: "process", atMs: 45, durationMs: 10, target: { slot: 0 } },
    ];
    const nemesis = new Nemesis(control);
    await nemesis.run(plan);

    // The leader (slot 3) is taken first; slot 3 drawn by the seed gives way to the next free one.
    expect(control.calls.slice(0, 4)).toEqual(["kill 3", "kill 4", "restart 3", "restart 4"]);
    expect(control.calls).toContain("pause 1");
    expect(control.calls.indexOf("resume 1")).toBeGreaterThan(control.calls.indexOf("pause 1"));
    expect(control.calls).toContain("replace 0");
    const isolation = control.states[0]!;
    expect(isolation.cuts).toEqual(new Set([0, 1, 2, 4].flatMap((other) => [linkKey(3, other), linkKey(other, 3)])));
    const last = control.states.at(-1)!;
    expect(last.cuts.size).toBe(0);
    expect(last.loss.size).toBe(0);
    expect(nemesis.faults.map((fault) => fault.variant).sort()).toEqual(["isolate-leader", "kill", "loss", "membership", "pause"]);
    expect(nemesis.faults.every((fault) => fault.endMs !== undefined && fault.endMs >= fault.startMs)).toBe(true);
    expect(nemesis.faults.find((fault) => fault.kind === "membership")!.detail).toBe("n1 replaced");
    expect(nemesis.faults.find((fault) => fault.kind === "kill")!.nodes).toEqual(["n4", "n5"]);
    expect(nemesis.active()).toEqual([]);
  });

  it("stop() cuts a long fault short and still undoes it; later faults never start", async () => {
    const control = fakeControl(3, undefined);
    const plan: FaultPlan[] = [
      { kind: "pause", lane: "process", atMs: 0, durationMs: 60_000, targets: [{ slot: 2 }] },
      { kind: "kill", lane: "process", atMs: 61_000, durationMs: 1_000, targets: [{ slot: 0 }] },
      { kind: "partition", lane: "network", atMs: 0, durationMs: 60_000, shape: { type: "one-way", target: { leader: true }, direction: "out" } },
    ];
    const nemesis = new Nemesis(control);
    const done = nemesis.run(plan);
    for (let waited = 0; nemesis.active().length < 2 && waited < 5_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(nemesis.active().length).toBe(2);
    nemesis.stop();
    await done;
    expect(control.calls).toEqual(["pause 2", "resume 2"]);
    expect(control.states.at(-1)!.cuts.size).toBe(0);
    // No leader known: "the leader" fell back to a slot the plan alone decides.
    expect(control.states[0]!.cuts.size).toBe(2);
  });
});
