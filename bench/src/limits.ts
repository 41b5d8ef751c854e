/**
 * The benchmark harness's own limits (the product's are in src/util/limits.ts, which the
 * harness does not import: it drives Flotilla only through its command line and HTTP API).
 * Units go last in names.
 */

const KiB = 1024;

/** Keys the workloads spread their operations over (uniformly). */
export const BENCH_KEYS = 10_000;
/** Keys loaded to measure the resident memory of a node holding data (issue 3's note). */
export const BENCH_MEMORY_KEYS_DEFAULT = 100_000;
/** Most connections (requests in flight) one workload opens, over all generator processes. */
export const BENCH_CONNECTIONS_MAX = 1_024;
/** Most load generator processes one workload starts. */
export const BENCH_GENERATORS_MAX = 16;
/**
 * Most rounds of `npm run bench -- --rounds N`: each round runs every system once (in
 * alternating order), and the targets are judged on the median of the rounds' ratios.
 */
export const BENCH_ROUNDS_MAX = 9;
/** A request unanswered this long counts as an error and its connection is dropped. */
export const BENCH_REQUEST_TIMEOUT_MS = 30_000;
/** Largest status line plus headers of a response; more is a protocol error. */
export const BENCH_RESPONSE_HEAD_BYTES_MAX = 64 * KiB;
/** Longest line of a chunked body's framing (chunk size and extensions, trailers). */
export const BENCH_CHUNK_LINE_BYTES_MAX = 1 * KiB;
/** Body bytes kept from an error response, to say what went wrong. */
export const BENCH_ERROR_BODY_BYTES_MAX = 240;
/** Distinct error kinds kept per workload (the rest are counted as "other"). */
export const BENCH_ERROR_KINDS_MAX = 32;
/** Largest latency the histogram resolves; slower operations land in its last bucket. */
export const BENCH_LATENCY_US_MAX = 2 ** 30;
/** Attempts per key while loading keys before a workload (a failed put is retried). */
export const BENCH_FILL_ATTEMPTS_MAX = 5;
/** Interval of progress reports from the generators and of the progress line. */
export const BENCH_PROGRESS_INTERVAL_MS = 250;
/** Time a cluster gets to start and elect a leader. */
export const BENCH_CLUSTER_READY_TIMEOUT_MS = 60_000;
/** Time the nodes get to stop after SIGTERM (a CPU profile is written then) before SIGKILL. */
export const BENCH_STOP_GRACE_MS = 20_000;
/** Time the generators get, after a workload, to finish their requests in flight. */
export const BENCH_DRAIN_TIMEOUT_MS = 15_000;
/** Output kept per server process, for diagnostics. */
export const BENCH_PROCESS_OUTPUT_BYTES_MAX = 64 * KiB;

/**
 * The load floor keeps its SQLite transaction open across batches and commits it this often,
 * as a node does once a tick (src/util/limits.ts: NODE_TICK_MS_DEFAULT; limits.test.ts keeps
 * the two equal).
 */
export const FLOOR_COMMIT_INTERVAL_MS = 100;
/**
 * ... or after this many writes, as a node's state machine does (src/util/limits.ts:
 * KV_DEFERRED_COMMIT_ENTRIES_MAX; limits.test.ts keeps the two equal).
 */
export const FLOOR_COMMIT_WRITES_MAX = 1000;

/** Writes of the timeline of one write (`--timeline`), after its warm-up writes. */
export const BENCH_TIMELINE_WRITES = 1_000;
/**
 * Writes before the timeline's: connections, SQLite's caches and V8's optimizing compiler warm
 * up (with 100, the 3-node p50 was 2.1 ms where the workload of the same code, after its 3 s
 * warm-up, took 1.0 ms).
 */
export const BENCH_TIMELINE_WARMUP_WRITES = 3_000;
