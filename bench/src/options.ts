/** The command line of `npm run bench`, checked before anything starts. */
import { parseArgs } from "node:util";
import { BENCH_CONNECTIONS_MAX, BENCH_GENERATORS_MAX, BENCH_MEMORY_KEYS_DEFAULT, BENCH_ROUNDS_MAX } from "./limits.js";
import { selectWorkloads, type Workload } from "./workloads.js";

export class BenchUsageError extends Error {
  override name = "BenchUsageError";
}

export type BenchTarget = "all" | "leader" | "followers";

export interface BenchOptions {
  /** Also run etcd, one system after the other. */
  readonly vsEtcd: boolean;
  readonly quick: boolean;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  readonly workloads: readonly Workload[];
  /** Load generator processes; connections are dealt among them. */
  readonly generators: number;
  /**
   * "all": connection i goes to member (leader + i) mod 3, as a client spreading over endpoints;
   * "leader": every connection to the leader; "followers": spread over the other members only.
   */
  readonly target: BenchTarget;
  /** Write a V8 CPU profile of each Flotilla node, and summarize where its time went. */
  readonly cpuProfile: boolean;
  /** Keys of 100 bytes loaded to measure a node's resident memory with data (0: skip). */
  readonly memoryKeys: number;
  /** Where the JSON, the HTML page and profiles go. */
  readonly resultsDir: string;
  /** Keep the temporary data folder instead of removing it. */
  readonly keepData: boolean;
  /**
   * Whole runs of every system, etcd first in every second one, so that a machine drifting
   * over minutes weighs on both; targets are judged on the median of the rounds' ratios.
   */
  readonly rounds: number;
  /**
   * Instead of the workloads: the timeline of one write (timeline.ts), on a one-node and a
   * three-node cluster, each step's median time since the leader took the request.
   */
  readonly timeline: boolean;
}

export const USAGE = `usage: npm run bench -- [options]

  --vs etcd              also run a three-member etcd cluster (installed with apt-get when
                         missing and running as root) and print the ratio Flotilla/etcd
  --quick                a few seconds per workload (CI): 1 s warm-up, 2 s measured
  --duration S           measured seconds per workload            (default 15; quick 2)
  --warmup S             warm-up seconds before each workload     (default 3; quick 1)
  --only NAME[,NAME]     run only these workloads (names as in the table)
  --generators N         load generator processes                 (default 1)
  --target T             all: spread connections over all members, leader first (default);
                         leader: all to the leader; followers: spread over the other members
  --cpu-prof             write a CPU profile of each Flotilla node and print where its time goes
  --memory-keys N        keys loaded for the memory measurement   (default 100000; quick 5000; 0 skips)
  --results DIR          where the JSON and HTML reports go       (default bench/results)
  --keep-data            keep the temporary data folder
  --rounds N             run every system N times, alternating which goes first, and judge
                         the targets on the median of the N ratios      (default 1)
  --timeline             instead: one client's writes on a 1-node and a 3-node cluster run with
                         --trace, and the median time of each step of a write, node by node
`;

export function parseBenchArgs(argv: readonly string[], defaultResultsDir: string): BenchOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        vs: { type: "string" },
        quick: { type: "boolean" },
        duration: { type: "string" },
        warmup: { type: "string" },
        only: { type: "string" },
        generators: { type: "string" },
        target: { type: "string" },
        "cpu-prof": { type: "boolean" },
        "memory-keys": { type: "string" },
        results: { type: "string" },
        "keep-data": { type: "boolean" },
        rounds: { type: "string" },
        timeline: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new BenchUsageError((error as Error).message);
  }
  if (parsed.help) return "help";
  if (parsed.vs !== undefined && parsed.vs !== "etcd") throw new BenchUsageError(`--vs takes "etcd", not ${JSON.stringify(parsed.vs)}`);
  const quick = parsed.quick ?? false;
  const target = parsed.target ?? "all";
  if (target !== "all" && target !== "leader" && target !== "followers") throw new BenchUsageError(`--target must be all, leader or followers, not ${JSON.stringify(target)}`);
  let workloads: readonly Workload[];
  try {
    workloads = selectWorkloads((parsed.only ?? "").split(",").map((name) => name.trim()).filter((name) => name.length > 0));
  } catch (error) {
    throw new BenchUsageError((error as Error).message);
  }
  const generators = integer(parsed.generators, "--generators", 1, 1, BENCH_GENERATORS_MAX);
  const widest = Math.max(...workloads.map((workload) => workload.clients));
  if (widest > BENCH_CONNECTIONS_MAX) throw new BenchUsageError(`a workload asks for ${widest} connections, more than ${BENCH_CONNECTIONS_MAX}`);
  return {
    vsEtcd: parsed.vs === "etcd",
    quick,
    warmupSeconds: seconds(parsed.warmup, "--warmup", quick ? 1 : 3, 0),
    durationSeconds: seconds(parsed.duration, "--duration", quick ? 2 : 15, 0.1),
    workloads,
    generators,
    target,
    cpuProfile: parsed["cpu-prof"] ?? false,
    memoryKeys: integer(parsed["memory-keys"], "--memory-keys", quick ? 5_000 : BENCH_MEMORY_KEYS_DEFAULT, 0, 10_000_000),
    resultsDir: parsed.results ?? defaultResultsDir,
    keepData: parsed["keep-data"] ?? false,
    rounds: integer(parsed.rounds, "--rounds", 1, 1, BENCH_ROUNDS_MAX),
    timeline: parsed.timeline ?? false,
  };
}

function seconds(text: string | undefined, name: string, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > 3600) throw new BenchUsageError(`${name} must be a number of seconds in [${min}, 3600], not ${JSON.stringify(text)}`);
  return value;
}

function integer(text: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new BenchUsageError(`${name} must be an integer in [${min}, ${max}], not ${JSON.stringify(text)}`);
  return value;
}
