/**
 * One seed as a unit of work for `flotilla sim`: what a worker is asked to run and the small
 * summary it sends back (the full result, with its history, stays in the worker).
 */
import { parseFaults } from "./faults.js";
import { runSimulation } from "./simulation.js";

export interface SeedJob {
  readonly seed: number;
  readonly nodes: number;
  /** As --faults spells them. */
  readonly faults: string;
  readonly ticks?: number;
}

export interface SeedSummary {
  readonly seed: number;
  readonly ops: number;
  readonly violationCount: number;
  /** The first few violations, for the report. */
  readonly violations: readonly string[];
  readonly verdict: "ok" | "illegal" | "unknown";
}

/** Violations of one seed that the command prints (the replay command shows the rest). */
const VIOLATIONS_REPORTED_MAX = 5;

export async function runSeedJob(job: SeedJob): Promise<SeedSummary> {
  try {
    const result = await runSimulation({
      seed: job.seed,
      nodes: job.nodes,
      faults: parseFaults(job.faults),
      ...(job.ticks !== undefined ? { ticks: job.ticks } : {}),
    });
    return {
      seed: job.seed,
      ops: result.ops.ok + result.ops.fail + result.ops.unknown,
      violationCount: result.violationCount,
      violations: result.violations.slice(0, VIOLATIONS_REPORTED_MAX),
      verdict: result.checker.verdict,
    };
  } catch (error) {
    // runSimulation reports failures inside a run as violations; reaching here is a bug in the
    // simulator or the checker, which must fail the command just the same.
    return { seed: job.seed, ops: 0, violationCount: 1, violations: [`simulator error: ${(error as Error).stack ?? String(error)}`], verdict: "unknown" };
  }
}
