/** The shape of a benchmark run's results: what the JSON file holds and the reports show. */
import type { Histogram } from "./histogram.js";
import type { MachineLimits } from "./machine.js";
import type { ProfileSummary } from "./profile-summary.js";
import type { LogSummary } from "./server-process.js";
import type { SystemName } from "./system.js";
import type { WorkloadKind } from "./workloads.js";

export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly meanMs: number;
  readonly maxMs: number;
}

export interface NodeFigures {
  readonly id: string;
  readonly leader: boolean;
  readonly cpuSeconds: number;
  /** Of cpuSeconds, the process's first thread's (Node.js: the event loop); absent off Linux. */
  readonly mainThreadCpuSeconds?: number;
  readonly peakRssBytes: number;
}

export interface WorkloadResult {
  readonly name: string;
  readonly title: string;
  readonly kind: WorkloadKind;
  readonly clients: number;
  readonly valueBytes: number;
  readonly seconds: number;
  readonly ops: number;
  readonly opsPerSecond: number;
  readonly latency: LatencySummary;
  readonly reads: LatencySummary | undefined;
  readonly writes: LatencySummary | undefined;
  readonly errors: number;
  readonly errorKinds: Readonly<Record<string, number>>;
  readonly errorSamples: Readonly<Record<string, string>>;
  readonly nodes: readonly NodeFigures[];
  /** CPU seconds of all nodes together, per operation, in microseconds. */
  readonly nodeCpuUsPerOp: number;
  readonly generatorCpuPercent: number;
  /**
   * CPU used meanwhile by everything else on the machine (neither the nodes nor the generator),
   * in % of one core: well above a few percent, the figures are disturbed by other work.
   */
  readonly otherCpuPercent: number | undefined;
}

export interface MemoryFigures {
  readonly keys: number;
  readonly valueBytes: number;
  readonly loadSeconds: number;
  readonly loadErrors: number;
  readonly rssBytes: Readonly<Record<string, number>>;
  readonly peakRssBytes: Readonly<Record<string, number>>;
}

export interface SystemResult {
  readonly system: SystemName;
  readonly version: string;
  readonly leader: string;
  /** Time from "every member ready" to "every member accepted a write" (forwarding works). */
  readonly writableAfterReadyMs: number;
  /** Resident memory of each node right after the cluster formed, before any load. */
  readonly idleRssBytes: Readonly<Record<string, number>>;
  /** CPU each node used while idle (no client requests), in % of one core. */
  readonly idleCpuPercent: Readonly<Record<string, number>>;
  readonly workloads: readonly WorkloadResult[];
  /** The highest resident memory each node reached over the whole run (workloads and loading). */
  readonly peakRssBytes: Readonly<Record<string, number>>;
  readonly memory: MemoryFigures | undefined;
  readonly logs: Readonly<Record<string, LogSummary>>;
  readonly profiles: readonly ProfileSummary[];
}

export interface TargetVerdict {
  readonly target: string;
  readonly ratio: number | undefined;
  readonly goal: string;
  readonly met: boolean | undefined;
}

export interface BenchReport {
  readonly formatVersion: 1;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly command: string;
  readonly settings: { readonly quick: boolean; readonly warmupSeconds: number; readonly durationSeconds: number; readonly generators: number; readonly target: string; readonly keys: number };
  readonly machine: MachineLimits;
  readonly systems: readonly SystemResult[];
  readonly etcdSkipped: string | undefined;
  readonly targets: readonly TargetVerdict[];
}

export function latencySummary(histogram: Histogram): LatencySummary {
  return {
    count: histogram.count,
    p50Ms: histogram.quantileUs(0.5) / 1000,
    p99Ms: histogram.quantileUs(0.99) / 1000,
    p999Ms: histogram.quantileUs(0.999) / 1000,
    meanMs: histogram.meanUs() / 1000,
    maxMs: histogram.maxUs() / 1000,
  };
}
