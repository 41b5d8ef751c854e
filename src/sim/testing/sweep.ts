import { describe, expect, it } from "vitest";
/** Runs a range of seeds for the sweep tests and describes every failing one with its replay command. */
import { replayCommand } from "../cli.js";
import { parseFaults } from "../faults.js";
import { runSimulation, type SimResult } from "../simulation.js";

export interface Sweep {
  readonly results: SimResult[];
  /** One line per failing seed: its first violations and the command that replays it. */
  readonly failures: string[];
}

export async function sweep(nodes: number, firstSeed: number, seeds: number, ticks: number): Promise<Sweep> {
  const faults = parseFaults("all");
  const results: SimResult[] = [];
  const failures: string[] = [];
  for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
    const result = await runSimulation({ seed, nodes, faults, ticks });
    results.push(result);
    if (result.violationCount > 0) {
      failures.push(`${replayCommand({ nodes, faults, ticks }, seed)}: ${result.violations.slice(0, 3).join(" | ")}`);
    }
  }
  return { results, failures };
}

export function total(results: readonly SimResult[], counter: (result: SimResult) => number): number {
  return results.reduce((sum, result) => sum + counter(result), 0);
}

/** The seeds of the default test run for one cluster size (one file per size, so they run in parallel). */
const SWEEP_TICKS = 2_500;
const SWEEP_CHUNKS = [
  [1, 35],
  [36, 35],
] as const;

export function describeSweep(nodes: number): void {
  describe(`${nodes} nodes, all faults`, () => {
    for (const [first, count] of SWEEP_CHUNKS) {
      it(`seeds ${first}..${first + count - 1}: every invariant holds, the history is linearizable, the cluster heals`, async () => {
        const { results, failures } = await sweep(nodes, first, count, SWEEP_TICKS);
        expect(failures).toEqual([]);
        expect(results.every((result) => result.healedTicks !== undefined)).toBe(true);
        // The adversary really acted: a run without faults would prove nothing.
        for (const counter of ["crashes", "partitions", "snapshotsInstalled", "membershipChanges", "transfers"] as const) {
          expect(total(results, (result) => result[counter]), counter).toBeGreaterThan(count);
        }
        expect(total(results, (result) => result.messages.lost + result.messages.duplicated)).toBeGreaterThan(0);
        expect(total(results, (result) => result.ops.ok)).toBeGreaterThan(count * 50);
        expect(results.filter((result) => result.checker.verdict === "ok").length).toBeGreaterThanOrEqual(count - 1);
      });
    }
  });
}
