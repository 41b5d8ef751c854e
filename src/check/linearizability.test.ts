import { describe, expect, test } from "vitest";
import { Rng } from "../util/rng.js";
import { HistoryError } from "./errors.js";
import { kvRegisterModel, type HistoryOp, type KvInput, type KvOutput, type KvState } from "./kv-model.js";
import { checkOperations, type Model, type Operation } from "./linearizability.js";
import { bruteForceLinearizable, generateArbitraryHistory } from "./testing/histories.js";

type KvOperation = Operation<KvInput, KvOutput>;

/** What checkKvHistory hands the search for one key (failed ops and unknown reads dropped). */
function toOperations(ops: readonly HistoryOp[]): KvOperation[] {
  return ops
    .filter((op) => op.outcome === "ok" || (op.outcome === "unknown" && op.input.kind !== "read"))
    .map((op) => ({ process: op.process, input: op.input, call: op.call, returnTime: op.returnTime ?? Infinity, output: op.output }));
}

/** The register model without the optional prunings: the plain search, as a second opinion. */
const plainRegisterModel: Model<KvState, KvInput, KvOutput> = {
  init: kvRegisterModel.init,
  step: kvRegisterModel.step,
  hash: kvRegisterModel.hash,
};

/** A witness is valid when it replays in the model and respects real-time order. */
function assertValidWitness(operations: readonly KvOperation[], order: readonly number[]): void {
  let state = kvRegisterModel.init();
  for (const index of order) {
    const result = kvRegisterModel.step(state, operations[index]!.input, operations[index]!.output);
    expect(result.ok).toBe(true);
    state = result.state;
  }
  const position = new Map(order.map((index, at) => [index, at]));
  operations.forEach((op, index) => {
    if (op.output !== undefined) expect(position.has(index)).toBe(true);
  });
  for (const [a, atA] of position) {
    for (const [b, atB] of position) {
      if (operations[a]!.returnTime < operations[b]!.call) expect(atA).toBeLessThan(atB);
    }
  }
}

/** Writes of distinct values, all concurrent, then a read of a value none wrote: every subset of the writes must be tried. */
function pathologicalHistory(writes: number): KvOperation[] {
  const operations: KvOperation[] = [];
  for (let i = 0; i < writes; i++) operations.push({ process: i, input: { kind: "write", value: `v${i}` }, call: 0, returnTime: 100, output: { kind: "write" } });
  operations.push({ process: writes, input: { kind: "read" }, call: 200, returnTime: 201, output: { kind: "read", value: "never written" } });
  return operations;
}

describe("the search agrees with brute force", () => {
  test.each([
    ["few", 0.1],
    ["many", 0.4],
  ])("on thousands of small random histories with %s unknown outcomes, with and without the prunings", (_name, unknownRate) => {
    const rng = new Rng(20240501);
    const tally = { ok: 0, illegal: 0 };
    for (let round = 0; round < 3000; round++) {
      const history = generateArbitraryHistory(rng, 8, unknownRate);
      const expected = bruteForceLinearizable(history) ? "ok" : "illegal";
      const operations = toOperations(history);
      const pruned = checkOperations(kvRegisterModel, operations);
      const plain = checkOperations(plainRegisterModel, operations);
      const context = JSON.stringify(history);
      expect(pruned.verdict, context).toBe(expected);
      expect(plain.verdict, context).toBe(expected);
      if (expected === "ok") assertValidWitness(operations, pruned.linearization);
      tally[expected]++;
    }
    // The generator must exercise both verdicts for the comparison to mean anything.
    expect(tally.ok).toBeGreaterThan(300);
    expect(tally.illegal).toBeGreaterThan(300);
  });
});

describe("limits give 'unknown', never a pass", () => {
  test("an expired time budget", () => {
    const result = checkOperations(kvRegisterModel, pathologicalHistory(26), { timeBudgetMs: 20 });
    expect(result.verdict).toBe("unknown");
    expect(result.stopReason).toBe("time-budget");
    expect(result.explanation).toContain("time budget");
  });

  test("a zero budget stops before the first step", () => {
    const result = checkOperations(kvRegisterModel, pathologicalHistory(3), { timeBudgetMs: 0 });
    expect(result.verdict).toBe("unknown");
    expect(result.modelSteps).toBe(0);
  });

  test("a full cache", () => {
    const result = checkOperations(kvRegisterModel, pathologicalHistory(26), { cacheWordsMax: 100_000 });
    expect(result.verdict).toBe("unknown");
    expect(result.stopReason).toBe("search-space");
  });

  test("the same history is decided when it is small enough", () => {
    expect(checkOperations(kvRegisterModel, pathologicalHistory(8)).verdict).toBe("illegal");
  });
});

describe("unknown outcomes", () => {
  const write = (process: number, value: string, call: number, returnTime: number): KvOperation => ({
    process,
    input: { kind: "write", value },
    call,
    returnTime,
    output: { kind: "write" },
  });
  const read = (process: number, value: string | null, call: number, returnTime: number): KvOperation => ({
    process,
    input: { kind: "read" },
    call,
    returnTime,
    output: { kind: "read", value },
  });
  const unknownWrite = (process: number, value: string, call: number): KvOperation => ({
    process,
    input: { kind: "write", value },
    call,
    returnTime: Infinity,
    output: undefined,
  });

  test("may be left out of the linearization", () => {
    const result = checkOperations(kvRegisterModel, [write(0, "a", 0, 1), unknownWrite(1, "b", 2), read(0, "a", 10, 11)]);
    expect(result.verdict).toBe("ok");
    expect(result.linearization).not.toContain(1);
  });

  test("may take effect long after their call", () => {
    const result = checkOperations(kvRegisterModel, [unknownWrite(1, "b", 0), read(0, null, 10, 11), read(0, "b", 20, 21)]);
    expect(result.verdict).toBe("ok");
    expect(result.linearization).toEqual([1, 0, 2]);
  });

  test("still cannot take effect before their call", () => {
    expect(checkOperations(kvRegisterModel, [read(0, "b", 0, 1), unknownWrite(1, "b", 5)]).verdict).toBe("illegal");
  });
});

describe("bad operations are refused with a HistoryError", () => {
  const base: KvOperation = { process: 0, input: { kind: "read" }, call: 5, returnTime: 6, output: { kind: "read", value: null } };

  test.each([
    ["a return before the call", { ...base, returnTime: 4 }, /before its call/],
    ["an unknown outcome that returned", { ...base, output: undefined }, /unknown outcome/],
    ["a known outcome that never returned", { ...base, returnTime: Infinity }, /unknown outcome/],
    ["a call time that is not a number", { ...base, call: Number.NaN }, /call time/],
  ])("%s", (_name, operation, message) => {
    expect(() => checkOperations(kvRegisterModel, [operation])).toThrow(HistoryError);
    expect(() => checkOperations(kvRegisterModel, [operation])).toThrow(message);
  });
});

test("an illegal verdict names the operations that could not take effect", () => {
  const operations: KvOperation[] = [
    { process: 0, input: { kind: "write", value: "a" }, call: 0, returnTime: 1, output: { kind: "write" } },
    { process: 1, input: { kind: "write", value: "b" }, call: 2, returnTime: 3, output: { kind: "write" } },
    { process: 2, input: { kind: "read" }, call: 4, returnTime: 5, output: { kind: "read", value: "a" } },
  ];
  const result = checkOperations(kvRegisterModel, operations);
  expect(result.verdict).toBe("illegal");
  expect(result.longestPrefix).toEqual([0, 1]);
  expect(result.stuck).toEqual([2]);
  expect(result.explanation).toContain(`state after that prefix: "b"`);
  expect(result.explanation).toContain(`process 2: read -> "a"  (called 4, returned 5)  -- impossible in this state`);
});
