/** Runs a range of seeds for the sweep tests and describes every failing one with its replay command. */
import { replayCommand } from "../cli.js";
import { parseFaults } from "../faults.js";
import { runSimulation, type SimResult } from "../simulation.js";

export interface Sweep {
  readonly results: SimResult[];
  /** One line per failing seed: its first violations and the command that replays it. */
  readonly failures: string[];
}

export function sweep(nodes: number, firstSeed: number, seeds: number, ticks: number): Sweep {
  const faults = parseFaults("all");
  const results: SimResult[] = [];
  const failures: string[] = [];
  for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
    const result = runSimulation({ seed, nodes, faults, ticks });
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
