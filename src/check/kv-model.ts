/**
 * Flotilla's key-value history format and its model: one register per key, each key checked on
 * its own. Linearizability is compositional (a history is linearizable exactly when each
 * object's sub-history is), and checking small per-key histories is exponentially cheaper than
 * checking one big one.
 */
import { assert, unreachable } from "../util/assert.js";
import { CHECK_TIME_BUDGET_MS_DEFAULT } from "../util/limits.js";
import { HistoryError } from "./errors.js";
import { checkOperations, type Model, type Operation, type Verdict } from "./linearizability.js";

export type KvInput =
  | { kind: "read" }
  | { kind: "write"; value: string }
  /** Sets `value` if the current value is `expected` (null: the key is absent). */
  | { kind: "cas"; expected: string | null; value: string };

export type KvOutput =
  /** null: the key was absent. */
  | { kind: "read"; value: string | null }
  | { kind: "write" }
  /** succeeded=false: the value was not `expected` at the moment the cas took effect. */
  | { kind: "cas"; succeeded: boolean };

export type KvOutcome = "ok" | "fail" | "unknown";

export interface HistoryOp {
  /** Client id; the operations of one process never overlap. */
  process: number;
  key: string;
  input: KvInput;
  /** Invocation time, in any monotonic unit (ticks, ms, a counter). Equal times count as concurrent. */
  call: number;
  /** fail: definitely had no effect; unknown: may have taken effect, at any time after its call. */
  outcome: KvOutcome;
  /** Present when the outcome is "ok". */
  output?: KvOutput;
  /** Present unless the outcome is "unknown". */
  returnTime?: number;
}

/** A register's value; null while absent. */
export type KvState = string | null;

export const kvRegisterModel: Model<KvState, KvInput, KvOutput> = {
  init: () => null,
  step(state, input, output) {
    switch (input.kind) {
      case "read":
        if (output === undefined) return { ok: true, state };
        assert(output.kind === "read", "a read's output is a read");
        return { ok: output.value === state, state };
      case "write":
        return { ok: true, state: input.value };
      case "cas": {
        const matches = state === input.expected;
        if (output !== undefined) {
          assert(output.kind === "cas", "a cas's output is a cas");
          if (output.succeeded !== matches) return { ok: false, state };
        }
        return { ok: true, state: matches ? input.value : state };
      }
      default:
        return unreachable(input, "kv input kind");
    }
  },
  hash: (state) => (state === null ? "" : `=${state}`),
  inputKey: (input) => JSON.stringify(input),
  isReadOnly: (input, output) => input.kind === "read" || (output?.kind === "cas" && !output.succeeded),
  describeState: (state) => (state === null ? "absent" : quote(state)),
  describeOperation: (input, output) => describeKvOperation(input, output),
};

/** Longest value shown in an explanation before it is cut short. */
const DESCRIBED_VALUE_CHARS_MAX = 40;

function quote(value: string | null): string {
  if (value === null) return "absent";
  const text = JSON.stringify(value);
  return text.length <= DESCRIBED_VALUE_CHARS_MAX ? text : `${text.slice(0, DESCRIBED_VALUE_CHARS_MAX)}…"`;
}

function describeKvOperation(input: KvInput, output: KvOutput | undefined): string {
  switch (input.kind) {
    case "read":
      return `read -> ${output?.kind === "read" ? quote(output.value) : "unknown"}`;
    case "write":
      return `write ${quote(input.value)} -> ${output === undefined ? "unknown" : "ok"}`;
    case "cas": {
      const result = output?.kind === "cas" ? (output.succeeded ? "succeeded" : "failed") : "unknown";
      return `cas ${quote(input.expected)} to ${quote(input.value)} -> ${result}`;
    }
    default:
      return unreachable(input, "kv input kind");
  }
}

// ---------------------------------------------------------------------------------------
// Validation: a history may come from a file, so every field is checked before use.

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isValue(value: unknown): value is string | null {
  return value === null || typeof value === "string";
}

function parseInput(raw: unknown, fail: (why: string) => never): KvInput {
  if (!isRecord(raw)) return fail("input is not an object");
  switch (raw.kind) {
    case "read":
      return { kind: "read" };
    case "write":
      if (typeof raw.value !== "string") return fail("a write's input.value must be a string");
      return { kind: "write", value: raw.value };
    case "cas":
      if (!isValue(raw.expected)) return fail("a cas's input.expected must be a string or null");
      if (typeof raw.value !== "string") return fail("a cas's input.value must be a string");
      return { kind: "cas", expected: raw.expected, value: raw.value };
    default:
      return fail(`unknown input.kind ${JSON.stringify(raw.kind)}`);
  }
}

function parseOutput(raw: unknown, input: KvInput, fail: (why: string) => never): KvOutput {
  if (!isRecord(raw)) return fail(`an ok ${input.kind} needs an output object`);
  if (raw.kind !== input.kind) return fail(`output.kind ${JSON.stringify(raw.kind)} does not match input.kind "${input.kind}"`);
  switch (input.kind) {
    case "read":
      if (!isValue(raw.value)) return fail("a read's output.value must be a string or null");
      return { kind: "read", value: raw.value };
    case "write":
      return { kind: "write" };
    case "cas":
      if (typeof raw.succeeded !== "boolean") return fail("a cas's output.succeeded must be a boolean");
      return { kind: "cas", succeeded: raw.succeeded };
    default:
      return unreachable(input, "kv input kind");
  }
}

function parseTime(raw: unknown, name: string, fail: (why: string) => never): number {
  if (typeof raw !== "number" || !Number.isFinite(raw)) return fail(`${name} must be a finite number`);
  return raw;
}

/** Checks a history operation from anywhere (a file, a test) and returns a clean copy. */
export function validateHistoryOp(raw: unknown, where: string): HistoryOp {
  const fail = (why: string): never => {
    throw new HistoryError(`${where}: ${why}`);
  };
  if (!isRecord(raw)) return fail("not an object");
  if (typeof raw.process !== "number" || !Number.isSafeInteger(raw.process)) return fail("process must be an integer");
  if (typeof raw.key !== "string") return fail("key must be a string");
  const input = parseInput(raw.input, fail);
  const call = parseTime(raw.call, "call", fail);
  const op: HistoryOp = { process: raw.process, key: raw.key, input, call, outcome: "unknown" };
  switch (raw.outcome) {
    case "unknown":
      return op;
    case "fail":
      op.outcome = "fail";
      if (raw.returnTime !== undefined) op.returnTime = parseTime(raw.returnTime, "returnTime", fail);
      return op;
    case "ok":
      op.outcome = "ok";
      op.output = parseOutput(raw.output, input, fail);
      op.returnTime = parseTime(raw.returnTime, "returnTime of an ok operation", fail);
      if (op.returnTime < call) fail(`returns at ${op.returnTime}, before its call at ${call}`);
      return op;
    default:
      return fail(`outcome must be "ok", "fail" or "unknown", not ${JSON.stringify(raw.outcome)}`);
  }
}

// ---------------------------------------------------------------------------------------
// Checking.

export interface KvCheckOptions {
  /** Wall-clock time for the whole history; when it runs out the verdict is "unknown". */
  timeBudgetMs?: number;
}

export interface KvKeyResult {
  key: string;
  verdict: Exclude<Verdict, "ok">;
  /** Operations of this key that took part in the check. */
  opsChecked: number;
  explanation: string;
  /** The linearizable prefix the search found that takes in the most operations with known outcomes. */
  longestPrefix: HistoryOp[];
  /** On "illegal": operations with known outcomes none of which could take effect after that prefix; the first had to. */
  stuck: HistoryOp[];
}

export interface KvCheckResult {
  /** "illegal" if any key is; else "unknown" if any key is; else "ok". */
  verdict: Verdict;
  keys: number;
  /** Operations that took part in the check (failed ones and unknown reads are left out). */
  opsChecked: number;
  /** Only the keys whose verdict is not "ok", illegal ones first. */
  keyResults: KvKeyResult[];
  explanation?: string;
  elapsedMs: number;
}

/** What a history operation tells the checker; null when it tells nothing. */
function toOperation(op: HistoryOp): Operation<KvInput, KvOutput> | null {
  switch (op.outcome) {
    case "fail":
      return null;
    case "unknown":
      // An unknown read changed nothing and observed nothing we know of; nor did an unknown
      // cas that would set the value it expects.
      if (op.input.kind === "read") return null;
      if (op.input.kind === "cas" && op.input.expected === op.input.value) return null;
      return { process: op.process, input: op.input, call: op.call, returnTime: Infinity, output: undefined };
    case "ok":
      return { process: op.process, input: op.input, call: op.call, returnTime: op.returnTime!, output: op.output! };
    default:
      return unreachable(op.outcome, "history outcome");
  }
}

function partitionByKey(ops: readonly HistoryOp[]): Map<string, HistoryOp[]> {
  const byKey = new Map<string, HistoryOp[]>();
  ops.forEach((raw, index) => {
    const op = validateHistoryOp(raw, `history operation ${index}`);
    if (toOperation(op) === null) return;
    let keyOps = byKey.get(op.key);
    if (keyOps === undefined) byKey.set(op.key, (keyOps = []));
    keyOps.push(raw); // the caller's own objects, so results point into the history given
  });
  return byKey;
}

/** Keys whose explanation goes into the whole history's explanation. */
const EXPLAINED_KEYS_MAX = 3;

/**
 * Checks a key-value history, each key as its own register that starts absent. Failed
 * operations and reads with unknown outcomes are left out; throws HistoryError on a malformed
 * operation. One time budget covers all keys.
 */
export function checkKvHistory(ops: readonly HistoryOp[], options: KvCheckOptions = {}): KvCheckResult {
  const startedMs = performance.now();
  const deadlineMs = startedMs + (options.timeBudgetMs ?? CHECK_TIME_BUDGET_MS_DEFAULT);
  const byKey = partitionByKey(ops);
  const keyResults: KvKeyResult[] = [];
  let opsChecked = 0;
  for (const key of [...byKey.keys()].sort()) {
    const keyOps = byKey.get(key)!;
    opsChecked += keyOps.length;
    const result = checkKey(key, keyOps, deadlineMs - performance.now());
    if (result !== null) keyResults.push(result);
  }
  keyResults.sort((a, b) => Number(a.verdict === "unknown") - Number(b.verdict === "unknown"));
  const verdict: Verdict = keyResults.length === 0 ? "ok" : keyResults[0]!.verdict;
  const elapsedMs = performance.now() - startedMs;
  const result: KvCheckResult = { verdict, keys: byKey.size, opsChecked, keyResults, elapsedMs };
  if (verdict !== "ok") result.explanation = explainKeys(keyResults, byKey.size);
  return result;
}

function checkKey(key: string, keyOps: HistoryOp[], timeBudgetMs: number): KvKeyResult | null {
  const operations = keyOps.map((op) => toOperation(op)!);
  const result = checkOperations(kvRegisterModel, operations, { timeBudgetMs });
  if (result.verdict === "ok") return null;
  return {
    key,
    verdict: result.verdict,
    opsChecked: operations.length,
    explanation: result.explanation!,
    longestPrefix: result.longestPrefix.map((index) => keyOps[index]!),
    stuck: result.stuck.map((index) => keyOps[index]!),
  };
}

function explainKeys(keyResults: readonly KvKeyResult[], keys: number): string {
  const lines = [`${keyResults.length} of ${keys} keys are not ok`];
  for (const result of keyResults.slice(0, EXPLAINED_KEYS_MAX)) {
    lines.push(`key ${JSON.stringify(result.key)} (${result.opsChecked} operations): ${result.explanation}`);
  }
  if (keyResults.length > EXPLAINED_KEYS_MAX) lines.push(`... and ${keyResults.length - EXPLAINED_KEYS_MAX} more keys`);
  return lines.join("\n");
}
