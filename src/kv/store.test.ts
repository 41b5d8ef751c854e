import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { KvInputError, KvStore, MEMORY_PATH, type ApplyInput, type CommandResult } from "./index.js";
import { EntryLog, text } from "./testing/entries.js";

let store: KvStore;
let log: EntryLog;

beforeEach(() => {
  store = KvStore.open({ path: MEMORY_PATH });
  log = new EntryLog();
});

afterEach(() => store.close());

function apply(entry: ApplyInput): CommandResult {
  const [applied] = store.applyBatch([entry]);
  expect(applied!.result.kind).not.toBe("conf_change");
  return applied!.result as CommandResult;
}

describe("put, get, delete (etcd semantics)", () => {
  test("an empty store is at revision 0 and has no keys", () => {
    expect(store.revision()).toBe(0);
    expect(store.get("a")).toBeNull();
  });

  test("each put gets a new revision; version counts puts; createRevision stays", () => {
    expect(apply(log.put("a", "1"))).toEqual({ kind: "put", revision: 1, key: "a", modRevision: 1, version: 1 });
    expect(apply(log.put("b", "x"))).toMatchObject({ revision: 2, modRevision: 2, version: 1 });
    expect(apply(log.put("a", "2"))).toEqual({ kind: "put", revision: 3, key: "a", modRevision: 3, version: 2 });
    const a = store.get("a")!;
    expect({ ...a, value: text(a.value) }).toEqual({ key: "a", value: "2", createRevision: 1, modRevision: 3, version: 2, lease: 0 });
    expect(store.revision()).toBe(3);
  });

  test("after a delete, a new put starts over: version 1 and a new createRevision", () => {
    apply(log.put("a", "1"));
    apply(log.put("a", "2"));
    expect(apply(log.del("a"))).toEqual({ kind: "delete", revision: 3, deleted: 1 });
    expect(store.get("a")).toBeNull();
    apply(log.put("a", "3"));
    expect(store.get("a")).toMatchObject({ createRevision: 4, modRevision: 4, version: 1 });
  });

  test("deleting a missing key deletes nothing and keeps the revision", () => {
    apply(log.put("a", "1"));
    expect(apply(log.del("zzz"))).toEqual({ kind: "delete", revision: 1, deleted: 0 });
    expect(store.revision()).toBe(1);
  });

  test("a prefix delete removes exactly the keys with that prefix, in one revision", () => {
    for (const key of ["dir/a", "dir/b", "dir/sub/c", "dir", "dis", "dir0"]) apply(log.put(key, "v"));
    expect(apply(log.delPrefix("dir/"))).toEqual({ kind: "delete", revision: 7, deleted: 3 });
    expect(store.range("").kvs.map((kv) => kv.key)).toEqual(["dir", "dir0", "dis"]);
    expect(apply(log.delPrefix("nothing/"))).toEqual({ kind: "delete", revision: 7, deleted: 0 });
  });

  test("the lease id is stored with the key and cleared by a put without one", () => {
    apply(log.put("a", "1", { lease: 7 }));
    expect(store.get("a")!.lease).toBe(7);
    apply(log.put("a", "2"));
    expect(store.get("a")!.lease).toBe(0);
  });

  test("values are bytes, including empty and non-UTF-8 ones", () => {
    apply(log.command({ type: "put", payload: { key: "bin", value: new Uint8Array([0, 0xff, 0xfe]) } }));
    apply(log.command({ type: "put", payload: { key: "empty", value: new Uint8Array(0) } }));
    expect([...store.get("bin")!.value]).toEqual([0, 0xff, 0xfe]);
    expect(store.get("empty")!.value.byteLength).toBe(0);
  });
});

describe("ifModRevision", () => {
  test("0 means only if absent", () => {
    expect(apply(log.put("a", "1", { ifModRevision: 0 }))).toMatchObject({ kind: "put", revision: 1 });
    const failed = apply(log.put("a", "2", { ifModRevision: 0 }));
    expect(failed).toMatchObject({ kind: "precondition_failed", revision: 1, key: "a", current: { key: "a", modRevision: 1, version: 1 } });
    expect(text(store.get("a")!.value)).toBe("1");
  });

  test("a matching modRevision writes; a stale one fails with the current kv and changes nothing", () => {
    apply(log.put("a", "1"));
    apply(log.put("a", "2"));
    expect(apply(log.put("a", "3", { ifModRevision: 2 }))).toMatchObject({ kind: "put", revision: 3, version: 3 });
    const failed = apply(log.put("a", "4", { ifModRevision: 2 }));
    expect(failed.kind).toBe("precondition_failed");
    expect(failed.revision).toBe(3);
    if (failed.kind === "precondition_failed") expect(text(failed.current!.value)).toBe("3");
    expect(store.revision()).toBe(3);
  });

  test("on a missing key, a non-zero ifModRevision fails with current null", () => {
    expect(apply(log.put("a", "1", { ifModRevision: 5 }))).toEqual({ kind: "precondition_failed", revision: 0, key: "a", current: null });
  });

  test("applies to deletes too", () => {
    apply(log.put("a", "1"));
    expect(apply(log.del("a", 7))).toMatchObject({ kind: "precondition_failed", current: { modRevision: 1 } });
    expect(apply(log.del("a", 1))).toEqual({ kind: "delete", revision: 2, deleted: 1 });
  });
});

describe("range", () => {
  // UTF-8 byte order: ASCII < Latin-1 supplement (é, 2 bytes) < CJK (3 bytes) < emoji (4 bytes).
  // UTF-16 order would put "😀" (surrogates D83D..) before "ｚ" (FF5A); byte order puts it after.
  const keys = ["b", "a/2", "a/1", "é", "ｚ", "😀", "a", "日本", "a/é"];
  const byteOrder = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

  beforeEach(() => {
    store.applyBatch(keys.map((key) => log.put(key, `v-${key}`)));
  });

  test("returns keys in UTF-8 byte order, not UTF-16 order", () => {
    const all = store.range("").kvs.map((kv) => kv.key);
    expect(all).toEqual(byteOrder);
    expect(all.indexOf("😀")).toBeGreaterThan(all.indexOf("ｚ"));
    expect(all).not.toEqual([...keys].sort());
  });

  test("a prefix selects exactly the keys that start with it", () => {
    expect(store.range("a/").kvs.map((kv) => kv.key)).toEqual(["a/1", "a/2", "a/é"]);
    expect(store.range("日").kvs.map((kv) => kv.key)).toEqual(["日本"]);
    expect(store.range("c").kvs).toEqual([]);
  });

  test("limit and after paginate through every key once, with more on every page but the last", () => {
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const page = store.range("", after === undefined ? { limit: 2 } : { limit: 2, after });
      pages += 1;
      seen.push(...page.kvs.map((kv) => kv.key));
      if (!page.more) break;
      expect(page.kvs).toHaveLength(2);
      after = page.kvs.at(-1)!.key;
    }
    expect(seen).toEqual(byteOrder);
    expect(pages).toBe(Math.ceil(keys.length / 2));
  });

  test("after before the prefix starts at the prefix; after past it gives nothing", () => {
    expect(store.range("a/", { after: "a" }).kvs.map((kv) => kv.key)).toEqual(["a/1", "a/2", "a/é"]);
    expect(store.range("a/", { after: "a/1" }).kvs.map((kv) => kv.key)).toEqual(["a/2", "a/é"]);
    expect(store.range("a/", { after: "b" })).toMatchObject({ kvs: [], more: false });
  });

  test("a prefix ending in the highest code point is bounded correctly", () => {
    store.applyBatch([log.put("\u{10FFFF}", "max"), log.put("\u{10FFFF}x", "y")]);
    expect(store.range("\u{10FFFF}").kvs.map((kv) => kv.key)).toEqual(["\u{10FFFF}", "\u{10FFFF}x"]);
  });

  test("carries the store revision", () => {
    expect(store.range("a").revision).toBe(keys.length);
  });

  test("bad arguments are typed input errors", () => {
    expect(() => store.range("", { limit: 0 })).toThrow(KvInputError);
    expect(() => store.range("", { limit: 1.5 })).toThrow(/limit must be an integer/);
    expect(() => store.get("")).toThrow(/key must not be empty/);
    expect(() => store.get("x".repeat(5000))).toThrow(/5000 bytes/);
  });
});
