import path from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import Database from "better-sqlite3";
import { Packr } from "msgpackr";
import { InvariantError } from "../util/assert.js";
import { Rng } from "../util/rng.js";
import { IDEMPOTENCY_RESULT_BYTES_MAX } from "../util/limits.js";
import { decodeCommand, KvInputError, KvStore, MEMORY_PATH, type CommandInput } from "./index.js";
import { bytes, EntryLog, tempDir, text } from "./testing/entries.js";

describe("applied index and batches", () => {
  let store: KvStore;
  let log: EntryLog;
  beforeEach(() => {
    store = KvStore.open({ path: MEMORY_PATH });
    log = new EntryLog();
  });
  afterEach(() => store.close());

  test("a batch returns one result per entry, with index, term and request id", () => {
    log.term = 3;
    const results = store.applyBatch([log.put("a", "1"), log.raw(new Uint8Array(0)), log.del("a")]);
    expect(results.map((r) => [r.index, r.term, r.requestId, r.result.kind, r.replayed])).toEqual([
      [1, 3, "req-1", "put", false],
      [2, 3, null, "noop", false],
      [3, 3, "req-2", "delete", false],
    ]);
    expect(store.appliedIndex()).toBe(3);
    expect(store.appliedTerm()).toBe(3);
  });

  test("a command decoded before it was proposed applies from that decode, not the bytes again", () => {
    const entry = log.put("k", "v");
    const decoded = decodeCommand(entry.data);
    // The decode is what applies: a different (but valid) one given with these bytes wins.
    const [applied] = store.applyBatch([{ ...entry, decoded: { ...decoded, payload: { key: "other", value: new Uint8Array([0x78]) } } as typeof decoded }]);
    expect(applied).toMatchObject({ requestId: "req-1", result: { kind: "put", revision: 1, key: "other" } });
    expect(store.get("k")).toBeNull();
  });

  test("a leader's empty entry and a noop command change nothing but the applied index", () => {
    store.applyBatch([log.put("a", "1")]);
    const results = store.applyBatch([log.raw(new Uint8Array(0)), log.command({ type: "noop", payload: {} })]);
    expect(results.map((r) => r.result)).toEqual([
      { kind: "noop", revision: 1 },
      { kind: "noop", revision: 1 },
    ]);
    expect(store.revision()).toBe(1);
    expect(store.appliedIndex()).toBe(3);
  });

  test("an entry at or below the applied index is refused and nothing of the batch applies", () => {
    const entries = [log.put("a", "1"), log.put("a", "2"), log.put("a", "3")];
    store.applyBatch(entries.slice(0, 2));
    expect(() => store.applyBatch(entries)).toThrow(/entry 1 is applied already \(the applied index is 2\)/);
    expect(() => store.applyBatch(entries.slice(1))).toThrow(InvariantError);
    expect(store.get("a")!.version).toBe(2);
    expect(store.applyBatch(entries.slice(2)).map((r) => r.index)).toEqual([3]);
  });

  test("a gap is an invariant error and applies nothing", () => {
    store.applyBatch([log.put("a", "1")]);
    log.put("skipped", "x");
    expect(() => store.applyBatch([log.put("b", "2")])).toThrow(/entry 3 would skip entries: the applied index is 1/);
    expect(store.appliedIndex()).toBe(1);
    expect(store.get("b")).toBeNull();
  });

  test("a batch that is not contiguous is an invariant error", () => {
    const first = log.put("a", "1");
    log.put("gap", "x");
    expect(() => store.applyBatch([first, log.put("b", "2")])).toThrow(InvariantError);
  });

  test("a term going backwards is an invariant error", () => {
    log.term = 5;
    store.applyBatch([log.put("a", "1")]);
    log.term = 4;
    expect(() => store.applyBatch([log.put("b", "2")])).toThrow(/term 4, below the applied term 5/);
  });

  test("an undecodable entry is an invariant error naming its index, and the whole batch rolls back", () => {
    store.applyBatch([log.put("before", "1")]);
    const batch = [log.put("a", "1"), log.raw(new Uint8Array([0xde, 0xad, 0xbe, 0xef])), log.put("b", "2")];
    let thrown: unknown;
    try {
      store.applyBatch(batch);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvariantError);
    expect((thrown as Error).message).toMatch(/committed entry 3 \(term 1\) is not a valid command/);
    expect(store.appliedIndex()).toBe(1);
    expect(store.revision()).toBe(1);
    expect(store.get("a")).toBeNull();
  });

  test("a well-formed MessagePack entry that is not a command is an invariant error too", () => {
    const packr = new Packr({ useRecords: false });
    expect(() => store.applyBatch([log.raw(packr.pack({ v: 1, type: "put", requestId: "r", payload: { key: "" } }))])).toThrow(
      /committed entry 1 .* put key must not be empty/,
    );
  });

  test("an input of unknown kind is an invariant error", () => {
    expect(() => store.applyBatch([{ ...log.raw(bytes("x")), kind: "gossip" } as unknown as CommandInput])).toThrow(/entry 1 has unknown kind gossip/);
  });
});

describe("restart: the applied index is stored with the data", () => {
  let dir: { dir: string; cleanup: () => void };
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => dir.cleanup());

  test("after close and reopen the store continues at its applied index, and refuses the batch it applied", () => {
    const file = path.join(dir.dir, "kv.db");
    const log = new EntryLog();
    const batch: CommandInput[] = [log.put("a", "1"), log.put("b", "2"), log.put("a", "3"), log.delPrefix("b")];
    const first = KvStore.open({ path: file });
    first.applyBatch(batch);
    const before = { revision: first.revision(), index: first.appliedIndex(), kvs: first.range("").kvs, events: first.eventsSince(0) };
    first.close();

    const second = KvStore.open({ path: file });
    expect(() => second.applyBatch(batch)).toThrow(/entry 1 is applied already \(the applied index is 4\)/);
    expect({ revision: second.revision(), index: second.appliedIndex(), kvs: second.range("").kvs, events: second.eventsSince(0) }).toEqual(before);
    expect(before.revision).toBe(4);
    expect(text(second.get("a")!.value)).toBe("3");

    // and the next entry continues where the first process stopped
    expect(second.applyBatch([log.put("c", "4")]).map((r) => r.index)).toEqual([5]);
    expect(second.revision()).toBe(5);
    second.close();
  });

  test("a rolled-back batch leaves the file as it was", () => {
    const file = path.join(dir.dir, "kv.db");
    const log = new EntryLog();
    const store = KvStore.open({ path: file });
    store.applyBatch([log.put("a", "1")]);
    expect(() => store.applyBatch([log.put("b", "1"), log.raw(bytes("garbage"))])).toThrow(InvariantError);
    store.close();
    const reopened = KvStore.open({ path: file });
    expect(reopened.appliedIndex()).toBe(1);
    expect(reopened.get("b")).toBeNull();
    reopened.close();
  });

  test("durable index: with synchronous=normal it advances at checkpoints; with full at every batch", () => {
    const log = new EntryLog();
    const normal = KvStore.open({ path: path.join(dir.dir, "normal.db") });
    normal.applyBatch([log.put("a", "1"), log.put("a", "2")]);
    expect(normal.durableAppliedIndex()).toBe(0);
    expect(normal.checkpoint()).toBe(2);
    expect(normal.durableAppliedIndex()).toBe(2);
    normal.close();
    const reopened = KvStore.open({ path: path.join(dir.dir, "normal.db") });
    expect(reopened.durableAppliedIndex()).toBe(2);
    reopened.close();

    const full = KvStore.open({ path: path.join(dir.dir, "full.db"), synchronous: "full" });
    full.applyBatch([new EntryLog().put("a", "1")]);
    expect(full.durableAppliedIndex()).toBe(1);
    full.close();
  });

  test("a page cache much smaller than a batch loses nothing: spilled batches commit, a spilled rollback leaves no trace", () => {
    const file = path.join(dir.dir, "small-cache.db");
    const log = new EntryLog();
    const value = "v".repeat(200);
    const keyOf = (i: number): string => `key/${String(i).padStart(6, "0")}`;
    const store = KvStore.open({ path: file, pageCacheBytes: 64 * 1024 });
    for (let batch = 0; batch < 4; batch++) {
      store.applyBatch(Array.from({ length: 500 }, (_, i) => log.put(keyOf(batch * 500 + i), `${batch}:${value}`)));
    }
    const spilled = Array.from({ length: 500 }, (_, i) => log.put(keyOf(i), `rolled back:${value}`));
    expect(() => store.applyBatch([...spilled, log.raw(bytes("garbage"))])).toThrow(InvariantError);
    store.close();

    const reopened = KvStore.open({ path: file });
    expect(reopened.appliedIndex()).toBe(2_000);
    const kvs = reopened.range("", { limit: 10_000 }).kvs;
    expect(kvs.map((kv) => kv.key)).toEqual(Array.from({ length: 2_000 }, (_, i) => keyOf(i)));
    expect(kvs.every((kv, i) => text(kv.value) === `${Math.floor(i / 500)}:${value}`)).toBe(true);
    reopened.close();
  });

  test("a page cache size that is not a positive integer is a typed error", () => {
    for (const pageCacheBytes of [0, -1, 1.5]) {
      expect(() => KvStore.open({ path: path.join(dir.dir, "never.db"), pageCacheBytes })).toThrow(KvInputError);
    }
  });

  test("a file that is not a kv database is refused with a typed error", async () => {
    const fs = await import("node:fs");
    const file = path.join(dir.dir, "junk.db");
    fs.writeFileSync(file, "this is not sqlite".repeat(100));
    expect(() => KvStore.open({ path: file })).toThrow(expect.objectContaining({ code: "incompatible_database" }));
  });
});

describe("idempotency keys", () => {
  let store: KvStore;
  let log: EntryLog;
  beforeEach(() => {
    store = KvStore.open({ path: MEMORY_PATH, retention: { idempotencyKeysMax: 3, idempotencyWindowIndexes: 10 } });
    log = new EntryLog();
  });
  afterEach(() => store.close());

  test("a retry returns the first result and applies nothing", () => {
    const [first] = store.applyBatch([log.put("a", "1", {}, "token-1")]);
    store.applyBatch([log.put("other", "x")]);
    const [retry] = store.applyBatch([log.put("a", "1", {}, "token-1")]);
    expect(retry!.replayed).toBe(true);
    expect(retry!.result).toEqual(first!.result);
    expect(retry!.requestId).toBe("req-3");
    expect(store.get("a")!.version).toBe(1);
    expect(store.revision()).toBe(2);
    expect(store.appliedIndex()).toBe(3);
  });

  test("a token reused for a different request applies nothing and says so, without the first request's result", () => {
    const [first] = store.applyBatch([log.put("a", "1", {}, "token-1")]);
    const [reused] = store.applyBatch([log.put("b", "2", {}, "token-1")]);
    expect(reused!.replayed).toBe(true);
    expect(reused!.result).toEqual({ kind: "idempotency_key_reused", revision: 1, index: first!.index });
    expect(store.get("b")).toBeNull();
    expect(store.revision()).toBe(1);
    // The retry of the first request still gets its result.
    const [retry] = store.applyBatch([log.put("a", "1", {}, "token-1")]);
    expect(retry!.result).toEqual(first!.result);
  });

  test("a retry of a failed precondition returns the same failure, even if it would now succeed", () => {
    store.applyBatch([log.put("a", "1")]);
    const [first] = store.applyBatch([log.put("a", "2", { ifModRevision: 0 }, "t")]);
    store.applyBatch([log.del("a")]);
    const [retry] = store.applyBatch([log.put("a", "2", { ifModRevision: 0 }, "t")]);
    expect(first!.result.kind).toBe("precondition_failed");
    expect(retry!.result).toEqual(first!.result);
    expect(store.get("a")).toBeNull();
  });

  test("duplicates inside one batch are caught too", () => {
    const results = store.applyBatch([log.put("a", "1", {}, "t"), log.put("a", "1", {}, "t")]);
    expect(results.map((r) => r.replayed)).toEqual([false, true]);
    expect(store.get("a")!.version).toBe(1);
  });

  test("a token is forgotten after the index window: the retry then applies again", () => {
    store.applyBatch([log.put("a", "1", {}, "t")]); // index 1
    store.applyBatch(Array.from({ length: 8 }, () => log.command({ type: "noop", payload: {} }))); // 2..9
    const [inside] = store.applyBatch([log.put("a", "1", {}, "t")]); // index 10: 10 - 1 < 10
    expect(inside!.replayed).toBe(true);
    const [outside] = store.applyBatch([log.put("a", "1", {}, "t")]); // index 11: window passed
    expect(outside!.replayed).toBe(false);
    expect(store.get("a")!.version).toBe(2);
  });

  test("only the newest tokens are kept (count bound); the oldest is forgotten first", () => {
    store.applyBatch(["t1", "t2", "t3", "t4"].map((token, i) => log.put(`k${i}`, "v", {}, token)));
    const [t1] = store.applyBatch([log.put("k0", "v", {}, "t1")]);
    expect(t1!.replayed).toBe(false);
    const [t4] = store.applyBatch([log.put("k3", "v", {}, "t4")]);
    expect(t4!.replayed).toBe(true);
  });

  test("a first result too large to remember is replayed as already_applied, still without applying", () => {
    store.applyBatch([log.command({ type: "put", payload: { key: "big", value: new Uint8Array(IDEMPOTENCY_RESULT_BYTES_MAX) } })]);
    const readAndWrite = () => log.command({ type: "txn", payload: { compare: [], success: [{ get: { key: "big" } }, { put: { key: "counter", value: bytes("1") } }], failure: [] } }, "big-read");
    const [first] = store.applyBatch([readAndWrite()]);
    expect(first!.result).toMatchObject({ kind: "txn", revision: 2 });
    const [retry] = store.applyBatch([readAndWrite()]);
    expect(retry).toMatchObject({ replayed: true, result: { kind: "already_applied", revision: 2, index: 2 } });
    expect(store.get("counter")!.version).toBe(1);
  });

  test("the decision does not depend on how entries were batched", () => {
    const entries: CommandInput[] = [];
    const builder = new EntryLog();
    const rng = new Rng(7);
    // Few tokens, so both bounds (3 tokens, 10 indexes) come into play.
    for (let i = 0; i < 60; i++) entries.push(builder.put(`k${i % 4}`, `v${i}`, {}, `t${rng.int(0, 5)}`));
    const oneBatch = KvStore.open({ path: MEMORY_PATH, retention: { idempotencyKeysMax: 3, idempotencyWindowIndexes: 10 } });
    const single = oneBatch.applyBatch(entries);
    const manyBatches = KvStore.open({ path: MEMORY_PATH, retention: { idempotencyKeysMax: 3, idempotencyWindowIndexes: 10 } });
    const split = [entries.slice(0, 7), entries.slice(7, 8), entries.slice(8, 20), entries.slice(20)].flatMap((batch) => manyBatches.applyBatch(batch));
    expect(split).toEqual(single);
    expect(manyBatches.range("")).toEqual(oneBatch.range(""));
    expect(single.some((r) => r.replayed)).toBe(true);
    expect(single.some((r, i) => i >= 5 && !r.replayed)).toBe(true);
    oneBatch.close();
    manyBatches.close();
  });
});

describe("deferred commits (deferredCommitEntriesMax)", () => {
  /** What a crash right now would leave: the applied index another connection reads from the file. */
  function appliedOnDisk(file: string): number {
    const reader = new Database(file, { readonly: true });
    try {
      return (reader.prepare("SELECT applied_index FROM meta").get() as { applied_index: number }).applied_index;
    } finally {
      reader.close();
    }
  }

  test("reads see every applied batch at once; the file holds them after the entry limit or commitApplied", () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, "state.db");
    const store = KvStore.open({ path: file, deferredCommitEntriesMax: 3 });
    try {
      const log = new EntryLog();
      store.applyBatch([log.put("a", "1")]);
      store.applyBatch([log.put("b", "2")]);
      expect(text(store.get("b")!.value)).toBe("2");
      expect(store.appliedIndex()).toBe(2);
      expect(appliedOnDisk(file)).toBe(0); // a crash now: the node applies 1 and 2 again from its log
      store.applyBatch([log.put("c", "3")]);
      expect(appliedOnDisk(file)).toBe(3); // the third entry reached the limit
      store.applyBatch([log.put("d", "4")]);
      expect(appliedOnDisk(file)).toBe(3);
      store.commitApplied();
      expect(appliedOnDisk(file)).toBe(4);
      store.applyBatch([log.put("e", "5")]);
      const image = store.snapshot(); // a snapshot commits first: its image is what was applied
      expect(image.meta.index).toBe(5);
      expect(appliedOnDisk(file)).toBe(5);
    } finally {
      store.close();
      cleanup();
    }
  });

  test("a failed batch rolls back alone; the batches before it stay applied", () => {
    const { dir, cleanup } = tempDir();
    const store = KvStore.open({ path: path.join(dir, "state.db"), deferredCommitEntriesMax: 100 });
    try {
      const log = new EntryLog();
      store.applyBatch([log.put("a", "1")]);
      const bad = { ...log.put("b", "2"), data: new Uint8Array([0xc1]) };
      expect(() => store.applyBatch([bad])).toThrow(InvariantError);
      expect(store.appliedIndex()).toBe(1);
      expect(store.get("b")).toBeNull();
      store.commitApplied();
      expect(text(store.get("a")!.value)).toBe("1");
    } finally {
      store.close();
      cleanup();
    }
  });
});
