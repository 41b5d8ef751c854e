/**
 * A client workload that records what it saw, for the process tests: workers that write
 * distinct values to a few register keys and read them back (the history the linearizability
 * checker takes), and that put one unique key per step (so that every acknowledged write can be
 * looked for at the end). Only the public client is used.
 */
import { performance } from "node:perf_hooks";
import { Client, FlotillaError } from "../client/index.js";
import type { HistoryOp } from "../check/index.js";

export interface WorkloadOptions {
  /** The client addresses to use, asked again before every operation (membership changes). */
  readonly endpoints: () => readonly string[];
  readonly workers?: number;
  readonly registers?: number;
  /** Key prefix: registers are `<prefix>reg/<n>`, unique keys `<prefix>log/<worker>/<step>`. */
  readonly prefix?: string;
  /** Per-attempt client timeout (ms). */
  readonly timeoutMs?: number;
}

export interface WorkloadResult {
  /** Register operations, with call and return times in ms (performance.now()). */
  readonly history: HistoryOp[];
  /** Unique keys whose put was acknowledged. */
  readonly acknowledged: string[];
  /** Completion times (ms) of every acknowledged write, in order. */
  readonly ackTimesMs: number[];
  /** The same, one list per worker (each worker is one client). */
  readonly ackTimesByWorkerMs: number[][];
  readonly failures: Map<string, number>;
}

export interface Workload {
  readonly registerKeys: readonly string[];
  /** Operations completed so far (any outcome). */
  completed(): number;
  /** Stops the workers after their current operation and returns what they recorded. */
  stop(): Promise<WorkloadResult>;
}

export function startWorkload(options: WorkloadOptions): Workload {
  const workers = options.workers ?? 6;
  const prefix = options.prefix ?? "w/";
  const registerKeys = Array.from({ length: options.registers ?? 4 }, (_, i) => `${prefix}reg/${i}`);
  const history: HistoryOp[] = [];
  const acknowledged: string[] = [];
  const ackTimesMs: number[] = [];
  const ackTimesByWorkerMs: number[][] = Array.from({ length: workers }, () => []);
  const failures = new Map<string, number>();
  let stopping = false;
  let completed = 0;

  const noteFailure = (error: unknown): void => {
    const code = error instanceof FlotillaError ? `${error.status} ${error.code}` : (error as Error).name;
    failures.set(code, (failures.get(code) ?? 0) + 1);
  };

  const runWorker = async (worker: number): Promise<void> => {
    let process = worker;
    let client: Client | undefined;
    let clientFor = "";
    for (let step = 0; !stopping; step++) {
      let endpoints: readonly string[];
      try {
        endpoints = options.endpoints();
      } catch {
        return; // the test is over (its cluster is gone): this worker ends
      }
      if (endpoints.length === 0) return;
      // Each worker starts from a different node; the client fails over from there.
      const rotated = [...endpoints.slice(worker % endpoints.length), ...endpoints.slice(0, worker % endpoints.length)];
      if (rotated.join(",") !== clientFor) {
        clientFor = rotated.join(",");
        client = new Client({ endpoints: rotated, timeoutMs: options.timeoutMs ?? 5_000, retries: 8 });
      }
      const key = registerKeys[(worker + step) % registerKeys.length]!;
      const kind = step % 3;
      const call = performance.now();
      if (kind === 0) {
        const value = `${worker}.${step}`;
        try {
          await client!.put(key, value);
          const now = performance.now();
          history.push({ process, key, input: { kind: "write", value }, call, outcome: "ok", output: { kind: "write" }, returnTime: now });
          ackTimesMs.push(now);
          ackTimesByWorkerMs[worker]!.push(now);
        } catch (error) {
          noteFailure(error);
          // Whatever the error, the write may have been applied by an earlier attempt.
          history.push({ process, key, input: { kind: "write", value }, call, outcome: "unknown" });
          process += workers; // a process with an operation still pending never issues another
        }
      } else if (kind === 1) {
        try {
          const found = await client!.find(key);
          history.push({ process, key, input: { kind: "read" }, call, outcome: "ok", output: { kind: "read", value: found === null ? null : found.text }, returnTime: performance.now() });
        } catch (error) {
          noteFailure(error); // a failed read tells nothing
        }
      } else {
        const unique = `${prefix}log/${worker}/${step}`;
        try {
          await client!.put(unique, "x");
          acknowledged.push(unique);
          const now = performance.now();
          ackTimesMs.push(now);
          ackTimesByWorkerMs[worker]!.push(now);
        } catch (error) {
          noteFailure(error);
        }
      }
      completed++;
    }
  };

  const running = Array.from({ length: workers }, (_, worker) => runWorker(worker));
  return {
    registerKeys,
    completed: () => completed,
    async stop() {
      stopping = true;
      await Promise.all(running);
      return { history, acknowledged, ackTimesMs: [...ackTimesMs].sort((a, b) => a - b), ackTimesByWorkerMs, failures };
    },
  };
}

/** Longest time between two consecutive acknowledged writes within [fromMs, toMs]. */
export function longestPauseMs(ackTimesMs: readonly number[], fromMs: number, toMs: number): number {
  let longest = 0;
  let previous = fromMs;
  for (const time of ackTimesMs) {
    if (time < fromMs) continue;
    if (time > toMs) break;
    longest = Math.max(longest, time - previous);
    previous = time;
  }
  return Math.max(longest, toMs - previous);
}

/** The longest pause any one client (worker) saw between its acknowledged writes within [fromMs, toMs]. */
export function longestClientPauseMs(result: WorkloadResult, fromMs: number, toMs: number): number {
  return Math.max(0, ...result.ackTimesByWorkerMs.map((times) => longestPauseMs(times, fromMs, toMs)));
}
