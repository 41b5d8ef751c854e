/**
 * The load generator: a fixed number of keep-alive connections, each with exactly one request
 * in flight (a closed loop: the next request leaves when the previous answer arrives). Keys are
 * drawn uniformly from the key space, reads and writes in the spec's proportion. Only operations
 * that complete while measuring are counted; the warm-up before that is not.
 *
 * "fill" mode instead puts a range of keys once each (retrying failures), to load data before
 * read workloads or for the memory measurement.
 */
import { assert } from "./assert.js";
import { BENCH_CONNECTIONS_MAX, BENCH_DRAIN_TIMEOUT_MS, BENCH_ERROR_KINDS_MAX, BENCH_FILL_ATTEMPTS_MAX, BENCH_REQUEST_TIMEOUT_MS } from "./limits.js";
import { SeededRandom } from "./random.js";
import { Histogram, type HistogramData } from "./histogram.js";
import { HttpConnection } from "./http-connection.js";
import { requestSet, type BenchRequest, type ReadConsistency, type RequestSet, type SystemKind } from "./requests.js";

export interface GeneratorSpec {
  readonly system: SystemKind;
  /** One address (HOST:PORT) per connection; the number of requests in flight. */
  readonly targets: readonly string[];
  readonly keyPrefix: string;
  readonly keyCount: number;
  readonly valueBytes: number;
  /** Fraction of operations that are reads (0 = only writes, 1 = only reads). */
  readonly readFraction: number;
  readonly consistency: ReadConsistency;
  readonly seed: number;
}

export interface GeneratorResult {
  readonly reads: HistogramData;
  readonly writes: HistogramData;
  readonly errors: Readonly<Record<string, number>>;
  /** The first response body or message seen for each error kind. */
  readonly errorSamples: Readonly<Record<string, string>>;
  readonly windowMs: number;
  /** CPU time this generator process used while measuring. */
  readonly cpuSeconds: number;
}

export interface GeneratorProgress {
  readonly ops: number;
  readonly errors: number;
}

/** Pause after a failed request, so a dead node is not hammered in a tight loop. */
const ERROR_PAUSE_MS = 20;
const OTHER_ERRORS = "other errors (too many kinds to list)";

export class LoadGenerator {
  readonly #spec: GeneratorSpec;
  readonly #connections: HttpConnection[];
  readonly #requests: Map<string, RequestSet>;
  readonly #random: SeededRandom;
  readonly #reads = new Histogram();
  readonly #writes = new Histogram();
  readonly #errors = new Map<string, number>();
  readonly #errorSamples = new Map<string, string>();
  #errorCount = 0;
  #measuring = false;
  #stopping = false;
  #windowStartMs = 0;
  #windowEndMs = 0;
  #cpuStart: NodeJS.CpuUsage | undefined;
  #cpuSeconds = 0;
  #loops: Promise<void>[] = [];
  #timeoutSweep: NodeJS.Timeout | undefined;

  constructor(spec: GeneratorSpec) {
    assert(spec.targets.length >= 1 && spec.targets.length <= BENCH_CONNECTIONS_MAX, `connections must be 1..${BENCH_CONNECTIONS_MAX}, not ${spec.targets.length}`);
    assert(spec.keyCount >= 1, "at least one key");
    assert(spec.readFraction >= 0 && spec.readFraction <= 1, "readFraction outside [0, 1]");
    this.#spec = spec;
    this.#connections = spec.targets.map((target) => new HttpConnection(target));
    this.#requests = new Map();
    for (const target of new Set(spec.targets)) {
      this.#requests.set(target, requestSet({ system: spec.system, keyPrefix: spec.keyPrefix, keyCount: spec.keyCount, valueBytes: spec.valueBytes, consistency: spec.consistency, host: target }));
    }
    this.#random = new SeededRandom(spec.seed);
  }

  /** Connects every connection (so that connecting is not part of any measurement). */
  async open(): Promise<void> {
    await Promise.all(this.#connections.map((connection) => connection.open()));
    this.#timeoutSweep = setInterval(() => this.#abortStuckRequests(), 1_000);
  }

  /** Starts the closed loops (timed mode); nothing is counted until measure(). */
  start(): void {
    assert(this.#loops.length === 0, "started twice");
    this.#loops = this.#connections.map((connection) => this.#timedLoop(connection));
  }

  measure(): void {
    this.#measuring = true;
    this.#windowStartMs = performance.now();
    this.#cpuStart = process.cpuUsage();
  }

  /** Stops sending, waits for the requests in flight, closes the connections. */
  async stop(): Promise<GeneratorResult> {
    this.#endWindow();
    this.#stopping = true;
    await this.#drain();
    return this.#result();
  }

  /** Puts keys [from, to) once each, retrying a failed put; resolves when all are done. */
  async fill(from: number, to: number): Promise<GeneratorResult> {
    assert(0 <= from && from <= to && to <= this.#spec.keyCount, `fill range [${from}, ${to}) outside the key space`);
    this.measure();
    let next = from;
    const take = (): number | undefined => (next < to ? next++ : undefined);
    this.#loops = this.#connections.map((connection) => this.#fillLoop(connection, take));
    await Promise.all(this.#loops);
    this.#endWindow();
    this.#stopping = true;
    await this.#drain();
    return this.#result();
  }

  progress(): GeneratorProgress {
    return { ops: this.#reads.count + this.#writes.count, errors: this.#errorCount };
  }

  async #timedLoop(connection: HttpConnection): Promise<void> {
    const requests = this.#requests.get(`${connection.host}:${connection.port}`)!;
    const keyCount = this.#spec.keyCount;
    const readFraction = this.#spec.readFraction;
    while (!this.#stopping) {
      const isRead = readFraction === 1 || (readFraction > 0 && this.#random.chance(readFraction));
      const key = this.#random.int(0, keyCount);
      await this.#issue(connection, isRead ? requests.read(key) : requests.write(key), isRead ? this.#reads : this.#writes);
    }
  }

  async #fillLoop(connection: HttpConnection, take: () => number | undefined): Promise<void> {
    const requests = this.#requests.get(`${connection.host}:${connection.port}`)!;
    for (let key = take(); key !== undefined; key = take()) {
      for (let attempt = 1; attempt <= BENCH_FILL_ATTEMPTS_MAX; attempt++) {
        if (await this.#issue(connection, requests.write(key), this.#writes)) break;
      }
    }
  }

  /** Sends one request and records its outcome; true when it succeeded. */
  async #issue(connection: HttpConnection, request: BenchRequest, histogram: Histogram): Promise<boolean> {
    const startedMs = performance.now();
    try {
      const response = await connection.request(request.head, request.body);
      if (response.status >= 200 && response.status < 300) {
        if (this.#measuring) histogram.record((performance.now() - startedMs) * 1000);
        return true;
      }
      this.#recordError(`HTTP ${response.status}${errorCode(response.errorBody)}`, response.errorBody);
    } catch (error) {
      this.#recordError((error as Error).message.replace(/127\.0\.0\.1:\d+/g, "a node"), (error as Error).message);
    }
    await sleep(ERROR_PAUSE_MS);
    return false;
  }

  #recordError(kind: string, sample: string): void {
    if (!this.#measuring) return;
    this.#errorCount += 1;
    const key = this.#errors.has(kind) || this.#errors.size < BENCH_ERROR_KINDS_MAX ? kind : OTHER_ERRORS;
    this.#errors.set(key, (this.#errors.get(key) ?? 0) + 1);
    if (!this.#errorSamples.has(key)) this.#errorSamples.set(key, sample);
  }

  #abortStuckRequests(): void {
    const now = performance.now();
    for (const connection of this.#connections) {
      const since = connection.inFlightSinceMs;
      if (since !== undefined && now - since > BENCH_REQUEST_TIMEOUT_MS) connection.abort(`no response within ${BENCH_REQUEST_TIMEOUT_MS} ms`);
    }
  }

  #endWindow(): void {
    if (!this.#measuring) return;
    this.#measuring = false;
    this.#windowEndMs = performance.now();
    const cpu = process.cpuUsage(this.#cpuStart);
    this.#cpuSeconds = (cpu.user + cpu.system) / 1e6;
  }

  async #drain(): Promise<void> {
    const drained = Promise.all(this.#loops).then(() => true);
    const timedOut = sleep(BENCH_DRAIN_TIMEOUT_MS).then(() => false);
    if (!(await Promise.race([drained, timedOut]))) {
      for (const connection of this.#connections) connection.abort("the workload ended");
    }
    clearInterval(this.#timeoutSweep);
    for (const connection of this.#connections) connection.close();
  }

  #result(): GeneratorResult {
    return {
      reads: this.#reads.toData(),
      writes: this.#writes.toData(),
      errors: Object.fromEntries(this.#errors),
      errorSamples: Object.fromEntries(this.#errorSamples),
      windowMs: this.#windowEndMs - this.#windowStartMs,
      cpuSeconds: this.#cpuSeconds,
    };
  }
}

/** The stable error code of an error body (Flotilla's "code" string, etcd's numeric gRPC code), for grouping. */
function errorCode(body: string): string {
  const match = /"code"\s*:\s*("([^"]{1,64})"|\d{1,4})/.exec(body);
  if (match === null) return "";
  return ` ${match[2] ?? `grpc code ${match[1]}`}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
