import { describe, expect, it } from "vitest";
import { cutsForShape, linkKey, lossFromRates, mergeStates, resolveShape } from "./network.js";
import { NEMESIS_KINDS, parseTortureArgs, type NemesisKind } from "./options.js";
import { describePlan, planSchedule, type FaultPlan, type ScheduleInput } from "./schedule.js";

function input(overrides: Partial<ScheduleInput> & { argv?: string[] } = {}): ScheduleInput {
  const options = parseTortureArgs(overrides.argv ?? []);
  return { seed: 7, nodes: options.nodes, durationS: options.durationS, nemesis: options.nemesis, pacing: options.pacing, ...overrides };
}

const lane = (plan: readonly FaultPlan[], name: FaultPlan["lane"]): FaultPlan[] => plan.filter((fault) => fault.lane === name);

describe("the nemesis schedule", () => {
  it("is the same for the same seed, and differs between seeds", () => {
    expect(planSchedule(input({ seed: 42 }))).toEqual(planSchedule(input({ seed: 42 })));
    expect(planSchedule(input({ seed: 42 }))).not.toEqual(planSchedule(input({ seed: 43 })));
  });

  it("draws only the kinds asked for, and nothing with no nemesis", () => {
    for (const kind of NEMESIS_KINDS) {
      const plan = planSchedule(input({ nemesis: new Set<NemesisKind>([kind]), durationS: 120 }));
      expect(plan.length).toBeGreaterThan(0);
      expect(new Set(plan.map((fault) => fault.kind))).toEqual(new Set([kind]));
    }
    expect(planSchedule(input({ nemesis: new Set() }))).toEqual([]);
  });

  it("keeps every fault inside the window between warm-up and cool-down, one at a time per lane", () => {
    for (let seed = 0; seed < 50; seed++) {
      const options = input({ seed, durationS: 90 });
      const plan = planSchedule(options);
      for (const fault of plan) {
        expect(fault.atMs).toBeGreaterThanOrEqual(options.pacing.warmupMs);
        expect(fault.atMs + fault.durationMs).toBeLessThanOrEqual(options.durationS * 1000 - options.pacing.cooldownMs);
      }
      for (const name of ["process", "network"] as const) {
        const faults = lane(plan, name);
        for (let i = 1; i < faults.length; i++) expect(faults[i]!.atMs).toBeGreaterThanOrEqual(faults[i - 1]!.atMs + faults[i - 1]!.durationMs);
      }
    }
  });

  it("targets at most as many nodes as the cluster can lose, each once", () => {
    for (let seed = 0; seed < 50; seed++) {
      for (const fault of planSchedule(input({ seed, nodes: 7, durationS: 120 }))) {
        if (fault.kind !== "kill" && fault.kind !== "pause") continue;
        expect(fault.targets.length).toBeGreaterThanOrEqual(1);
        expect(fault.targets.length).toBeLessThanOrEqual(3);
        const slots = fault.targets.filter((t) => "slot" in t).map((t) => ("slot" in t ? t.slot : -1));
        expect(new Set(slots).size).toBe(slots.length);
        for (const slot of slots) expect(slot >= 0 && slot < 7).toBe(true);
      }
    }
  });

  it("draws every partition shape and sometimes the leader as the target", () => {
    const plans = Array.from({ length: 20 }, (_, seed) => planSchedule(input({ seed, durationS: 120 }))).flat();
    const shapes = new Set(plans.flatMap((fault) => (fault.kind === "partition" ? [fault.shape.type] : [])));
    expect(shapes).toEqual(new Set(["isolate", "split", "one-way"]));
    expect(plans.some((fault) => fault.kind === "partition" && fault.shape.type === "isolate" && "leader" in fault.shape.target)).toBe(true);
    expect(plans.some((fault) => (fault.kind === "kill" || fault.kind === "pause") && fault.targets.some((t) => "leader" in t))).toBe(true);
  });

  it("starts a membership change in the middle of a network fault when one comes up", () => {
    let changes = 0;
    let inside = 0;
    for (let seed = 0; seed < 40; seed++) {
      const plan = planSchedule(input({ seed, durationS: 120 }));
      for (const change of plan.filter((fault) => fault.kind === "membership")) {
        changes++;
        if (lane(plan, "network").some((fault) => change.atMs > fault.atMs && change.atMs < fault.atMs + fault.durationMs)) inside++;
      }
    }
    expect(changes).toBeGreaterThan(10);
    expect(inside / changes).toBeGreaterThan(0.8);
  });

  it("the lossy profile: 20-30% loss on every link for the whole window, and short pauses", () => {
    const options = input({ argv: ["--profile", "lossy"] });
    const plan = planSchedule(options);
    const loss = plan.filter((fault) => fault.kind === "loss");
    expect(loss).toHaveLength(1);
    const steady = loss[0]!;
    expect(steady.atMs).toBe(options.pacing.warmupMs);
    expect(steady.atMs + steady.durationMs).toBe(options.durationS * 1000 - options.pacing.cooldownMs);
    if (steady.kind !== "loss") throw new Error("unreachable");
    steady.rates.forEach((row, from) =>
      row.forEach((rate, to) => {
        if (from === to) expect(rate).toBe(0);
        else expect(rate >= 0.2 && rate < 0.3).toBe(true);
      }),
    );
    const pauses = plan.filter((fault) => fault.kind === "pause");
    expect(pauses.length).toBeGreaterThan(20);
    for (const pause of pauses) expect(pause.durationMs).toBeLessThanOrEqual(2_000);
  });

  it("describes each fault in one line", () => {
    const lines = planSchedule(input({ seed: 3, durationS: 120 })).map(describePlan);
    expect(lines.every((line) => /^\d+\.\ds\+\d+\.\ds (kill|pause|partition|loss|membership)/.test(line))).toBe(true);
  });
});

describe("partitions as directed cuts", () => {
  it("isolating a node cuts both directions between it and every other node", () => {
    const cuts = cutsForShape({ type: "isolate", slot: 1 }, 3);
    expect(cuts).toEqual(new Set([linkKey(1, 0), linkKey(1, 2), linkKey(0, 1), linkKey(2, 1)]));
  });

  it("a one-way cut stops one direction only", () => {
    expect(cutsForShape({ type: "one-way", slot: 0, direction: "out" }, 3)).toEqual(new Set([linkKey(0, 1), linkKey(0, 2)]));
    expect(cutsForShape({ type: "one-way", slot: 0, direction: "in" }, 3)).toEqual(new Set([linkKey(1, 0), linkKey(2, 0)]));
  });

  it("a split cuts every link between minority and majority and none inside either", () => {
    const cuts = cutsForShape({ type: "split", minority: [0, 3] }, 5);
    expect(cuts.size).toBe(2 * 2 * 3);
    expect(cuts.has(linkKey(0, 3))).toBe(false);
    expect(cuts.has(linkKey(1, 2))).toBe(false);
    expect(cuts.has(linkKey(4, 0))).toBe(true);
  });

  it("resolves the leader at the time: into the minority, out of it, or as the isolated node", () => {
    expect(resolveShape({ type: "split", minority: [0, 1], leaderSide: "minority" }, 5, 4, 0)).toEqual({ type: "split", minority: [1, 4] });
    expect(resolveShape({ type: "split", minority: [0, 1], leaderSide: "majority" }, 5, 1, 0)).toEqual({ type: "split", minority: [0, 2] });
    expect(resolveShape({ type: "isolate", target: { leader: true } }, 5, 3, 0)).toEqual({ type: "isolate", slot: 3 });
    expect(resolveShape({ type: "isolate", target: { leader: true } }, 5, undefined, 2)).toEqual({ type: "isolate", slot: 2 });
  });

  it("merges faults: every cut, and the highest loss on a link", () => {
    const merged = mergeStates([
      { cuts: new Set([linkKey(0, 1)]), loss: lossFromRates([[0, 0.1], [0.2, 0]]) },
      { cuts: new Set(), loss: lossFromRates([[0, 0.3], [0.05, 0]]) },
    ]);
    expect(merged.cuts).toEqual(new Set([linkKey(0, 1)]));
    expect(merged.loss).toEqual(new Map([[linkKey(0, 1), 0.3], [linkKey(1, 0), 0.2]]));
  });
});
