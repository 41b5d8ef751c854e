/**
 * Linearizability of one object's history, in the style of Porcupine: Wing & Gong's tree
 * search with Lowe's just-in-time linearization and a cache of visited configurations.
 *
 * The history becomes a doubly linked list of call and return events in time order. The
 * search walks it from the front. A call whose operation the model accepts from the current
 * state is linearized: its events are lifted out of the list and the walk restarts at the
 * front. Reaching a return event means that operation had to take effect by then and no
 * choice so far allows it, so the search backtracks: it undoes the most recent linearization
 * and tries the next candidate after it. A configuration (set of linearized operations, model
 * state) visited before is skipped; that cache is what makes the search practical.
 *
 * An operation with an unknown outcome never returns (return time Infinity) and the model
 * accepts any output for it, so it may take effect anywhere after its call. The search
 * succeeds as soon as every operation with a known outcome is linearized: the unknown ones
 * left over are omitted (they never took effect, or took effect after everything observed).
 *
 * Beyond Porcupine, four prunings keep long histories cheap; each is sound on its own, and
 * the test suite holds the whole against a brute-force checker:
 * - the cache key of a linearized set is its frontier plus a short window of bits, not the
 *   whole bitset, so memory grows with the history's concurrency rather than its length;
 * - dominance: with the same state and the same known-outcome operations linearized, a
 *   configuration with fewer unknown-outcome operations linearized can do all the other can,
 *   so the cache skips the other; to make that bite, unknown-outcome operations are tried
 *   after the known ones;
 * - a read-only operation (with its output it changes no state) that the model accepts where
 *   the search stands is linearized there with no alternative: any linearization from here
 *   stays valid with it moved to the front;
 * - unknown-outcome operations with equal inputs are interchangeable, so they are linearized
 *   only in call order.
 */
import { assert } from "../util/assert.js";
import { CHECK_CACHE_WORDS_MAX, CHECK_TIME_BUDGET_MS_DEFAULT } from "../util/limits.js";
import { HistoryError } from "./errors.js";

export type Verdict = "ok" | "illegal" | "unknown";

export interface StepResult<State> {
  /** Whether the operation, taking effect in the given state, may produce the observed output. */
  readonly ok: boolean;
  /** The state after the operation took effect (meaningful only when ok). */
  readonly state: State;
}

/** A sequential specification of one object. Steps must be pure: states are shared, never mutated. */
export interface Model<State, Input, Output> {
  init(): State;
  /** `output` undefined means the outcome is unknown: accept, and apply the operation's effect. */
  step(state: State, input: Input, output: Output | undefined): StepResult<State>;
  /** A faithful key: two states hash equal exactly when they behave the same. */
  hash(state: State): string;
  /**
   * Optional: a faithful key of an input. Operations with unknown outcomes and equal input keys
   * are interchangeable (each may take effect anywhere after its call, with the same effect), so
   * the search linearizes them only in call order; that prunes a large symmetric search space.
   */
  inputKey?(input: Input): string;
  /**
   * Optional: true when the operation, with this output, leaves every state it is accepted in
   * unchanged (a read, a failed compare-and-set). Such an operation, once the model accepts it
   * where the search stands, is linearized right there with no alternative tried. Say true only
   * when it holds in every state: a write of the current value is not read-only.
   */
  isReadOnly?(input: Input, output: Output | undefined): boolean;
  describeOperation?(input: Input, output: Output | undefined): string;
  describeState?(state: State): string;
}

export interface Operation<Input, Output> {
  readonly process: number;
  readonly input: Input;
  readonly call: number;
  /** Infinity exactly when the outcome is unknown. */
  readonly returnTime: number;
  /** undefined exactly when the outcome is unknown. */
  readonly output: Output | undefined;
}

export interface CheckOptions {
  /** Wall-clock time the search may take; when it runs out the verdict is "unknown". */
  timeBudgetMs?: number;
  /** Cap on the cache's memory, in 32-bit words; when it is reached the verdict is "unknown". */
  cacheWordsMax?: number;
}

export interface LinearizabilityResult {
  readonly verdict: Verdict;
  /** On "ok": a witness order, as indices into the operations (omitted unknown ones are absent). */
  readonly linearization: readonly number[];
  /** On "illegal" or "unknown": the linearizable prefix the search found with the most known-outcome operations. */
  readonly longestPrefix: readonly number[];
  /**
   * On "illegal": the operations with known outcomes that could take effect right after the
   * longest prefix, none of which leads to a full linearization. The first one is the operation
   * that returned first: it had to take effect by then.
   */
  readonly stuck: readonly number[];
  /** On "unknown": why the search stopped. */
  readonly stopReason?: "time-budget" | "search-space";
  /** Human-readable account of a non-"ok" verdict, one line per operation. */
  readonly explanation?: string;
  readonly modelSteps: number;
  readonly elapsedMs: number;
}

export function checkOperations<State, Input, Output>(
  model: Model<State, Input, Output>,
  operations: readonly Operation<Input, Output>[],
  options: CheckOptions = {},
): LinearizabilityResult {
  operations.forEach(validateOperation);
  const startedMs = performance.now();
  const outcome = new Search(model, operations, {
    deadlineMs: startedMs + (options.timeBudgetMs ?? CHECK_TIME_BUDGET_MS_DEFAULT),
    cacheWordsMax: options.cacheWordsMax ?? CHECK_CACHE_WORDS_MAX,
  }).run();
  const elapsedMs = performance.now() - startedMs;
  if (outcome.verdict === "ok") {
    return { verdict: "ok", linearization: outcome.stack, longestPrefix: outcome.stack, stuck: [], modelSteps: outcome.modelSteps, elapsedMs };
  }
  const stuck = outcome.verdict === "illegal" ? findStuck(operations, outcome.longestPrefix) : [];
  const explanation =
    outcome.verdict === "illegal"
      ? explainIllegal(model, operations, outcome.longestPrefix, stuck)
      : explainUnknown(model, operations, outcome.longestPrefix, outcome.stopReason!, elapsedMs);
  return { verdict: outcome.verdict, linearization: [], longestPrefix: outcome.longestPrefix, stuck, stopReason: outcome.stopReason, explanation, modelSteps: outcome.modelSteps, elapsedMs };
}

function validateOperation<Input, Output>(op: Operation<Input, Output>, index: number): void {
  const where = `operation ${index} (process ${op.process})`;
  if (!Number.isFinite(op.call)) throw new HistoryError(`${where}: call time ${op.call} is not a finite number`);
  if (Number.isNaN(op.returnTime)) throw new HistoryError(`${where}: return time is NaN`);
  if (op.returnTime < op.call) throw new HistoryError(`${where}: returns at ${op.returnTime}, before its call at ${op.call}`);
  const unknownOutcome = op.output === undefined;
  if (unknownOutcome !== (op.returnTime === Infinity)) {
    throw new HistoryError(`${where}: an unknown outcome (no output) must go with return time Infinity, and only it`);
  }
}

// ---------------------------------------------------------------------------------------
// The event lists, doubly linked through typed arrays. The main list holds the call and
// return events of operations with known outcomes, in time order. The pending list holds the
// calls of operations with unknown outcomes (they never return), by call time: the search
// tries those only after the known ones, so it explores "not yet taken effect" first and the
// cache's dominance rule (see VisitedConfigs) can cut the "taken effect" alternatives short.
// A lifted entry keeps its own links, so putting it back is two writes.

const MAIN_HEAD = 0;
const PENDING_HEAD = 1;
const NONE = -1;

interface EventLists {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  /** The operation an entry belongs to. */
  readonly op: Int32Array;
  readonly isCall: Uint8Array;
  /** For a call entry with a known outcome, its return entry; NONE otherwise. */
  readonly returnEntry: Int32Array;
}

function buildEventLists(operations: readonly Operation<unknown, unknown>[]): EventLists {
  const events: { time: number; isCall: boolean; op: number }[] = [];
  operations.forEach((op, index) => {
    events.push({ time: op.call, isCall: true, op: index });
    if (op.output !== undefined) events.push({ time: op.returnTime, isCall: false, op: index });
  });
  // Equal times count as concurrent (calls sort before returns): the lenient reading.
  events.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.op - b.op);
  const size = events.length + 2;
  const lists: EventLists = {
    next: new Int32Array(size).fill(NONE),
    prev: new Int32Array(size).fill(NONE),
    op: new Int32Array(size).fill(NONE),
    isCall: new Uint8Array(size),
    returnEntry: new Int32Array(size).fill(NONE),
  };
  const callEntryOf = new Int32Array(operations.length);
  const tails = [MAIN_HEAD, PENDING_HEAD];
  events.forEach((event, i) => {
    const entry = i + 2;
    lists.op[entry] = event.op;
    lists.isCall[entry] = event.isCall ? 1 : 0;
    if (event.isCall) callEntryOf[event.op] = entry;
    else lists.returnEntry[callEntryOf[event.op]!] = entry;
    const list = operations[event.op]!.output === undefined ? 1 : 0;
    lists.next[tails[list]!] = entry;
    lists.prev[entry] = tails[list]!;
    tails[list] = entry;
  });
  return lists;
}

function unlink(list: EventLists, entry: number): void {
  const { next, prev } = list;
  next[prev[entry]!] = next[entry]!;
  if (next[entry] !== NONE) prev[next[entry]!] = prev[entry]!;
}

function relink(list: EventLists, entry: number): void {
  const { next, prev } = list;
  next[prev[entry]!] = entry;
  if (next[entry] !== NONE) prev[next[entry]!] = entry;
}

/** Removes an operation's events. */
function lift(list: EventLists, callEntry: number): void {
  unlink(list, callEntry);
  if (list.returnEntry[callEntry] !== NONE) unlink(list, list.returnEntry[callEntry]!);
}

/** Undoes the matching lift; lifts and unlifts nest like a stack. */
function unlift(list: EventLists, callEntry: number): void {
  if (list.returnEntry[callEntry] !== NONE) relink(list, list.returnEntry[callEntry]!);
  relink(list, callEntry);
}

// ---------------------------------------------------------------------------------------
// The linearized set, in two parts. Operations with a known outcome are numbered in call
// order; every one before the frontier (the first not linearized) is linearized, and the
// linearized ones after it lie in a short window (they were called before the frontier
// operation returned). So that part's key is the frontier plus the bitset words from it to
// the highest linearized one: it grows with the history's concurrency, not its length. The
// operations with unknown outcomes get a plain bitset of their own, because a configuration
// with fewer of them linearized dominates one with more (see VisitedConfigs).

class LinearizedSet {
  /** Per operation: its call-order position among known-outcome operations, or -(index + 1) among unknown ones. */
  readonly #position: Int32Array;
  readonly #known: Int32Array;
  /** The unknown-outcome part, one bit per such operation. */
  readonly unknown: Int32Array;
  readonly #knownCount: number;
  /** The highest linearized known position before each add, restored by the matching remove. */
  readonly #highestBefore: Int32Array;
  #adds = 0;
  #frontier = 0;
  #highest = NONE;

  constructor(operations: readonly Operation<unknown, unknown>[]) {
    this.#position = new Int32Array(operations.length);
    const known = operations.map((op, index) => ({ op, index })).filter(({ op }) => op.output !== undefined);
    known.sort((a, b) => a.op.call - b.op.call || a.index - b.index);
    known.forEach(({ index }, position) => (this.#position[index] = position));
    let unknownCount = 0;
    operations.forEach((op, index) => {
      if (op.output === undefined) this.#position[index] = -(++unknownCount);
    });
    this.#knownCount = known.length;
    this.#known = new Int32Array(Math.ceil(known.length / 32));
    this.unknown = new Int32Array(Math.ceil(unknownCount / 32));
    this.#highestBefore = new Int32Array(known.length);
  }

  /** How many operations with a known outcome are in the set. */
  get knownLinearized(): number {
    return this.#adds;
  }

  /** True once every operation with a known outcome is in the set. */
  get complete(): boolean {
    return this.#frontier === this.#knownCount;
  }

  /** Longest key writeKnownKey can produce. */
  get knownKeyWordsMax(): number {
    return 2 + this.#known.length;
  }

  has(op: number): boolean {
    const position = this.#position[op]!;
    if (position >= 0) return (this.#known[position >>> 5]! & (1 << (position & 31))) !== 0;
    const bit = -position - 1;
    return (this.unknown[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  add(op: number): void {
    assert(!this.has(op), "an operation is linearized once");
    const position = this.#position[op]!;
    if (position < 0) {
      const bit = -position - 1;
      this.unknown[bit >>> 5]! |= 1 << (bit & 31);
      return;
    }
    this.#known[position >>> 5]! |= 1 << (position & 31);
    this.#highestBefore[this.#adds++] = this.#highest;
    if (position > this.#highest) this.#highest = position;
    if (position === this.#frontier) this.#advanceFrontier();
  }

  /** Undoes the most recent add of a known-outcome operation, or any add of an unknown one. */
  remove(op: number): void {
    assert(this.has(op), "only a linearized operation is undone");
    const position = this.#position[op]!;
    if (position < 0) {
      const bit = -position - 1;
      this.unknown[bit >>> 5]! &= ~(1 << (bit & 31));
      return;
    }
    this.#known[position >>> 5]! &= ~(1 << (position & 31));
    this.#highest = this.#highestBefore[--this.#adds]!;
    if (position < this.#frontier) this.#frontier = position;
  }

  #advanceFrontier(): void {
    const known = this.#known;
    let frontier = this.#frontier;
    while (frontier < this.#knownCount) {
      const word = known[frontier >>> 5]!;
      if (word === -1) frontier = (frontier | 31) + 1;
      else if ((word & (1 << (frontier & 31))) !== 0) frontier++;
      else break;
    }
    this.#frontier = Math.min(frontier, this.#knownCount);
  }

  /** Writes the key of (the known-outcome part, the state) into `key`; returns its length. */
  writeKnownKey(key: Int32Array, stateId: number): number {
    key[0] = stateId;
    key[1] = this.#frontier;
    let length = 2;
    if (this.#highest > this.#frontier) {
      for (let word = this.#frontier >>> 5; word <= this.#highest >>> 5; word++) key[length++] = this.#known[word]!;
    }
    return length;
  }
}

// ---------------------------------------------------------------------------------------
// The cache of visited configurations, with dominance. Two configurations with the same state
// and the same known-outcome part differ only in which unknown-outcome operations they have
// linearized; the one with fewer (a subset) can do everything the other can, since an unknown
// operation is never required. So a configuration is skipped when a visited one with the same
// key has a subset of its unknown bits, and this keeps the search from doubling with every
// unknown operation left pending. The visited one is either explored and failed, or still
// being explored, which will cover what this one could do.
//
// Storage is one growing Int32 arena (no per-configuration objects) and an open-addressing
// table of key records. A key record is [length, chain, ...key]; its chain links the unknown
// bitsets seen under it, each node [next, ...bits], kept free of supersets (an antichain).
// Offset 0 is never used, so 0 means "none".

const CACHE_SLOTS_INITIAL = 1 << 12;
const CACHE_ARENA_WORDS_INITIAL = 1 << 16;

class VisitedConfigs {
  readonly #wordsMax: number;
  readonly #unknownWords: number;
  /** The most arena words one add can take: a key record and a bitset node. */
  readonly #addWordsMax: number;
  #arena = new Int32Array(CACHE_ARENA_WORDS_INITIAL);
  #arenaUsed = 1;
  /** Per slot: the offset of its key record, or 0. */
  #slots = new Int32Array(CACHE_SLOTS_INITIAL);
  #slotHashes = new Int32Array(CACHE_SLOTS_INITIAL);
  #count = 0;

  constructor(wordsMax: number, keyWordsMax: number, unknownWords: number) {
    this.#wordsMax = wordsMax;
    this.#unknownWords = unknownWords;
    this.#addWordsMax = 2 + keyWordsMax + 1 + unknownWords;
  }

  /** Whether one more add fits in the memory cap, counting the arena and the table as they would grow. */
  get hasRoom(): boolean {
    const arenaNeeded = this.#arenaUsed + this.#addWordsMax;
    const arenaWords = arenaNeeded > this.#arena.length ? Math.max(2 * this.#arena.length, arenaNeeded) : this.#arena.length;
    const tableWords = 2 * (this.#count + 1) > this.#slots.length ? 4 * this.#slots.length : 2 * this.#slots.length;
    return arenaWords + tableWords <= this.#wordsMax;
  }

  /** Records the configuration; false when a visited one dominates it (or is equal). */
  add(key: Int32Array, length: number, unknown: Int32Array): boolean {
    const hash = hashWords(key, length);
    const mask = this.#slots.length - 1;
    for (let slot = hash & mask; this.#slots[slot] !== 0; slot = (slot + 1) & mask) {
      const record = this.#slots[slot]!;
      if (this.#slotHashes[slot] === hash && this.#keyEquals(record, key, length)) return this.#addUnknownSet(record + 1, unknown);
    }
    const record = this.#append(2 + length);
    this.#arena[record] = length;
    this.#arena.set(key.subarray(0, length), record + 2);
    this.#insert(hash, record);
    return this.#addUnknownSet(record + 1, unknown);
  }

  #keyEquals(record: number, key: Int32Array, length: number): boolean {
    const arena = this.#arena;
    if (arena[record] !== length) return false;
    for (let i = 0; i < length; i++) if (arena[record + 2 + i] !== key[i]) return false;
    return true;
  }

  /** Adds the bitset to the chain whose head link is at `link`, unless a subset of it is there. */
  #addUnknownSet(link: number, unknown: Int32Array): boolean {
    const words = this.#unknownWords;
    for (let node = this.#arena[link]!; node !== 0; node = this.#arena[node]!) {
      if (isSubset(this.#arena, node + 1, unknown, words)) return false;
    }
    // Drop the supersets of the new set: it dominates whatever they did.
    for (let previous = link, node = this.#arena[link]!; node !== 0; node = this.#arena[node]!) {
      if (isSubset(unknown, 0, this.#arena, words, node + 1)) this.#arena[previous] = this.#arena[node]!;
      else previous = node;
    }
    const node = this.#append(1 + words);
    this.#arena.set(unknown, node + 1);
    this.#arena[node] = this.#arena[link]!;
    this.#arena[link] = node;
    return true;
  }

  /** Reserves `words` words at the end of the arena; returns their offset. */
  #append(words: number): number {
    if (this.#arenaUsed + words > this.#arena.length) {
      const grown = new Int32Array(Math.max(2 * this.#arena.length, this.#arenaUsed + words));
      grown.set(this.#arena.subarray(0, this.#arenaUsed));
      this.#arena = grown;
    }
    const offset = this.#arenaUsed;
    this.#arenaUsed += words;
    return offset;
  }

  #insert(hash: number, record: number): void {
    if (2 * (this.#count + 1) > this.#slots.length) this.#growSlots();
    const mask = this.#slots.length - 1;
    let slot = hash & mask;
    while (this.#slots[slot] !== 0) slot = (slot + 1) & mask;
    this.#slots[slot] = record;
    this.#slotHashes[slot] = hash;
    this.#count++;
  }

  #growSlots(): void {
    const oldSlots = this.#slots;
    const oldHashes = this.#slotHashes;
    this.#slots = new Int32Array(2 * oldSlots.length);
    this.#slotHashes = new Int32Array(2 * oldSlots.length);
    this.#count = 0;
    for (let slot = 0; slot < oldSlots.length; slot++) {
      if (oldSlots[slot] !== 0) this.#insert(oldHashes[slot]!, oldSlots[slot]!);
    }
  }
}

/** Whether the bits of a (from aOffset) are all set in b (from bOffset), over `words` words. */
function isSubset(a: Int32Array, aOffset: number, b: Int32Array, words: number, bOffset = 0): boolean {
  for (let i = 0; i < words; i++) if ((a[aOffset + i]! & ~b[bOffset + i]!) !== 0) return false;
  return true;
}

/** A murmur3-style mix of the words: fast, and spreads keys that differ in one bit. */
function hashWords(words: Int32Array, length: number): number {
  let hash = length;
  for (let i = 0; i < length; i++) {
    hash = Math.imul(hash ^ words[i]!, 0xcc9e2d51);
    hash = Math.imul((hash << 15) | (hash >>> 17), 0x1b873593);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  return hash ^ (hash >>> 13);
}

/** Numbers states by their hash; primitive states skip the hashing after their first visit. */
function stateInterner<State>(model: Model<State, unknown, unknown>): (state: State) => number {
  const idsByHash = new Map<string, number>();
  const idsByPrimitive = new Map<State, number>();
  return (state) => {
    const primitive = typeof state !== "object" || state === null;
    const known = primitive ? idsByPrimitive.get(state) : undefined;
    if (known !== undefined) return known;
    const hash = model.hash(state);
    let id = idsByHash.get(hash);
    if (id === undefined) idsByHash.set(hash, (id = idsByHash.size));
    if (primitive) idsByPrimitive.set(state, id);
    return id;
  };
}

/** For each operation with an unknown outcome, the one before it (by call) with an equal input. */
function earlierTwins<Input, Output>(model: Model<unknown, Input, Output>, operations: readonly Operation<Input, Output>[]): Int32Array {
  const twins = new Int32Array(operations.length).fill(NONE);
  if (model.inputKey === undefined) return twins;
  const unknownByCall = operations
    .map((op, index) => ({ op, index }))
    .filter(({ op }) => op.output === undefined)
    .sort((a, b) => a.op.call - b.op.call || a.index - b.index);
  const latest = new Map<string, number>();
  for (const { op, index } of unknownByCall) {
    const key = model.inputKey(op.input);
    twins[index] = latest.get(key) ?? NONE;
    latest.set(key, index);
  }
  return twins;
}

// ---------------------------------------------------------------------------------------
// The search.

interface SearchLimits {
  readonly deadlineMs: number;
  readonly cacheWordsMax: number;
}

type SearchOutcome =
  | { verdict: "ok"; stack: number[]; modelSteps: number }
  | { verdict: "illegal" | "unknown"; longestPrefix: number[]; stopReason?: "time-budget" | "search-space"; modelSteps: number };

/** Search iterations between two looks at the clock: cheap, and well under a millisecond apart. */
const DEADLINE_CHECK_INTERVAL_ITERATIONS = 1024;

class Search<State, Input, Output> {
  readonly #model: Model<State, Input, Output>;
  readonly #operations: readonly Operation<Input, Output>[];
  readonly #deadlineMs: number;
  readonly #list: EventLists;
  readonly #linearized: LinearizedSet;
  readonly #visited: VisitedConfigs;
  readonly #key: Int32Array;
  readonly #twins: Int32Array;
  readonly #readOnly: Uint8Array;
  readonly #internState: (state: State) => number;

  // The stack of moves: the call entry linearized, and where the walk stood before it.
  readonly #stackEntries: Int32Array;
  readonly #stackStates: State[] = [];
  readonly #stackPendingBounds: Float64Array;
  /** Whether a move was the only one to try from its configuration (a read-only one). */
  readonly #stackForced: Uint8Array;
  #depth = 0;

  // The longest prefix so far (by operations with known outcomes), updated incrementally:
  // entries below #unchangedBelow have not been popped since the last update, so only the
  // part above it needs copying.
  readonly #longest: Int32Array;
  #longestLength = 0;
  #longestKnown = 0;
  #unchangedBelow = 0;
  #modelSteps = 0;

  // The walk through the candidates of the current configuration: the main list up to its
  // first return event, then the pending operations called by that return's time
  // (#pendingBound, NaN while still on the main list).
  #state: State;
  #entry: number;
  #pendingBound = NaN;

  constructor(model: Model<State, Input, Output>, operations: readonly Operation<Input, Output>[], limits: SearchLimits) {
    this.#model = model;
    this.#operations = operations;
    this.#deadlineMs = limits.deadlineMs;
    this.#list = buildEventLists(operations);
    this.#linearized = new LinearizedSet(operations);
    this.#visited = new VisitedConfigs(limits.cacheWordsMax, this.#linearized.knownKeyWordsMax, this.#linearized.unknown.length);
    this.#key = new Int32Array(this.#linearized.knownKeyWordsMax);
    this.#twins = earlierTwins(model, operations);
    this.#readOnly = Uint8Array.from(operations, (op) => (model.isReadOnly?.(op.input, op.output) ? 1 : 0));
    this.#internState = stateInterner(model);
    this.#stackEntries = new Int32Array(operations.length);
    this.#stackPendingBounds = new Float64Array(operations.length);
    this.#stackForced = new Uint8Array(operations.length);
    this.#longest = new Int32Array(operations.length);
    this.#state = model.init();
    this.#entry = this.#list.next[MAIN_HEAD]!;
  }

  run(): SearchOutcome {
    let iterations = 0;
    while (!this.#linearized.complete) {
      if (iterations++ % DEADLINE_CHECK_INTERVAL_ITERATIONS === 0 && performance.now() > this.#deadlineMs) return this.#stop("unknown", "time-budget");
      const move = this.#findCandidate() ? this.#tryCandidate() : "exhausted";
      if (move === "cache-full") return this.#stop("unknown", "search-space");
      if (move === "exhausted" && !this.#backtrack()) return this.#stop("illegal");
    }
    const stack = Array.from(this.#stackEntries.subarray(0, this.#depth), (entry) => this.#list.op[entry]!);
    return { verdict: "ok", stack, modelSteps: this.#modelSteps };
  }

  /** Moves the walk to the next operation that may take effect now; false when none is left. */
  #findCandidate(): boolean {
    const list = this.#list;
    for (;;) {
      const entry = this.#entry;
      if (Number.isNaN(this.#pendingBound)) {
        assert(entry !== NONE, "the walk ran past the last return event");
        if (list.isCall[entry] === 0) {
          // The first return event: its operation had to take effect by now. Only the pending
          // operations called by then are left to try before giving up on this configuration.
          this.#pendingBound = this.#operations[list.op[entry]!]!.returnTime;
          this.#entry = list.next[PENDING_HEAD]!;
          continue;
        }
      } else if (entry === NONE || this.#operations[list.op[entry]!]!.call > this.#pendingBound) {
        return false;
      }
      const twin = this.#twins[list.op[entry]!]!;
      if (twin === NONE || this.#linearized.has(twin)) return true;
      this.#entry = list.next[entry]!; // its earlier twin goes first
    }
  }

  #tryCandidate(): "moved" | "next" | "exhausted" | "cache-full" {
    const entry = this.#entry;
    const op = this.#list.op[entry]!;
    const operation = this.#operations[op]!;
    this.#modelSteps++;
    const result = this.#model.step(this.#state, operation.input, operation.output);
    if (result.ok) {
      if (!this.#visited.hasRoom) return "cache-full";
      this.#linearized.add(op);
      const keyLength = this.#linearized.writeKnownKey(this.#key, this.#internState(result.state));
      if (this.#visited.add(this.#key, keyLength, this.#linearized.unknown)) {
        this.#push(entry, result.state);
        return "moved";
      }
      this.#linearized.remove(op);
      // A read-only move to a configuration already visited (so failed, or covered): so is this one.
      if (this.#readOnly[op] === 1) return "exhausted";
    }
    this.#entry = this.#list.next[entry]!;
    return "next";
  }

  #push(entry: number, next: State): void {
    const depth = this.#depth++;
    this.#stackEntries[depth] = entry;
    this.#stackStates[depth] = this.#state;
    this.#stackPendingBounds[depth] = this.#pendingBound;
    this.#stackForced[depth] = this.#readOnly[this.#list.op[entry]!]!;
    lift(this.#list, entry);
    if (this.#linearized.knownLinearized > this.#longestKnown) {
      this.#longest.set(this.#stackEntries.subarray(this.#unchangedBelow, this.#depth), this.#unchangedBelow);
      this.#longestLength = this.#unchangedBelow = this.#depth;
      this.#longestKnown = this.#linearized.knownLinearized;
    }
    this.#state = next;
    this.#entry = this.#list.next[MAIN_HEAD]!;
    this.#pendingBound = NaN;
  }

  /** Undoes moves until one whose configuration has candidates left; false when none has. */
  #backtrack(): boolean {
    do {
      if (this.#depth === 0) return false;
      const depth = --this.#depth;
      this.#entry = this.#stackEntries[depth]!;
      this.#state = this.#stackStates[depth]!;
      this.#pendingBound = this.#stackPendingBounds[depth]!;
      this.#linearized.remove(this.#list.op[this.#entry]!);
      unlift(this.#list, this.#entry);
      this.#unchangedBelow = Math.min(this.#unchangedBelow, depth);
    } while (this.#stackForced[this.#depth] === 1);
    this.#entry = this.#list.next[this.#entry]!;
    return true;
  }

  #stop(verdict: "illegal" | "unknown", stopReason?: "time-budget" | "search-space"): SearchOutcome {
    const longestPrefix = Array.from(this.#longest.subarray(0, this.#longestLength), (entry) => this.#list.op[entry]!);
    return { verdict, longestPrefix, stopReason, modelSteps: this.#modelSteps };
  }
}

// ---------------------------------------------------------------------------------------
// Explanations.

/**
 * The operations with known outcomes that could take effect right after the prefix: the one
 * that returned first (it had to take effect by then) and those called before it returned.
 */
function findStuck(operations: readonly Operation<unknown, unknown>[], prefix: readonly number[]): number[] {
  const done = new Set(prefix);
  let first = NONE;
  operations.forEach((op, index) => {
    if (done.has(index) || op.output === undefined) return;
    if (first === NONE || op.returnTime < operations[first]!.returnTime) first = index;
  });
  assert(first !== NONE, "an illegal history leaves an operation with a known outcome unlinearized");
  const dueBy = operations[first]!.returnTime;
  const concurrent = operations
    .map((op, index) => ({ op, index }))
    .filter(({ op, index }) => index !== first && !done.has(index) && op.output !== undefined && op.call <= dueBy)
    .sort((a, b) => a.op.call - b.op.call || a.index - b.index)
    .map(({ index }) => index);
  return [first, ...concurrent];
}

/** Most operations listed in one section of an explanation. */
const EXPLANATION_OPS_MAX = 20;

export function describeOperation<Input, Output>(model: Model<unknown, Input, Output>, op: Operation<Input, Output>): string {
  const what = model.describeOperation
    ? model.describeOperation(op.input, op.output)
    : `${JSON.stringify(op.input)} -> ${op.output === undefined ? "unknown" : JSON.stringify(op.output)}`;
  const returned = op.returnTime === Infinity ? "never" : String(op.returnTime);
  return `process ${op.process}: ${what}  (called ${op.call}, returned ${returned})`;
}

function describeState<State>(model: Model<State, unknown, unknown>, state: State): string {
  return model.describeState ? model.describeState(state) : model.hash(state);
}

function replay<State, Input, Output>(model: Model<State, Input, Output>, operations: readonly Operation<Input, Output>[], order: readonly number[]): State {
  let state = model.init();
  for (const index of order) {
    const result = model.step(state, operations[index]!.input, operations[index]!.output);
    assert(result.ok, "a linearizable prefix replays");
    state = result.state;
  }
  return state;
}

function listed(lines: string[]): string[] {
  if (lines.length <= EXPLANATION_OPS_MAX) return lines;
  return [...lines.slice(0, EXPLANATION_OPS_MAX), `  ... and ${lines.length - EXPLANATION_OPS_MAX} more`];
}

function prefixLines<State, Input, Output>(model: Model<State, Input, Output>, operations: readonly Operation<Input, Output>[], prefix: readonly number[]): string[] {
  const shown = prefix.slice(-EXPLANATION_OPS_MAX);
  const lines = [`longest linearizable prefix: ${prefix.length} of ${operations.length} operations${shown.length < prefix.length ? `, its last ${shown.length}:` : ":"}`];
  for (const index of shown) lines.push(`  ${describeOperation(model, operations[index]!)}`);
  return lines;
}

function explainIllegal<State, Input, Output>(
  model: Model<State, Input, Output>,
  operations: readonly Operation<Input, Output>[],
  prefix: readonly number[],
  stuck: readonly number[],
): string {
  const state = replay(model, operations, prefix);
  const lines = [`not linearizable`, ...prefixLines(model, operations, prefix)];
  lines.push(`state after that prefix: ${describeState(model, state)}`);
  lines.push(`none of these can take effect next (the first had to, by the time it returned):`);
  const stuckLines = stuck.map((index) => {
    const op = operations[index]!;
    const accepted = model.step(state, op.input, op.output).ok;
    return `  ${describeOperation(model, op)}  -- ${accepted ? "possible here, but every way on fails later" : "impossible in this state"}`;
  });
  lines.push(...listed(stuckLines));
  const dueBy = operations[stuck[0]!]!.returnTime;
  const inPrefix = new Set(prefix);
  const pending = operations.filter((op, index) => op.output === undefined && op.call <= dueBy && !inPrefix.has(index)).length;
  if (pending > 0) lines.push(`(nor any of the ${pending} operations with unknown outcomes still pending by then, in any order)`);
  return lines.join("\n");
}

function explainUnknown<State, Input, Output>(
  model: Model<State, Input, Output>,
  operations: readonly Operation<Input, Output>[],
  prefix: readonly number[],
  stopReason: "time-budget" | "search-space",
  elapsedMs: number,
): string {
  const why = stopReason === "time-budget" ? `the time budget ran out after ${Math.round(elapsedMs)} ms` : `the search cache reached its memory limit`;
  return [`unknown: ${why}, before the search could decide`, ...prefixLines(model, operations, prefix)].join("\n");
}
