import path from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { InvariantError } from "../util/assert.js";
import { decodeMemberContext, encodeMemberContext, KvStore, MalformedCommandError, MEMORY_PATH } from "./index.js";
import { bytes, EntryLog, tempDir } from "./testing/entries.js";

const n1 = { peer: "10.0.0.1:7380", client: "http://10.0.0.1:7379", autoPromote: false };
const n2 = { peer: "10.0.0.2:7380" };

let store: KvStore;
let log: EntryLog;
beforeEach(() => {
  store = KvStore.open({ path: MEMORY_PATH });
  log = new EntryLog();
});
afterEach(() => store.close());

describe("member context", () => {
  test("round trips, client optional", () => {
    expect(decodeMemberContext(encodeMemberContext(n1))).toEqual({ peer: "10.0.0.1:7380", client: "http://10.0.0.1:7379", autoPromote: false });
    expect(decodeMemberContext(encodeMemberContext(n2))).toEqual({ peer: "10.0.0.2:7380", client: "", autoPromote: false });
  });

  test("marks a learner that joined on its own for automatic promotion", () => {
    expect(decodeMemberContext(encodeMemberContext({ peer: "h:1", autoPromote: true }))).toEqual({ peer: "h:1", client: "", autoPromote: true });
    store.applyBatch([log.membership("j", { voters: [], learners: ["j"] }, { peer: "h:1", autoPromote: true })]);
    expect(store.members()).toEqual([{ id: "j", peer: "h:1", client: "", autoPromote: true, voter: false }]);
  });

  test("malformed contexts are typed errors", () => {
    expect(() => decodeMemberContext(bytes("{}"))).toThrow(MalformedCommandError);
    expect(() => encodeMemberContext({ peer: "" })).toThrow(/peer address must not be empty/);
    expect(() => decodeMemberContext(encodeMemberContext({ peer: "a" }).slice(0, 2))).toThrow(/not valid MessagePack/);
  });
});

describe("membership changes", () => {
  test("store the membership and the addresses from the change", () => {
    const [result] = store.applyBatch([log.membership("n1", { voters: ["n1"], learners: [] }, n1)]);
    expect(result).toMatchObject({ index: 1, requestId: null, result: { kind: "conf_change", confState: { voters: ["n1"], learners: [] } } });
    store.applyBatch([log.membership("n2", { voters: ["n1"], learners: ["n2"] }, n2)]);
    expect(store.confState()).toEqual({ voters: ["n1"], learners: ["n2"] });
    expect(store.members()).toEqual([
      { id: "n1", peer: "10.0.0.1:7380", client: "http://10.0.0.1:7379", autoPromote: false, voter: true },
      { id: "n2", peer: "10.0.0.2:7380", client: "", autoPromote: false, voter: false },
    ]);
    expect(store.appliedIndex()).toBe(2);
  });

  test("promoting a learner without addresses keeps its addresses; removing forgets them", () => {
    store.applyBatch([log.membership("n1", { voters: ["n1"], learners: [] }, n1), log.membership("n2", { voters: ["n1"], learners: ["n2"] }, n2)]);
    store.applyBatch([log.membership("n2", { voters: ["n1", "n2"], learners: [] })]);
    expect(store.members()[1]).toEqual({ id: "n2", peer: "10.0.0.2:7380", client: "", autoPromote: false, voter: true });
    store.applyBatch([log.membership("n2", { voters: ["n1"], learners: [] })]);
    expect(store.members().map((m) => m.id)).toEqual(["n1"]);
    store.applyBatch([log.membership("n2", { voters: ["n1"], learners: ["n2"] })]);
    expect(store.members()[1]).toEqual({ id: "n2", peer: "", client: "", autoPromote: false, voter: false });
  });

  test("an index already applied is refused, not skipped: applying an entry twice is a bug upstream", () => {
    const change = log.membership("n1", { voters: ["n1"], learners: [] }, n1);
    store.applyBatch([change]);
    expect(() => store.applyBatch([{ ...change, membership: { voters: [], learners: [] } }])).toThrow(/entry 1 is applied already/);
    expect(store.confState()).toEqual({ voters: ["n1"], learners: [] });
  });

  test("membership survives a restart", () => {
    const dir = tempDir();
    try {
      const file = path.join(dir.dir, "kv.db");
      const first = KvStore.open({ path: file });
      first.applyBatch([log.membership("n1", { voters: ["n1"], learners: [] }, n1)]);
      first.close();
      const second = KvStore.open({ path: file });
      expect(second.confState()).toEqual({ voters: ["n1"], learners: [] });
      expect(second.members()).toEqual([{ id: "n1", peer: "10.0.0.1:7380", client: "http://10.0.0.1:7379", autoPromote: false, voter: true }]);
      second.close();
    } finally {
      dir.cleanup();
    }
  });

  test("commands and membership changes apply in one batch, in order", () => {
    const results = store.applyBatch([log.put("a", "1"), log.membership("n1", { voters: ["n1"], learners: [] }, n1), log.put("b", "2")]);
    expect(results.map((r) => r.result.kind)).toEqual(["put", "conf_change", "put"]);
    expect(results[1]!.result).toEqual({ kind: "conf_change", revision: 1, confState: { voters: ["n1"], learners: [] } });
    expect(store.members()).toHaveLength(1);
    expect(store.revision()).toBe(2);
  });

  test("a malformed context in a committed change is an invariant error naming the entry", () => {
    const bad = { ...log.membership("n1", { voters: ["n1"], learners: [] }), context: bytes("junk") };
    expect(() => store.applyBatch([bad])).toThrow(InvariantError);
    expect(() => store.applyBatch([bad])).toThrow(/committed membership change at entry 1/);
    expect(store.appliedIndex()).toBe(0);
  });

  test("a membership with a node both voter and learner is an invariant error", () => {
    expect(() => store.applyBatch([log.membership("n1", { voters: ["n1"], learners: ["n1"] })])).toThrow(/both voter and learner/);
  });
});

describe("removed members", () => {
  test("are remembered until added again, across a restart", () => {
    const dir = tempDir();
    try {
      const file = path.join(dir.dir, "kv.db");
      const first = KvStore.open({ path: file });
      const changes = new EntryLog();
      first.applyBatch([changes.membership("n1", { voters: ["n1"], learners: [] }, n1), changes.membership("n2", { voters: ["n1", "n2"], learners: [] }, n2)]);
      expect(first.removedMembers()).toEqual([]);
      first.applyBatch([changes.membership("n2", { voters: ["n1"], learners: [] })]);
      expect(first.removedMembers()).toEqual(["n2"]);
      first.close();
      const second = KvStore.open({ path: file });
      expect(second.removedMembers()).toEqual(["n2"]);
      second.applyBatch([changes.membership("n2", { voters: ["n1"], learners: ["n2"] }, n2)]);
      expect(second.removedMembers()).toEqual([]);
      second.close();
    } finally {
      dir.cleanup();
    }
  });
});
