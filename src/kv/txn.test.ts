import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { KvStore, MEMORY_PATH, type Compare, type CompareOp, type RangeAnswer, type TxnOp, type TxnOpResult, type TxnResult } from "./index.js";
import { bytes, EntryLog, text } from "./testing/entries.js";

let store: KvStore;
let log: EntryLog;

beforeEach(() => {
  store = KvStore.open({ path: MEMORY_PATH });
  log = new EntryLog();
  // "k": created at 1, modified at 3, version 2, value "m". "other" at 2.
  store.applyBatch([log.put("k", "a"), log.put("other", "o"), log.put("k", "m")]);
});

afterEach(() => store.close());

function txn(compare: Compare[], success: TxnOp[] = [], failure: TxnOp[] = []): TxnResult {
  const [applied] = store.applyBatch([log.command({ type: "txn", payload: { compare, success, failure } })]);
  expect(applied!.result.kind).toBe("txn");
  return applied!.result as TxnResult;
}

function getAnswer(result: TxnOpResult | undefined): RangeAnswer {
  if (result === undefined || !("get" in result)) throw new Error(`expected a get result, got ${JSON.stringify(result)}`);
  return result.get;
}

function holds(compare: Compare): boolean {
  return txn([compare]).succeeded;
}

describe("compare", () => {
  const ops: CompareOp[] = ["==", "!=", "<", ">"];
  // For each target: a value below, equal to, and above the key's actual one.
  const numeric = [
    { target: "version", actual: 2 },
    { target: "createRevision", actual: 1 },
    { target: "modRevision", actual: 3 },
  ] as const;

  for (const { target, actual } of numeric) {
    for (const op of ops) {
      test(`${target} ${op} on an existing key`, () => {
        const expected = (value: number): boolean => (op === "==" ? actual === value : op === "!=" ? actual !== value : op === "<" ? actual < value : actual > value);
        for (const value of [actual - 1, actual, actual + 1]) {
          expect(holds({ key: "k", target, op, value }), `${actual} ${op} ${value}`).toBe(expected(value));
        }
      });
    }
  }

  test("value compares bytes: == != < >", () => {
    expect(holds({ key: "k", target: "value", op: "==", value: bytes("m") })).toBe(true);
    expect(holds({ key: "k", target: "value", op: "!=", value: bytes("m") })).toBe(false);
    expect(holds({ key: "k", target: "value", op: "<", value: bytes("n") })).toBe(true);
    expect(holds({ key: "k", target: "value", op: "<", value: bytes("m") })).toBe(false);
    expect(holds({ key: "k", target: "value", op: ">", value: bytes("l") })).toBe(true);
    expect(holds({ key: "k", target: "value", op: ">", value: bytes("mm") })).toBe(false);
  });

  test("a missing key has version, createRevision and modRevision 0", () => {
    expect(holds({ key: "absent", target: "version", op: "==", value: 0 })).toBe(true);
    expect(holds({ key: "absent", target: "createRevision", op: "==", value: 0 })).toBe(true);
    expect(holds({ key: "absent", target: "modRevision", op: "<", value: 1 })).toBe(true);
  });

  test("every value compare on a missing key fails, even != (etcd)", () => {
    for (const op of ops) expect(holds({ key: "absent", target: "value", op, value: bytes("x") })).toBe(false);
  });

  test("all compares must hold", () => {
    const yes: Compare = { key: "k", target: "version", op: "==", value: 2 };
    const no: Compare = { key: "other", target: "version", op: "==", value: 5 };
    expect(txn([yes, yes]).succeeded).toBe(true);
    expect(txn([yes, no]).succeeded).toBe(false);
    expect(txn([]).succeeded).toBe(true);
  });
});

describe("branches and results", () => {
  const ifVersion = (value: number): Compare => ({ key: "k", target: "version", op: "==", value });

  test("success runs when compares hold, failure otherwise", () => {
    const success: TxnOp[] = [{ put: { key: "won", value: bytes("1") } }];
    const failure: TxnOp[] = [{ put: { key: "lost", value: bytes("1") } }];
    expect(txn([ifVersion(2)], success, failure).succeeded).toBe(true);
    expect(txn([ifVersion(99)], success, failure).succeeded).toBe(false);
    expect(store.get("won")).not.toBeNull();
    expect(store.get("lost")).not.toBeNull();
  });

  test("all writes of a txn share one revision", () => {
    const result = txn([], [{ put: { key: "x", value: bytes("1") } }, { put: { key: "y", value: bytes("2") } }, { delete: { key: "other" } }]);
    expect(result.revision).toBe(4);
    expect(result.results).toEqual([{ put: { key: "x", modRevision: 4, version: 1 } }, { put: { key: "y", modRevision: 4, version: 1 } }, { delete: { deleted: 1 } }]);
    expect(store.get("x")!.modRevision).toBe(4);
    expect(store.get("y")!.modRevision).toBe(4);
    expect(store.revision()).toBe(4);
  });

  test("a read-only txn, or one whose deletes find nothing, keeps the revision", () => {
    expect(txn([], [{ get: { key: "k" } }]).revision).toBe(3);
    expect(txn([], [{ delete: { key: "absent" } }, { delete: { prefix: "nope/" } }]).revision).toBe(3);
    expect(store.revision()).toBe(3);
  });

  test("get by key and by prefix; a get sees the puts before it in the same txn", () => {
    const result = txn([], [{ get: { key: "absent" } }, { put: { key: "p/1", value: bytes("new") } }, { get: { key: "p/1" } }, { get: { prefix: "" } }]);
    expect(result.results[0]).toEqual({ get: { kvs: [], more: false } });
    const fresh = getAnswer(result.results[2]);
    expect(fresh.kvs.map((kv) => [kv.key, text(kv.value), kv.modRevision, kv.version])).toEqual([["p/1", "new", 4, 1]]);
    const all = getAnswer(result.results[3]);
    expect(all.kvs.map((kv) => kv.key)).toEqual(["k", "other", "p/1"]);
    expect(all.more).toBe(false);
  });

  test("put in a txn bumps the version like a plain put, and stores the lease", () => {
    const result = txn([ifVersion(2)], [{ put: { key: "k", value: bytes("z"), lease: 9 } }]);
    expect(result.results).toEqual([{ put: { key: "k", modRevision: 4, version: 3 } }]);
    expect(store.get("k")).toMatchObject({ createRevision: 1, modRevision: 4, version: 3, lease: 9 });
  });

  test("delete by prefix in a txn", () => {
    store.applyBatch([log.put("d/1", "x"), log.put("d/2", "x")]);
    const result = txn([], [{ delete: { prefix: "d/" } }]);
    expect(result.results).toEqual([{ delete: { deleted: 2 } }]);
    expect(store.range("d/").kvs).toEqual([]);
  });

  test("compare-and-swap: the classic use", () => {
    const cas = (expected: number, value: string) => txn([{ key: "k", target: "modRevision", op: "==", value: expected }], [{ put: { key: "k", value: bytes(value) } }], [{ get: { key: "k" } }]);
    expect(cas(3, "first").succeeded).toBe(true);
    const second = cas(3, "second");
    expect(second.succeeded).toBe(false);
    expect(text(getAnswer(second.results[0]).kvs[0]!.value)).toBe("first");
  });
});
