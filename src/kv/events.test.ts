import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { CompactedError, KvInputError, KvStore, MEMORY_PATH } from "./index.js";
import { packEventRows, unpackEventRow } from "./events.js";
import { APPLICATION_ID } from "./schema.js";
import { bytes, EntryLog, tempDir } from "./testing/entries.js";
import { InvariantError } from "../util/assert.js";
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

describe("events are stored packed, a batch at a time", () => {
  beforeEach(() => {
    // A window of 64,000 events: rows of up to 64 events, as with the default window.
    store = KvStore.open({ path: MEMORY_PATH, retention: { eventsRetainedMax: 64_000 } });
    log = new EntryLog();
  });

  test("a large batch reads back whole and in order, across many rows", () => {
    store.applyBatch(Array.from({ length: 500 }, (_, i) => log.put(`k${i}`, "x")));
    const all = store.eventsSince(0).events;
    expect(all).toHaveLength(500);
    expect(all.map((e) => e.revision)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(all[499]).toEqual({ revision: 500, key: "k499", kind: "put" });
    expect(store.eventsSince(437).events.map((e) => e.revision)).toEqual(Array.from({ length: 63 }, (_, i) => i + 438));
  });

  test("a revision with more events than a row holds stays whole", () => {
    store.applyBatch(Array.from({ length: 100 }, (_, i) => log.put(`d/${String(i).padStart(3, "0")}`, "x")));
    store.applyBatch([log.put("before", "x"), log.delPrefix("d/"), log.put("after", "x")]);
    const tail = store.eventsSince(100).events;
    expect(tail).toHaveLength(102);
    expect(tail[0]).toEqual({ revision: 101, key: "before", kind: "put" });
    expect(tail.slice(1, 101).every((e) => e.revision === 102 && e.kind === "delete")).toBe(true);
    expect(tail[101]).toEqual({ revision: 103, key: "after", kind: "put" });
    expect(store.eventsSince(101, 10)).toMatchObject({ more: true, events: expect.arrayContaining([expect.objectContaining({ revision: 102 })]) });
    expect(store.eventsSince(101, 10).events).toHaveLength(100);
  });

  test("trimming drops whole rows: the window stays within a row of its bound", () => {
    for (let batch = 0; batch < 70; batch++) store.applyBatch(Array.from({ length: 1000 }, (_, i) => log.put(`k${i}`, "x")));
    const compacted = store.eventsCompactedRevision();
    expect(compacted).toBeGreaterThan(0);
    const retained = store.revision() - compacted; // one event per revision here
    expect(retained).toBeLessThanOrEqual(64_000);
    expect(retained).toBeGreaterThan(64_000 - 64);
    expect(() => store.eventsSince(compacted - 1)).toThrow(CompactedError);
    expect(store.eventsSince(compacted, 1).events).toEqual([{ revision: compacted + 1, key: expect.any(String), kind: "put" }]);
  });
});

describe("rows are checked when read", () => {
  test("a damaged row is an invariant error naming its revision, not a silent gap", () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, "state.db");
      store = KvStore.open({ path: file });
      log = new EntryLog();
      store.applyBatch([log.put("a", "1"), log.put("b", "2")]);
      store.close();
      const raw = new Database(file);
      raw.prepare("UPDATE events SET data = ? WHERE last_revision = 2").run(Buffer.from([0x93, 0x01]));
      raw.close();
      store = KvStore.open({ path: file });
      expect(() => store.eventsSince(0)).toThrow(InvariantError);
      expect(() => store.eventsSince(0)).toThrow(/change-event row ending at revision 2 is damaged/);
    } finally {
      store.close();
      cleanup();
    }
  });

  test("packing and unpacking round-trip; rows never split a revision", () => {
    const events = [1, 1, 1, 2, 3, 3].map((revision, i) => ({ revision, key: Buffer.from(`key${i}`), kind: i % 2 === 0 ? ("put" as const) : ("delete" as const) }));
    const rows = packEventRows(events, 2);
    expect(rows.map((row) => [row.lastRevision, row.count])).toEqual([
      [1, 3],
      [2, 1],
      [3, 2],
    ]);
    expect(rows.flatMap(unpackEventRow)).toEqual(events.map((e) => ({ revision: e.revision, key: e.key.toString(), kind: e.kind })));
    expect(() => unpackEventRow({ ...rows[0]!, count: 4 })).toThrow(/says 4 events but holds 3 revisions/);
    expect(() => unpackEventRow({ ...rows[2]!, lastRevision: 4 })).toThrow(/last event is at revision 3/);
  });
});

describe("a version 1 database (one row per event) is migrated when opened", () => {
  test("its events, data and applied state survive; it is then the current version (3)", () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, "state.db");
      writeVersion1Database(file);
      store = KvStore.open({ path: file });
      expect(store.appliedIndex()).toBe(3);
      expect(store.revision()).toBe(3);
      expect(store.eventsCompactedRevision()).toBe(1);
      expect(store.eventsSince(1).events).toEqual([
        { revision: 2, key: "b", kind: "put" },
        { revision: 3, key: "b", kind: "delete" },
        { revision: 3, key: "c", kind: "delete" },
      ]);
      expect(store.get("a")?.version).toBe(1);
      log = new EntryLog();
      for (let i = 0; i < 3; i++) log.raw(new Uint8Array(0));
      store.applyBatch([log.put("d", "4")]);
      expect(store.eventsSince(3).events).toEqual([{ revision: 4, key: "d", kind: "put" }]);
      store.close();
      const raw = new Database(file, { readonly: true });
      expect(raw.pragma("user_version", { simple: true })).toBe(3);
      raw.close();
    } finally {
      store.close();
      cleanup();
    }
  });
});

describe("a version 1 snapshot image (from a node not yet upgraded) is migrated when restored", () => {
  test.each(["memory", "file"])("into a %s store", (mode) => {
    const { dir, cleanup } = tempDir();
    try {
      const source = path.join(dir, "v1.db");
      writeVersion1Database(source);
      const image = fs.readFileSync(source);
      store = KvStore.open({ path: mode === "memory" ? MEMORY_PATH : path.join(dir, "state.db") });
      store.restore({ meta: { index: 3, term: 1, confState: { voters: [], learners: [] } }, data: image });
      expect(store.appliedIndex()).toBe(3);
      expect(store.eventsSince(1).events.map((e) => `${e.revision}:${e.kind}:${e.key}`)).toEqual(["2:put:b", "3:delete:b", "3:delete:c"]);
    } finally {
      store.close();
      cleanup();
    }
  });
});

/** The version 1 schema, as Flotilla 0.1.0 wrote it, with a few applied writes. */
function writeVersion1Database(file: string): void {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.exec(`
    CREATE TABLE meta (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), applied_index INTEGER NOT NULL, applied_term INTEGER NOT NULL,
      revision INTEGER NOT NULL, events_compacted_revision INTEGER NOT NULL, idempotency_seq INTEGER NOT NULL, conf_state TEXT NOT NULL);
    INSERT INTO meta VALUES (1, 3, 1, 3, 1, 0, '{"voters":[],"learners":[]}');
    CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB NOT NULL, create_revision INTEGER NOT NULL, mod_revision INTEGER NOT NULL,
      version INTEGER NOT NULL, lease INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE members (id TEXT PRIMARY KEY, peer TEXT NOT NULL, client TEXT NOT NULL, auto_promote INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
    CREATE TABLE events (id INTEGER PRIMARY KEY, revision INTEGER NOT NULL, key BLOB NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('put', 'delete')));
    CREATE INDEX events_by_revision ON events (revision);
    CREATE TABLE idempotency (seq INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE, applied_index INTEGER NOT NULL, result BLOB NOT NULL);
    CREATE INDEX idempotency_by_index ON idempotency (applied_index);
    INSERT INTO kv VALUES (x'61', x'31', 1, 1, 1, 0);
    INSERT INTO events (id, revision, key, kind) VALUES (2, 2, x'62', 'put'), (3, 3, x'62', 'delete'), (4, 3, x'63', 'delete');
  `);
  db.pragma(`application_id = ${APPLICATION_ID}`);
  db.pragma("user_version = 1");
  db.close();
}
