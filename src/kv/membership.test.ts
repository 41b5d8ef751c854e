import path from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { ConfChangeType, EntryType, type ConfChange, type ConfState, type Entry } from "../raft/types.js";
import { InvariantError } from "../util/assert.js";
import { decodeMemberContext, encodeMemberContext, KvStore, MalformedCommandError, MEMORY_PATH } from "./index.js";
import { bytes, EntryLog, tempDir } from "./testing/entries.js";

const n1 = encodeMemberContext({ peer: "10.0.0.1:7380", client: "http://10.0.0.1:7379", autoPromote: false });
const n2 = encodeMemberContext({ peer: "10.0.0.2:7380" });

let store: KvStore;
beforeEach(() => {
  store = KvStore.open({ path: MEMORY_PATH });
});
afterEach(() => store.close());

describe("member context", () => {
  test("round trips, client optional", () => {
    expect(decodeMemberContext(n1)).toEqual({ peer: "10.0.0.1:7380", client: "http://10.0.0.1:7379", autoPromote: false });
    expect(decodeMemberContext(n2)).toEqual({ peer: "10.0.0.2:7380", client: "", autoPromote: false });
  });

  test("marks a learner that joined on its own for automatic promotion", () => {
    expect(decodeMemberContext(encodeMemberContext({ peer: "h:1", autoPromote: true }))).toEqual({ peer: "h:1", client: "", autoPromote: true });
    store.applyConfChange(1, 1, { type: ConfChangeType.AddLearner, node: "j", context: encodeMemberContext({ peer: "h:1", autoPromote: true }) }, { voters: [], learners: ["j"] });
    expect(store.members()).toEqual([{ id: "j", peer: "h:1", client: "", autoPromote: true, voter: false }]);
  });

  test("malformed contexts are typed errors", () => {
    expect(() => decodeMemberContext(bytes("{}"))).toThrow(MalformedCommandError);
    expect(() => encodeMemberContext({ peer: "" })).toThrow(/peer address must not be empty/);
    expect(() => decodeMemberContext(encodeMemberContext({ peer: "a" }).slice(0, 2))).toThrow(/not valid MessagePack/);
  });
});

describe("applyConfChange", () => {
  test("stores the membership and the addresses from the context", () => {
    const result = store.applyConfChange(1, 1, { type: ConfChangeType.AddVoter, node: "n1", context: n1 }, { voters: ["n1"], learners: [] });
    expect(result).toMatchObject({ index: 1, requestId: null, result: { kind: "conf_change", confState: { voters: ["n1"], learners: [] } } });
    store.applyConfChange(2, 1, { type: ConfChangeType.AddLearner, node: "n2", context: n2 }, { voters: ["n1"], learners: ["n2"] });
    expect(store.confState()).toEqual({ voters: ["n1"], learners: ["n2"] });
    expect(store.members()).toEqual([
      { id: "n1", peer: "10.0.0.1:7380", client: "http://10.0.0.1:7379", autoPromote: false, voter: true },
      { id: "n2", peer: "10.0.0.2:7380", client: "", autoPromote: false, voter: false },
    ]);
    expect(store.appliedIndex()).toBe(2);
  });

  test("promoting a learner without a context keeps its addresses; removing forgets them", () => {
    store.applyConfChange(1, 1, { type: ConfChangeType.AddVoter, node: "n1", context: n1 }, { voters: ["n1"], learners: [] });
    store.applyConfChange(2, 1, { type: ConfChangeType.AddLearner, node: "n2", context: n2 }, { voters: ["n1"], learners: ["n2"] });
    store.applyConfChange(3, 1, { type: ConfChangeType.AddVoter, node: "n2" }, { voters: ["n1", "n2"], learners: [] });
    expect(store.members()[1]).toEqual({ id: "n2", peer: "10.0.0.2:7380", client: "", autoPromote: false, voter: true });
    store.applyConfChange(4, 1, { type: ConfChangeType.Remove, node: "n2" }, { voters: ["n1"], learners: [] });
    expect(store.members().map((m) => m.id)).toEqual(["n1"]);
    store.applyConfChange(5, 1, { type: ConfChangeType.AddLearner, node: "n2" }, { voters: ["n1"], learners: ["n2"] });
    expect(store.members()[1]).toEqual({ id: "n2", peer: "", client: "", autoPromote: false, voter: false });
  });

  test("an already applied index is skipped", () => {
    store.applyConfChange(1, 1, { type: ConfChangeType.AddVoter, node: "n1", context: n1 }, { voters: ["n1"], learners: [] });
    expect(store.applyConfChange(1, 1, { type: ConfChangeType.Remove, node: "n1" }, { voters: [], learners: [] })).toBeNull();
    expect(store.confState()).toEqual({ voters: ["n1"], learners: [] });
  });

  test("membership survives a restart", () => {
    const dir = tempDir();
    try {
      const file = path.join(dir.dir, "kv.db");
      const first = KvStore.open({ path: file });
      first.applyConfChange(1, 1, { type: ConfChangeType.AddVoter, node: "n1", context: n1 }, { voters: ["n1"], learners: [] });
      first.close();
      const second = KvStore.open({ path: file });
      expect(second.confState()).toEqual({ voters: ["n1"], learners: [] });
      expect(second.members()).toEqual([{ id: "n1", peer: "10.0.0.1:7380", client: "http://10.0.0.1:7379", autoPromote: false, voter: true }]);
      second.close();
    } finally {
      dir.cleanup();
    }
  });
});

describe("conf change entries in applyBatch", () => {
  const confEntry = (index: number): Entry => ({ index, term: 1, type: EntryType.ConfChange, data: bytes("raft's encoding") });

  test("the handler decodes the change and returns the new membership, inside the batch", () => {
    const log = new EntryLog();
    const seen: number[] = [];
    const changes: Record<number, [ConfChange, ConfState]> = {
      2: [{ type: ConfChangeType.AddVoter, node: "n1", context: n1 }, { voters: ["n1"], learners: [] }],
    };
    const batch = [log.put("a", "1"), confEntry(2), new EntryLog(3).put("b", "2")];
    const results = store.applyBatch(batch, (entry) => {
      seen.push(entry.index);
      const [change, confState] = changes[entry.index]!;
      return { change, confState };
    });
    expect(seen).toEqual([2]);
    expect(results.map((r) => r.result.kind)).toEqual(["put", "conf_change", "put"]);
    expect(results[1]!.result).toEqual({ kind: "conf_change", revision: 1, confState: { voters: ["n1"], learners: [] } });
    expect(store.members()).toHaveLength(1);
  });

  test("a conf change entry without a handler is an invariant error", () => {
    expect(() => store.applyBatch([confEntry(1)])).toThrow(/entry 1 is a membership change but applyBatch was given no onConfChange handler/);
  });

  test("a malformed context in a committed change is an invariant error naming the entry", () => {
    expect(() => store.applyConfChange(1, 1, { type: ConfChangeType.AddVoter, node: "n1", context: bytes("junk") }, { voters: ["n1"], learners: [] })).toThrow(InvariantError);
    expect(() => store.applyConfChange(1, 1, { type: ConfChangeType.AddVoter, node: "n1", context: bytes("junk") }, { voters: ["n1"], learners: [] })).toThrow(
      /committed membership change at entry 1/,
    );
    expect(store.appliedIndex()).toBe(0);
  });

  test("a membership with a node both voter and learner is an invariant error", () => {
    expect(() => store.applyConfChange(1, 1, { type: ConfChangeType.AddVoter, node: "n1" }, { voters: ["n1"], learners: ["n1"] })).toThrow(/both voter and learner/);
  });
});
