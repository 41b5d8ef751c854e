import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { CompactedError, KvInputError, KvStore, MEMORY_PATH } from "./index.js";
import { bytes, EntryLog } from "./testing/entries.js";
import { EVENTS_PAGE_MAX } from "../util/limits.js";

let store: KvStore;
let log: EntryLog;

afterEach(() => store.close());

describe("change events", () => {
  beforeEach(() => {
    store = KvStore.open({ path: MEMORY_PATH });
    log = new EntryLog();
  });

  test("every change is an event at its revision; changes of nothing are not", () => {
    store.applyBatch([
      log.put("a", "1"), // 1
      log.put("b", "1"), // 2
      log.del("missing"), // no revision
      log.put("a", "2", { ifModRevision: 7 }), // precondition fails: no revision
      log.command({
        type: "txn",
        payload: { compare: [], success: [{ put: { key: "c", value: bytes("1") } }, { delete: { key: "a" } }, { get: { key: "b" } }], failure: [] },
      }), // 3
    ]);
    expect(store.eventsSince(0).events).toEqual([
      { revision: 1, key: "a", kind: "put" },
      { revision: 2, key: "b", kind: "put" },
      { revision: 3, key: "c", kind: "put" },
      { revision: 3, key: "a", kind: "delete" },
    ]);
    expect(store.eventsSince(2).events.map((e) => e.revision)).toEqual([3, 3]);
    expect(store.eventsSince(3)).toEqual({ events: [], more: false, revision: 3 });
  });

  test("a prefix delete records one delete per key, in key order", () => {
    store.applyBatch([log.put("d/b", "x"), log.put("d/a", "x"), log.put("d/c", "x"), log.delPrefix("d/")]);
    expect(store.eventsSince(3).events).toEqual([
      { revision: 4, key: "d/a", kind: "delete" },
      { revision: 4, key: "d/b", kind: "delete" },
      { revision: 4, key: "d/c", kind: "delete" },
    ]);
  });

  test("pages hold whole revisions; following them yields every event once", () => {
    // Revisions of 1, 3, 1, 3, ... events.
    for (let r = 0; r < 10; r++) {
      if (r % 2 === 0) store.applyBatch([log.put(`solo${r}`, "x")]);
      else store.applyBatch([log.command({ type: "txn", payload: { compare: [], success: [0, 1, 2].map((i) => ({ put: { key: `t${r}/${i}`, value: bytes("x") } })), failure: [] } })]);
    }
    const all = store.eventsSince(0).events;
    expect(all).toHaveLength(20);
    const seen = [];
    let after = 0;
    for (;;) {
      const page = store.eventsSince(after, 3);
      expect(page.events.length).toBeGreaterThan(0);
      const last = page.events.at(-1)!.revision;
      // never split: the next page starts with a new revision
      expect(all.filter((e) => e.revision === last)).toHaveLength(page.events.filter((e) => e.revision === last).length);
      seen.push(...page.events);
      after = last;
      if (!page.more) break;
    }
    expect(seen).toEqual(all);
  });

  test("a revision larger than the page limit comes whole, alone", () => {
    store.applyBatch(Array.from({ length: 5 }, (_, i) => log.put(`big/${i}`, "x")));
    store.applyBatch([log.delPrefix("big/"), log.put("after", "x")]);
    const page = store.eventsSince(5, 2);
    expect(page.events.map((e) => e.revision)).toEqual([6, 6, 6, 6, 6]);
    expect(page.more).toBe(true);
    expect(store.eventsSince(6, 2)).toMatchObject({ events: [{ revision: 7, key: "after" }], more: false });
  });

  test("bad arguments are input errors", () => {
    expect(() => store.eventsSince(-1)).toThrow(KvInputError);
    expect(() => store.eventsSince(0, 0)).toThrow(KvInputError);
    expect(() => store.eventsSince(0, EVENTS_PAGE_MAX + 1)).toThrow(KvInputError);
  });
});

describe("the retained window is bounded", () => {
  beforeEach(() => {
    store = KvStore.open({ path: MEMORY_PATH, retention: { eventsRetainedMax: 10 } });
    log = new EntryLog();
  });

  test("old revisions are dropped whole; asking for them is a CompactedError", () => {
    store.applyBatch(Array.from({ length: 25 }, (_, i) => log.put(`k${i}`, "x")));
    expect(store.eventsCompactedRevision()).toBe(15);
    const retained = store.eventsSince(15).events;
    expect(retained.map((e) => e.revision)).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    expect(() => store.eventsSince(14)).toThrow(CompactedError);
    expect(() => store.eventsSince(3)).toThrow(expect.objectContaining({ code: "compacted", compactedRevision: 15 }));
    expect(() => store.eventsSince(3)).toThrow(/oldest retained revision is 16/);
  });

  test("the window never holds more than its bound, and revisions are never split", () => {
    for (let batch = 0; batch < 20; batch++) {
      // each revision writes 3 keys
      store.applyBatch([log.command({ type: "txn", payload: { compare: [], success: [0, 1, 2].map((i) => ({ put: { key: `b${batch}/${i}`, value: bytes("x") } })), failure: [] } })]);
      const events = store.eventsSince(store.eventsCompactedRevision()).events;
      expect(events.length).toBeLessThanOrEqual(10);
      expect(events.length % 3).toBe(0);
      expect(events[0]!.revision).toBe(store.eventsCompactedRevision() + 1);
    }
    expect(store.eventsSince(store.eventsCompactedRevision()).events).toHaveLength(9);
  });

  test("one revision larger than the whole window is compacted as soon as it is applied", () => {
    store.applyBatch(Array.from({ length: 12 }, (_, i) => log.put(`k${i}`, "x")));
    store.applyBatch([log.delPrefix("k")]);
    expect(store.eventsCompactedRevision()).toBe(13);
    expect(store.eventsSince(13).events).toEqual([]);
    store.applyBatch([log.put("next", "x")]);
    expect(store.eventsSince(13).events).toEqual([{ revision: 14, key: "next", kind: "put" }]);
  });
});
