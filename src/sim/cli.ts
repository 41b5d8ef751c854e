/**
 * `flotilla sim`: runs many seeds across worker threads (one per core), shows one updating
 * progress line on stderr, prints each failing seed with the exact command that replays it,
 * and ends with exactly one JSON line on stdout:
 *   {"seeds":N,"ops":N,"violations":N,"unknown":N,"seconds":N}
 * where "unknown" counts the seeds whose history the checker could not decide in its budget.
 * Returns the exit code: 0 clean, 1 on any violation, 2 on a usage error.
 */
import { randomInt } from "node:crypto";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { SIM_NODES_MAX, SIM_NODES_MIN, SIM_SEED_WALL_CLOCK_MS_MAX, SIM_SEEDS_PER_COMMAND_MAX } from "../util/limits.js";
import { formatFaults, parseFaults, SimUsageError, type FaultKind } from "./faults.js";
import { runSeedJob, type SeedJob, type SeedSummary } from "./seed-job.js";

export interface SimCommandOptions {
  readonly firstSeed: number;
  readonly seeds: number;
  readonly nodes: number;
  readonly faults: ReadonlySet<FaultKind>;
  readonly ticks?: number;
  /** Worker threads; 0 runs in this thread (also what happens when running from TypeScript sources). */
  readonly workers: number;
}

export interface SimCommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

export interface SimCommandTotals {
  seeds: number;
  ops: number;
  violations: number;
  unknown: number;
  seconds: number;
}

const USAGE = `usage: flotilla sim [--seeds N] [--seed S] [--nodes M] [--faults LIST] [--ticks T] [--workers W]
  --seeds N    how many seeds to run (default: 1 with --seed, else 100)
  --seed S     the first seed (default: random); seeds are S..S+N-1
  --nodes M    cluster size, ${SIM_NODES_MIN}..${SIM_NODES_MAX} (default 5)
  --faults L   all | none | a list of loss,dup,reorder,partition,crash,membership,snapshot,transfer (default all)
  --ticks T    ticks of the safety phase (default: the simulator's)
  --workers W  worker threads (default: one per core)`;

/** Seeds are 32-bit: the first one must leave room for the rest. */
const SEED_MAX = 2 ** 32 - 1;
/** How often the progress line is redrawn. */
const PROGRESS_INTERVAL_MS = 200;

export function parseSimArgs(argv: readonly string[]): SimCommandOptions {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (!["--seeds", "--seed", "--nodes", "--faults", "--ticks", "--workers"].includes(flag)) throw new SimUsageError(`unknown argument "${arg}"`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new SimUsageError(`${flag} needs a value`);
    values.set(flag, value);
  }
  const integer = (flag: string, low: number, high: number): number | undefined => {
    const text = values.get(flag);
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < low || value > high) {
      throw new SimUsageError(`${flag} must be an integer in ${low}..${high}, got "${text}"`);
    }
    return value;
  };
  const seed = integer("--seed", 0, SEED_MAX);
  const seeds = integer("--seeds", 1, SIM_SEEDS_PER_COMMAND_MAX) ?? (seed !== undefined ? 1 : 100);
  const firstSeed = seed ?? randomInt(0, 2 ** 31);
  if (firstSeed + seeds - 1 > SEED_MAX) throw new SimUsageError(`seeds ${firstSeed}..${firstSeed + seeds - 1} pass the largest seed ${SEED_MAX}`);
  const ticks = integer("--ticks", 1, 10_000_000);
  return {
    firstSeed,
    seeds,
    nodes: integer("--nodes", SIM_NODES_MIN, SIM_NODES_MAX) ?? 5,
    faults: parseFaults(values.get("--faults") ?? "all"),
    ...(ticks !== undefined ? { ticks } : {}),
    workers: integer("--workers", 0, 256) ?? availableParallelism(),
  };
}

/** The command that replays one seed exactly. */
export function replayCommand(options: Pick<SimCommandOptions, "nodes" | "faults" | "ticks">, seed: number): string {
  const ticks = options.ticks !== undefined ? ` --ticks ${options.ticks}` : "";
  return `npx flotilla sim --seed ${seed} --nodes ${options.nodes} --faults ${formatFaults(options.faults)}${ticks}`;
}

const defaultIo: SimCommandIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export async function runSimCommand(argv: readonly string[], io: SimCommandIo = defaultIo): Promise<number> {
  if (argv.length === 1 && (argv[0] === "--help" || argv[0] === "-h")) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  let options: SimCommandOptions;
  try {
    options = parseSimArgs(argv);
  } catch (error) {
    if (!(error instanceof SimUsageError)) throw error;
    io.stderr(`flotilla sim: ${error.message}\n${USAGE}\n`);
    return 2;
  }
  const totals = await runSeeds(options, io);
  io.stdout(`${JSON.stringify(totals)}\n`);
  return totals.violations > 0 ? 1 : 0;
}

export async function runSeeds(options: SimCommandOptions, io: SimCommandIo): Promise<SimCommandTotals> {
  const startedMs = performance.now();
  const totals: SimCommandTotals = { seeds: 0, ops: 0, violations: 0, unknown: 0, seconds: 0 };
  const last = options.firstSeed + options.seeds - 1;
  io.stderr(`flotilla sim: seeds ${options.firstSeed}..${last}, ${options.nodes} nodes, faults ${formatFaults(options.faults)}\n`);
  let lastDrawMs = 0;
  const progress = (force: boolean): void => {
    const now = performance.now();
    if (!force && now - lastDrawMs < PROGRESS_INTERVAL_MS) return;
    lastDrawMs = now;
    const seconds = ((now - startedMs) / 1000).toFixed(1);
    io.stderr(`\r${totals.seeds}/${options.seeds} seeds, ${totals.ops} ops, ${totals.violations} violations, ${seconds}s `);
  };
  const record = (summary: SeedSummary): void => {
    totals.seeds++;
    totals.ops += summary.ops;
    totals.violations += summary.violationCount;
    if (summary.verdict === "unknown") totals.unknown++;
    if (summary.violationCount > 0) {
      io.stderr(`\nseed ${summary.seed}: ${summary.violationCount} violation(s)\n`);
      for (const violation of summary.violations) io.stderr(`  ${violation.replaceAll("\n", "\n    ")}\n`);
      io.stderr(`  replay: ${replayCommand(options, summary.seed)}\n`);
    }
    progress(summary.violationCount > 0);
  };
  const jobs: SeedJob[] = Array.from({ length: options.seeds }, (_, i) => ({
    seed: options.firstSeed + i,
    nodes: options.nodes,
    faults: formatFaults(options.faults),
    ...(options.ticks !== undefined ? { ticks: options.ticks } : {}),
  }));
  const workerUrl = new URL("./worker.js", import.meta.url);
  // From TypeScript sources (tests) there is no worker.js to start: run in this thread.
  if (options.workers === 0 || import.meta.url.endsWith(".ts")) {
    for (const job of jobs) record(await runSeedJob(job));
  } else {
    await runInWorkers(jobs, Math.min(options.workers, jobs.length), workerUrl, record);
  }
  progress(true);
  io.stderr("\n");
  totals.seconds = Math.round((performance.now() - startedMs) / 100) / 10;
  return totals;
}

/**
 * Hands jobs out one at a time so a slow seed never leaves a core idle. A worker that dies
 * fails its seed (a violation, so the command fails) and the others carry on with the rest.
 */
function runInWorkers(jobs: readonly SeedJob[], count: number, url: URL, record: (summary: SeedSummary) => void): Promise<void> {
  return new Promise((resolve) => {
    let next = 0;
    let running = count;
    const finish = (): void => {
      if (--running > 0) return;
      // Every worker died: the seeds nobody ran fail too.
      for (; next < jobs.length; next++) record(failedSeed(jobs[next]!.seed, "no worker left to run it"));
      resolve();
    };
    const start = (): void => {
      const worker = new Worker(url);
      let current: SeedJob | undefined;
      let watchdog: NodeJS.Timeout | undefined;
      const feed = (): void => {
        current = jobs[next++];
        if (current === undefined) return void worker.terminate().then(finish);
        worker.postMessage(current);
        // A seed whose run never yields (a promise chain that never ends) would hold its
        // thread forever: it fails, and a fresh worker takes its place.
        watchdog = setTimeout(() => {
          if (current !== undefined) record(failedSeed(current.seed, `did not finish within ${SIM_SEED_WALL_CLOCK_MS_MAX / 1000} s: a livelock (the run stopped yielding)`));
          current = undefined;
          worker.removeAllListeners();
          void worker.terminate();
          start();
        }, SIM_SEED_WALL_CLOCK_MS_MAX);
      };
      worker.on("message", (summary: SeedSummary) => {
        clearTimeout(watchdog);
        record(summary);
        feed();
      });
      worker.on("error", (error) => {
        clearTimeout(watchdog);
        if (current !== undefined) record(failedSeed(current.seed, `worker error: ${error.stack ?? error.message}`));
        current = undefined;
        finish();
      });
      feed();
    };
    for (let i = 0; i < count; i++) start();
  });
}

function failedSeed(seed: number, why: string): SeedSummary {
  return { seed, ops: 0, violationCount: 1, violations: [why], verdict: "unknown" };
}
