/**
 * V8 heap bounds for the process of `flotilla start`. V8 sizes its heap for throughput: under a
 * write load the young generation grows to two 16 MiB semi-spaces, and after a full collection
 * the old generation may grow to several times what is live (a leader kept ~55 MiB of old
 * space for ~20 MiB live). Two bounds, set from inside the process so that they hold however it
 * is started (`flotilla start`, `npm start`, `node dist/cli/main.js start`):
 *
 * - the old generation grows by START_OLD_SPACE_GROWTH_PERCENT after a full collection (V8's
 *   --heap-growing-percent, read at every full collection);
 * - each semi-space stops growing at START_SEMI_SPACE_BYTES_MAX. V8's --max-semi-space-size
 *   is read once, when the heap is created, before any of our code runs; the growth factor is
 *   read at every growth. So after each collection the factor is set to 1 (no growth) once a
 *   semi-space is at the bound, and back to V8's 2 when V8 has shrunk it (an idle node). The
 *   bound holds between tasks: one long synchronous burst of allocation may grow past it,
 *   until V8 shrinks the idle heap. Until the node serves, the bound is V8's initial size.
 *
 * Together they took a leader's peak resident memory under 64 writing clients from ~150 to
 * ~112 MiB, for ~4-7 µs more garbage collection per write, and an idle node from ~76 to ~73 MiB
 * (src/cli/README.md). V8's own flag,
 * given by the operator (`node --max-semi-space-size=4 ...`, also allowed in NODE_OPTIONS;
 * `node --heap-growing-percent=N ...`), wins over the bound of the same setting. Only the CLI
 * does this: an application that embeds startNode owns its process's flags.
 */
import { PerformanceObserver } from "node:perf_hooks";
import v8 from "node:v8";
import { START_OLD_SPACE_GROWTH_PERCENT, START_SEMI_SPACE_BYTES_MAX } from "../util/limits.js";

export interface HeapTuning {
  /** --heap-growing-percent to set; undefined: leave V8's. */
  readonly oldSpaceGrowthPercent?: number;
  /** Largest semi-space to keep; undefined: leave V8's. */
  readonly semiSpaceBytesMax?: number;
}

/** V8's --semi-space-growth-factor: each growth doubles a semi-space. */
const V8_SEMI_SPACE_GROWTH_FACTOR = 2;
const SEMI_SPACE_FLAG = /^--(?:max|min)[-_]semi[-_]space[-_]size(?:=|$)/;
const GROWTH_PERCENT_FLAG = /^--heap[-_]growing[-_]percent(?:=|$)/;

/** The bounds to apply: the defaults, less those the operator set with V8's own flags. */
export function planHeapTuning(execArgv: readonly string[], nodeOptions: string | undefined): HeapTuning {
  const given = [...execArgv, ...(nodeOptions ?? "").split(/\s+/)];
  const operatorSets = (flag: RegExp): boolean => given.some((arg) => flag.test(arg));
  return {
    ...(operatorSets(GROWTH_PERCENT_FLAG) ? {} : { oldSpaceGrowthPercent: START_OLD_SPACE_GROWTH_PERCENT }),
    ...(operatorSets(SEMI_SPACE_FLAG) ? {} : { semiSpaceBytesMax: START_SEMI_SPACE_BYTES_MAX }),
  };
}

/** The young generation's state in this process; undefined until applyHeapTuning bounds it. */
let youngGeneration: { boundBytes: number; readonly servingBoundBytes: number; growthFactor: number } | undefined;
let applied = false;

/**
 * Applies the bounds to this process, once (later calls do nothing). Until heapTuningServing(),
 * the young generation stays at V8's initial size: nearly everything allocated while a process
 * loads its code and opens its data survives (modules, compiled code, the log), and that belongs
 * in the old generation; V8 would grow the semi-spaces for it, and an idle node kept them.
 */
export function applyHeapTuning(tuning: HeapTuning): void {
  if (applied) return;
  applied = true;
  if (tuning.oldSpaceGrowthPercent !== undefined) v8.setFlagsFromString(`--heap-growing-percent=${tuning.oldSpaceGrowthPercent}`);
  if (tuning.semiSpaceBytesMax === undefined) return;
  youngGeneration = { boundBytes: 0, servingBoundBytes: tuning.semiSpaceBytesMax, growthFactor: V8_SEMI_SPACE_GROWTH_FACTOR };
  afterCollection();
  // Not a handle: it keeps no process alive. One callback per collection, a few a second under load.
  new PerformanceObserver(afterCollection).observe({ entryTypes: ["gc"] });
}

/** The node serves: the young generation may now grow, up to its bound. Does nothing unless applied. */
export function heapTuningServing(): void {
  if (youngGeneration === undefined) return;
  youngGeneration.boundBytes = youngGeneration.servingBoundBytes;
  afterCollection();
}

function afterCollection(): void {
  if (youngGeneration === undefined) return;
  // V8 grows by doubling: a semi-space of more than half the bound must not grow again.
  const wanted = 2 * semiSpaceCapacityBytes() > youngGeneration.boundBytes ? 1 : V8_SEMI_SPACE_GROWTH_FACTOR;
  if (wanted === youngGeneration.growthFactor) return;
  youngGeneration.growthFactor = wanted;
  v8.setFlagsFromString(`--semi-space-growth-factor=${wanted}`);
}

/**
 * Usable bytes of one semi-space (a little under its nominal size: page headers). Not the new
 * space's committed size, which counts the idle semi-space only while it is committed.
 */
export function semiSpaceCapacityBytes(): number {
  const newSpace = v8.getHeapSpaceStatistics().find((space) => space.space_name === "new_space");
  return newSpace === undefined ? 0 : newSpace.space_used_size + newSpace.space_available_size;
}
