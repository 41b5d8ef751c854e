/**
 * The harness's side of the generator processes: forks them, drives their phases over IPC
 * (start and warm up, measure, stop), sums their progress and merges their results.
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { assert } from "./assert.js";
import { BENCH_CLUSTER_READY_TIMEOUT_MS, BENCH_DRAIN_TIMEOUT_MS, BENCH_GENERATORS_MAX } from "./limits.js";
import type { GeneratorResult, GeneratorSpec } from "./generator.js";
import type { FromGenerator, HelperMode, ToGenerator } from "./generator-process.js";
import { Histogram } from "./histogram.js";

const PROCESS_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), "generator-process.js");

export interface MergedResult {
  readonly reads: Histogram;
  readonly writes: Histogram;
  readonly all: Histogram;
  readonly errors: Record<string, number>;
  readonly errorSamples: Record<string, string>;
  readonly windowMs: number;
  readonly generatorCpuSeconds: number;
}

class GeneratorChild {
  readonly #child: ChildProcess;
  progress = { ops: 0, errors: 0 };
  readonly #waiters = new Map<FromGenerator["type"], (message: FromGenerator) => void>();
  #failure: Error | undefined;
  readonly #failed: Promise<never>;

  constructor() {
    this.#child = fork(PROCESS_PATH, ["generator"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let rejectFailed!: (error: Error) => void;
    this.#failed = new Promise<never>((_, reject) => (rejectFailed = reject));
    this.#failed.catch(() => undefined);
    const failWith = (error: Error): void => {
      this.#failure ??= error;
      rejectFailed(this.#failure);
    };
    this.#child.on("message", (message: FromGenerator) => {
      if (message.type === "progress") this.progress = { ops: message.ops, errors: message.errors };
      else if (message.type === "failed") failWith(new Error(`load generator failed: ${message.message}`));
      else this.#waiters.get(message.type)?.(message);
    });
    this.#child.on("exit", (code, signal) => failWith(new Error(`load generator exited (code ${code}, signal ${signal})`)));
  }

  send(message: ToGenerator): void {
    this.#child.send(message);
  }

  /** Waits for a message of the given type, or fails if the child fails or the time runs out. */
  async next<T extends FromGenerator["type"]>(type: T, timeoutMs: number): Promise<Extract<FromGenerator, { type: T }>> {
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<FromGenerator>((resolve) => this.#waiters.set(type, resolve));
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`load generator sent no ${type} within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return (await Promise.race([arrived, this.#failed, timedOut])) as Extract<FromGenerator, { type: T }>;
    } finally {
      clearTimeout(timer);
      this.#waiters.delete(type);
    }
  }

  kill(): void {
    this.#child.removeAllListeners("exit");
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill("SIGKILL");
  }
}

export class GeneratorPool {
  readonly #children: GeneratorChild[];

  private constructor(children: GeneratorChild[]) {
    this.#children = children;
  }

  /** Forks one process per spec, connects them all, and (timed mode) starts the load. */
  static async start(specs: readonly GeneratorSpec[], fill?: readonly [number, number]): Promise<GeneratorPool> {
    assert(specs.length >= 1 && specs.length <= BENCH_GENERATORS_MAX, `generators must be 1..${BENCH_GENERATORS_MAX}`);
    assert(fill === undefined || specs.length === 1, "a fill runs in one generator");
    const pool = new GeneratorPool(specs.map(() => new GeneratorChild()));
    try {
      await Promise.all(
        pool.#children.map(async (child, i) => {
          child.send({ type: "start", spec: specs[i]!, ...(fill ? { fill } : {}) });
          await child.next("ready", BENCH_CLUSTER_READY_TIMEOUT_MS);
        }),
      );
    } catch (error) {
      pool.kill();
      throw error;
    }
    return pool;
  }

  progress(): { ops: number; errors: number } {
    return this.#children.reduce((sum, child) => ({ ops: sum.ops + child.progress.ops, errors: sum.errors + child.progress.errors }), { ops: 0, errors: 0 });
  }

  measure(): void {
    for (const child of this.#children) child.send({ type: "measure" });
  }

  /** Stops the load (timed mode) and returns the merged result; the processes end. */
  async stop(): Promise<MergedResult> {
    for (const child of this.#children) child.send({ type: "stop" });
    return this.#collect(BENCH_DRAIN_TIMEOUT_MS * 2);
  }

  /** Waits for a fill to finish and returns its result; the processes end. */
  async finished(timeoutMs: number): Promise<MergedResult> {
    return this.#collect(timeoutMs);
  }

  kill(): void {
    for (const child of this.#children) child.kill();
  }

  async #collect(timeoutMs: number): Promise<MergedResult> {
    try {
      const results = await Promise.all(this.#children.map(async (child) => (await child.next("result", timeoutMs)).result));
      return mergeResults(results);
    } finally {
      this.kill();
    }
  }
}

export function mergeResults(results: readonly GeneratorResult[]): MergedResult {
  const reads = new Histogram();
  const writes = new Histogram();
  const all = new Histogram();
  const errors: Record<string, number> = {};
  const errorSamples: Record<string, string> = {};
  for (const result of results) {
    reads.add(result.reads);
    writes.add(result.writes);
    all.add(result.reads);
    all.add(result.writes);
    for (const [kind, count] of Object.entries(result.errors)) errors[kind] = (errors[kind] ?? 0) + count;
    for (const [kind, sample] of Object.entries(result.errorSamples)) errorSamples[kind] ??= sample;
  }
  return {
    reads,
    writes,
    all,
    errors,
    errorSamples,
    windowMs: Math.max(...results.map((result) => result.windowMs)),
    generatorCpuSeconds: results.reduce((sum, result) => sum + result.cpuSeconds, 0),
  };
}

/** A helper server in its own process (echo-server or trivial-server); resolves with its port. */
export function startHelperServer(mode: "echo-server" | "trivial-server"): Promise<{ port: number; close(): void }> {
  return startHelper(mode, []);
}

export interface Helper {
  readonly pid: number;
  readonly port: number;
  /** The client (HTTP) port of a helper that has one besides its peer port. */
  readonly clientPort: number;
  close(): void;
}

/** A helper process of generator-process.js that listens on a port; resolves with it. */
export async function startHelper(mode: HelperMode, args: readonly string[]): Promise<Helper> {
  const child = fork(PROCESS_PATH, [mode, ...args], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const ports = await new Promise<{ port: number; clientPort: number }>((resolve, reject) => {
    child.once("message", (message: FromGenerator) =>
      message.type === "listening" ? resolve({ port: message.port, clientPort: message.clientPort ?? message.port }) : reject(new Error(`${mode}: unexpected ${message.type}`)),
    );
    child.once("exit", (code) => reject(new Error(`${mode} exited (code ${code}) before listening`)));
  });
  return { pid: child.pid!, ...ports, close: () => child.kill("SIGKILL") };
}
