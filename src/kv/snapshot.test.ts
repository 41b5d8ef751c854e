import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { InvalidSnapshotError, KvStore, MEMORY_PATH } from "./index.js";
import { EntryLog, tempDir, text } from "./testing/entries.js";

let dir: { dir: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => dir.cleanup());

/** A store with data, deletes, a txn, events, an idempotency token and a member. */
function populated(store: KvStore, log: EntryLog): void {
  store.applyBatch([log.membership("n1", { voters: ["n1"], learners: [] }, { peer: "127.0.0.1:7380", client: "http://127.0.0.1:7379" })]);
  log.term = 2;
  const entries = [];
  for (let i = 0; i < 200; i++) entries.push(log.put(`key/${String(i).padStart(3, "0")}/ü`, `value ${i}`, i % 7 === 0 ? { lease: i } : {}));
  entries.push(log.delPrefix("key/01"), log.put("key/005/ü", "again", {}, "token"));
  store.applyBatch(entries);
}

function observable(store: KvStore) {
  return {
    index: store.appliedIndex(),
    term: store.appliedTerm(),
    revision: store.revision(),
    confState: store.confState(),
    members: store.members(),
    all: store.range("").kvs.map((kv) => ({ ...kv, value: text(kv.value) })),
    page: store.range("key/1", { limit: 5, after: "key/150" }),
    one: store.get("key/005/ü"),
    events: store.eventsSince(store.eventsCompactedRevision(), 50),
  };
}

function sources(): [string, () => KvStore][] {
  return [
    ["memory", () => KvStore.open({ path: MEMORY_PATH })],
    ["file", () => KvStore.open({ path: path.join(dir.dir, `src-${Math.random().toString(36).slice(2)}.db`) })],
  ];
}

describe.each(["memory", "file"])("restore into a fresh %s store", (target) => {
  const openTarget = () => (target === "memory" ? KvStore.open({ path: MEMORY_PATH }) : KvStore.open({ path: path.join(dir.dir, "target.db") }));

  test.each(sources())("from a %s store: identical reads, revision, applied index and membership", (_name, openSource) => {
    const source = openSource();
    const log = new EntryLog();
    populated(source, log);
    const snapshot = source.snapshot();
    expect(snapshot.meta).toEqual({ index: source.appliedIndex(), term: 2, confState: { voters: ["n1"], learners: [] } });

    const restored = openTarget();
    restored.restore(snapshot);
    expect(observable(restored)).toEqual(observable(source));

    // Both continue identically, including the remembered idempotency token.
    const next = [log.put("after", "x"), log.put("key/005/ü", "again", {}, "token")];
    expect(restored.applyBatch(next)).toEqual(source.applyBatch(next));
    expect(observable(restored)).toEqual(observable(source));
    source.close();
    restored.close();
  });
});

describe("restore", () => {
  test("a file restore survives reopening, and leaves no temporary file behind", () => {
    const log = new EntryLog();
    const source = KvStore.open({ path: MEMORY_PATH });
    populated(source, log);
    const file = path.join(dir.dir, "kv.db");
    const target = KvStore.open({ path: file });
    target.applyBatch([new EntryLog().put("old", "data")]);
    target.restore(source.snapshot());
    expect(target.durableAppliedIndex()).toBe(source.appliedIndex());
    target.close();
    expect(fs.readdirSync(dir.dir).filter((name) => name.includes("restore"))).toEqual([]);
    const reopened = KvStore.open({ path: file });
    expect(observable(reopened)).toEqual(observable(source));
    expect(reopened.get("old")).toBeNull();
    reopened.close();
  });

  test("a leftover temporary file from an interrupted restore is ignored and removed", () => {
    const file = path.join(dir.dir, "kv.db");
    const store = KvStore.open({ path: file });
    store.applyBatch([new EntryLog().put("kept", "1")]);
    store.close();
    fs.writeFileSync(`${file}.restore`, "half a snapshot");
    const reopened = KvStore.open({ path: file });
    expect(text(reopened.get("kept")!.value)).toBe("1");
    expect(fs.existsSync(`${file}.restore`)).toBe(false);
    reopened.close();
  });

  test.each(["memory", "file"])("bad snapshot bytes are refused and the %s store keeps its state", (mode) => {
    const store = mode === "memory" ? KvStore.open({ path: MEMORY_PATH }) : KvStore.open({ path: path.join(dir.dir, "kv.db") });
    store.applyBatch([new EntryLog().put("kept", "1")]);
    const good = store.snapshot();
    const meta = good.meta;
    const truncated = good.data.slice(0, good.data.length - 1000);
    const flipped = Uint8Array.from(good.data);
    flipped.fill(0x5a, 4096, 8192); // a whole page of garbage
    for (const data of [new Uint8Array(0), new TextEncoder().encode("not a database at all, no".repeat(200)), truncated, flipped]) {
      expect(() => store.restore({ meta, data })).toThrow(InvalidSnapshotError);
    }
    expect(text(store.get("kept")!.value)).toBe("1");
    store.applyBatch([new EntryLog(2).put("still", "works")]);
    expect(store.appliedIndex()).toBe(2);
    store.close();
  });

  test("a snapshot whose data is not at the index its metadata claims is refused", () => {
    const store = KvStore.open({ path: MEMORY_PATH });
    store.applyBatch([new EntryLog().put("a", "1")]);
    const snapshot = store.snapshot();
    expect(() => store.restore({ ...snapshot, meta: { ...snapshot.meta, index: 9 } })).toThrow(/snapshot says index 9 term 1, but its data is at index 1 term 1/);
    store.close();
  });

  test("the caller's snapshot bytes are not modified", () => {
    const source = KvStore.open({ path: path.join(dir.dir, "wal.db") });
    source.applyBatch([new EntryLog().put("a", "1")]);
    const snapshot = source.snapshot();
    const copy = Uint8Array.from(snapshot.data);
    const target = KvStore.open({ path: MEMORY_PATH });
    target.restore(snapshot);
    expect(Buffer.compare(snapshot.data, copy)).toBe(0);
    source.close();
    target.close();
  });
});
