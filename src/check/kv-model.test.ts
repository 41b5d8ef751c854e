import { describe, expect, test } from "vitest";
import { HistoryError } from "./errors.js";
import { checkKvHistory, validateHistoryOp, type HistoryOp } from "./kv-model.js";
import { generateLinearizableHistory, op } from "./testing/histories.js";

const verdictOf = (ops: HistoryOp[]): string => checkKvHistory(ops).verdict;

describe("reads and writes", () => {
  test("a stale read after an acknowledged write is illegal", () => {
    const result = checkKvHistory([op.write(0, "1", [0, 1]), op.write(0, "2", [2, 3]), op.read(1, "1", [4, 5])]);
    expect(result.verdict).toBe("illegal");
    expect(result.keyResults).toHaveLength(1);
    expect(result.keyResults[0]!.key).toBe("x");
    expect(result.explanation).toContain(`key "x"`);
    expect(result.explanation).toContain(`process 1: read -> "1"`);
  });

  test("a read of a key never written sees it absent", () => {
    expect(verdictOf([op.read(0, null, [0, 1])])).toBe("ok");
    expect(verdictOf([op.read(0, "1", [0, 1])])).toBe("illegal");
    expect(verdictOf([op.write(0, "1", [0, 1]), op.read(1, null, [2, 3])])).toBe("illegal");
  });

  test("a read concurrent with a write may see either value", () => {
    const write = op.write(0, "new", [10, 20]);
    expect(verdictOf([op.write(0, "old", [0, 1]), write, op.read(1, "old", [12, 14])])).toBe("ok");
    expect(verdictOf([op.write(0, "old", [0, 1]), write, op.read(1, "new", [12, 14])])).toBe("ok");
    expect(verdictOf([op.write(0, "old", [0, 1]), write, op.read(1, "other", [12, 14])])).toBe("illegal");
  });

  test("concurrent writes may take effect in either order", () => {
    const writes = [op.write(0, "a", [0, 10]), op.write(1, "b", [0, 10])];
    expect(verdictOf([...writes, op.read(2, "a", [11, 12])])).toBe("ok");
    expect(verdictOf([...writes, op.read(2, "b", [11, 12])])).toBe("ok");
    // ...but one order for everyone: once a reader saw b after a, nobody may see a after b.
    expect(verdictOf([...writes, op.read(2, "a", [11, 12]), op.read(3, "b", [13, 14]), op.read(2, "a", [15, 16])])).toBe("illegal");
  });

  test("operations that touch at the same instant count as concurrent", () => {
    expect(verdictOf([op.write(0, "1", [0, 5]), op.read(1, null, [5, 6])])).toBe("ok");
    expect(verdictOf([op.write(0, "1", [0, 5]), op.read(1, null, [6, 7])])).toBe("illegal");
  });
});

describe("compare-and-set", () => {
  test("succeeds only when the value is the expected one", () => {
    expect(verdictOf([op.write(0, "1", [0, 1]), op.cas(0, "1", "2", true, [2, 3]), op.read(0, "2", [4, 5])])).toBe("ok");
    expect(verdictOf([op.write(0, "1", [0, 1]), op.cas(0, "7", "2", true, [2, 3])])).toBe("illegal");
  });

  test("a failed cas observed a different value, and changed nothing", () => {
    expect(verdictOf([op.write(0, "1", [0, 1]), op.cas(0, "7", "2", false, [2, 3]), op.read(0, "1", [4, 5])])).toBe("ok");
    expect(verdictOf([op.write(0, "1", [0, 1]), op.cas(0, "1", "2", false, [2, 3])])).toBe("illegal");
    expect(verdictOf([op.write(0, "1", [0, 1]), op.cas(0, "7", "2", false, [2, 3]), op.read(0, "2", [4, 5])])).toBe("illegal");
  });

  test("expected null means the key is absent", () => {
    expect(verdictOf([op.cas(0, null, "1", true, [0, 1]), op.read(0, "1", [2, 3])])).toBe("ok");
    expect(verdictOf([op.write(0, "1", [0, 1]), op.cas(0, null, "2", true, [2, 3])])).toBe("illegal");
  });
});

describe("outcomes", () => {
  test("an unknown write that took effect later is ok", () => {
    const history = [op.unknown(0, { kind: "write", value: "1" }, 0), op.read(1, null, [5, 6]), op.read(1, "1", [7, 8])];
    expect(verdictOf(history)).toBe("ok");
  });

  test("an unknown write that was never observed is ok", () => {
    expect(verdictOf([op.write(0, "1", [0, 1]), op.unknown(1, { kind: "write", value: "2" }, 2), op.read(2, "1", [10, 11])])).toBe("ok");
  });

  test("an unknown cas may have succeeded, or not", () => {
    const setup = [op.write(0, "1", [0, 1]), op.unknown(1, { kind: "cas", expected: "1", value: "2" }, 2)];
    expect(verdictOf([...setup, op.read(2, "2", [10, 11])])).toBe("ok");
    expect(verdictOf([...setup, op.read(2, "1", [10, 11])])).toBe("ok");
    expect(verdictOf([...setup, op.read(2, "3", [10, 11])])).toBe("illegal");
  });

  test("an unknown write cannot take effect twice", () => {
    const history = [op.unknown(0, { kind: "write", value: "1" }, 0), op.read(1, "1", [1, 2]), op.write(1, "2", [3, 4]), op.read(1, "1", [5, 6])];
    expect(verdictOf(history)).toBe("illegal");
  });

  test("a failed operation is ignored", () => {
    const history = [op.write(0, "1", [0, 1]), op.failed(1, { kind: "write", value: "2" }, [2, 3]), op.read(2, "1", [4, 5])];
    const result = checkKvHistory(history);
    expect(result.verdict).toBe("ok");
    expect(result.opsChecked).toBe(2);
  });

  test("reads with unknown or failed outcomes tell nothing and are dropped", () => {
    const history = [op.write(0, "1", [0, 1]), op.unknown(1, { kind: "read" }, 2), op.failed(2, { kind: "read" }, [2, 3])];
    expect(checkKvHistory(history)).toMatchObject({ verdict: "ok", opsChecked: 1 });
  });
});

describe("keys are independent", () => {
  test("each key is its own register", () => {
    const history = [op.write(0, "1", [0, 1], "a"), op.write(0, "2", [2, 3], "b"), op.read(1, "1", [4, 5], "a"), op.read(1, "2", [4, 5], "b")];
    expect(checkKvHistory(history)).toMatchObject({ verdict: "ok", keys: 2, opsChecked: 4, keyResults: [] });
  });

  test("only the broken key is reported", () => {
    const history = [op.write(0, "1", [0, 1], "good"), op.read(1, "1", [2, 3], "good"), op.write(0, "1", [0, 1], "bad"), op.read(1, "2", [2, 3], "bad")];
    const result = checkKvHistory(history);
    expect(result.verdict).toBe("illegal");
    expect(result.keyResults.map((keyResult) => [keyResult.key, keyResult.verdict])).toEqual([["bad", "illegal"]]);
    expect(result.keyResults[0]!.stuck).toEqual([history[3]]);
    expect(result.keyResults[0]!.longestPrefix).toEqual([history[2]]);
  });

  test("a value written to one key is not visible in another", () => {
    expect(verdictOf([op.write(0, "1", [0, 1], "a"), op.read(1, "1", [2, 3], "b")])).toBe("illegal");
  });
});

describe("time budget", () => {
  test("a budget already spent gives unknown, never ok", () => {
    const history = [op.write(0, "1", [0, 1]), op.read(1, "1", [2, 3])];
    const result = checkKvHistory(history, { timeBudgetMs: 0 });
    expect(result.verdict).toBe("unknown");
    expect(result.keyResults[0]).toMatchObject({ key: "x", verdict: "unknown" });
    expect(result.explanation).toContain("time budget");
  });

  test("one key that cannot be decided in time does not hide another that is illegal", () => {
    // Key "slow": 26 concurrent writes, then a read of a value none wrote: 2^26 subsets to try.
    const slow = Array.from({ length: 26 }, (_, i) => op.write(i, `v${i}`, [0, 100], "slow"));
    slow.push(op.read(26, "never written", [200, 201], "slow"));
    const broken = [op.write(0, "1", [0, 1], "broken"), op.read(1, "2", [2, 3], "broken")];
    const result = checkKvHistory([...slow, ...broken], { timeBudgetMs: 50 });
    expect(result.verdict).toBe("illegal");
    expect(result.keyResults.map((keyResult) => [keyResult.key, keyResult.verdict])).toEqual([
      ["broken", "illegal"],
      ["slow", "unknown"],
    ]);
  });
});

describe("generated histories", () => {
  test("histories that happened atomically pass, with thousands of ops on one key", () => {
    for (const seed of [1, 2, 3]) {
      const history = generateLinearizableHistory(seed, { ops: 3000, processes: 10, values: 5, unknownRate: 0.03 });
      const result = checkKvHistory(history, { timeBudgetMs: 30_000 });
      expect(result.verdict, result.explanation).toBe("ok");
      expect(result.opsChecked).toBeGreaterThan(2800);
    }
  });

  test("many keys at once", () => {
    const history = generateLinearizableHistory(7, { ops: 5000, processes: 10, values: 3, unknownRate: 0.05, keys: 20 });
    expect(checkKvHistory(history, { timeBudgetMs: 30_000 })).toMatchObject({ verdict: "ok", keys: 20 });
  });

  test("one corrupted read makes the history illegal", () => {
    // Distinct values, as Flotilla's simulator writes them: each read names the write it saw.
    const history = generateLinearizableHistory(4, { ops: 2000, processes: 10, values: 1_000_000, unknownRate: 0.03 });
    const victim = history.findIndex((candidate, index) => index > 1000 && candidate.input.kind === "read" && candidate.outcome === "ok");
    history[victim] = { ...history[victim]!, output: { kind: "read", value: "never written" } };
    const result = checkKvHistory(history, { timeBudgetMs: 30_000 });
    expect(result.verdict).toBe("illegal");
    expect(result.keyResults[0]!.stuck).toContain(history[victim]);
  });
});

describe("validation", () => {
  const good = { process: 0, key: "x", input: { kind: "read" }, call: 1, outcome: "ok", output: { kind: "read", value: null }, returnTime: 2 };

  test("accepts a well-formed operation", () => {
    expect(validateHistoryOp(good, "op")).toEqual(good);
  });

  test.each([
    ["not an object", 7, /not an object/],
    ["no key", { ...good, key: undefined }, /key must be a string/],
    ["a fractional process", { ...good, process: 1.5 }, /process must be an integer/],
    ["an unknown input kind", { ...good, input: { kind: "delete" } }, /unknown input.kind "delete"/],
    ["an ok op without an output", { ...good, output: undefined }, /needs an output/],
    ["an output of the wrong kind", { ...good, output: { kind: "write" } }, /does not match/],
    ["an ok op without a return time", { ...good, returnTime: undefined }, /returnTime/],
    ["a return before the call", { ...good, returnTime: 0 }, /before its call/],
    ["a bad outcome", { ...good, outcome: "maybe" }, /outcome must be/],
    ["a cas without a boolean", { ...good, input: { kind: "cas", expected: null, value: "1" }, output: { kind: "cas", succeeded: "yes" } }, /succeeded/],
    ["a write of a number", { ...good, input: { kind: "write", value: 3 }, output: { kind: "write" } }, /input.value/],
  ])("refuses %s", (_name, raw, message) => {
    expect(() => validateHistoryOp(raw, "op 3")).toThrow(HistoryError);
    expect(() => validateHistoryOp(raw, "op 3")).toThrow(message);
  });

  test("checkKvHistory refuses a malformed operation, naming it", () => {
    const broken = { ...op.read(0, null, [0, 1]), output: undefined };
    expect(() => checkKvHistory([op.write(0, "1", [0, 1]), broken])).toThrow(/history operation 1/);
  });
});
