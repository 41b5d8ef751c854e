import { describe, expect, it } from "vitest";
import { Rng } from "../util/rng.js";
import { ConfChangeDecodeError, applyChange, decodeConfChange, encodeConfChange } from "./confchange.js";
import { Inflights, Progress } from "./progress.js";
import { RaftNode } from "./raft.js";
import { MemoryStorage } from "./log-storage.js";
import { ConfChangeType, EntryType, ProgressState, type ConfState } from "./types.js";

describe("in-flight window", () => {
  it("is full by count or by bytes, and frees acknowledged appends", () => {
    const inflights = new Inflights(3, 100);
    inflights.add(1, 10);
    inflights.add(2, 10);
    expect(inflights.full()).toBe(false);
    inflights.add(5, 10);
    expect(inflights.full()).toBe(true); // by count
    inflights.freeLE(2);
    expect(inflights.count).toBe(1);
    inflights.add(6, 95);
    expect(inflights.full()).toBe(true); // by bytes
    inflights.freeLE(6);
    expect([inflights.count, inflights.bytes]).toEqual([0, 0]);
    expect(() => {
      inflights.add(7, 1);
      inflights.add(7, 1);
    }).toThrow(/must grow/);
  });
});

describe("memory storage", () => {
  const entry = (index: number, term: number) => ({ index, term, type: EntryType.Normal, data: new Uint8Array([index]) });

  it("appends, and replaces the entries from the first new index on", () => {
    const storage = new MemoryStorage();
    storage.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    storage.append([entry(4, 1)]);
    storage.append([entry(3, 2), entry(4, 2)]); // a new leader's entries overwrite 3 and 4
    expect(storage.allEntries().map((e) => `${e.index}/${e.term}`)).toEqual(["1/1", "2/1", "3/2", "4/2"]);
    storage.createSnapshot(2, { voters: ["a"], learners: [] }, new Uint8Array());
    storage.compact(2);
    storage.append([entry(4, 3), entry(5, 3)]);
    expect([storage.firstIndex(), storage.lastIndex(), storage.term(3), storage.term(4), storage.term(2)]).toEqual([3, 5, 2, 3, 1]);
    expect(() => storage.append([entry(7, 3)])).toThrow(/gap/);
  });
});

describe("progress", () => {
  it("probes one append at a time, then pipelines once the match is known", () => {
    const pr = new Progress(11, false, 4, 1 << 20);
    expect(pr.state).toBe(ProgressState.Probe);
    pr.sentEntries(12, 2, 100);
    expect(pr.isPaused()).toBe(true);
    expect(pr.maybeUpdate(12)).toBe(true);
    pr.becomeReplicate();
    for (let i = 13; i <= 16; i++) pr.sentEntries(i, 1, 10);
    expect(pr.next).toBe(17);
    expect(pr.isPaused()).toBe(true);
  });

  it("backs up to the follower's hint on rejection and ignores stale rejections", () => {
    const pr = new Progress(51, false, 4, 1 << 20);
    expect(pr.maybeDecrTo(40, 10)).toBe(false); // not the probe we sent (next-1 = 50)
    expect(pr.maybeDecrTo(50, 10)).toBe(true);
    expect(pr.next).toBe(11);
  });
});

describe("membership change encoding", () => {
  it("round-trips, and refuses malformed bytes with a clear error", () => {
    const change = { type: ConfChangeType.AddLearner, node: "n4", context: new Uint8Array([1, 2, 3]) };
    expect(decodeConfChange(encodeConfChange(change))).toEqual(change);
    expect(decodeConfChange(encodeConfChange({ type: ConfChangeType.Remove, node: "é" }))).toEqual({ type: ConfChangeType.Remove, node: "é" });
    const good = encodeConfChange(change);
    expect(() => decodeConfChange(good.subarray(0, 5))).toThrow(ConfChangeDecodeError);
    expect(() => decodeConfChange(Uint8Array.from([9, ...good.subarray(1)]))).toThrow(/version/);
    expect(() => decodeConfChange(Uint8Array.from([1, 7, ...good.subarray(2)]))).toThrow(/change type/);
    expect(() => decodeConfChange(good.subarray(0, good.length - 1))).toThrow(/length/);
  });

  it("applies changes one server at a time; AddLearner never demotes a voter", () => {
    let conf: ConfState = { voters: ["a", "b"], learners: [] };
    conf = applyChange(conf, { type: ConfChangeType.AddLearner, node: "c" });
    expect(conf).toEqual({ voters: ["a", "b"], learners: ["c"] });
    conf = applyChange(conf, { type: ConfChangeType.AddVoter, node: "c" });
    expect(conf).toEqual({ voters: ["a", "b", "c"], learners: [] });
    conf = applyChange(conf, { type: ConfChangeType.AddLearner, node: "a" });
    expect(conf.voters).toContain("a");
    conf = applyChange(conf, { type: ConfChangeType.Remove, node: "b" });
    expect(conf).toEqual({ voters: ["a", "c"], learners: [] });
  });
});

describe("configuration", () => {
  it("validates every value at construction", () => {
    const base = { id: "a", storage: new MemoryStorage(), rng: new Rng(1) };
    expect(() => new RaftNode({ ...base, id: "" })).toThrow(/id/);
    expect(() => new RaftNode({ ...base, electionTimeoutTicks: 0 })).toThrow(/electionTimeoutTicks/);
    expect(() => new RaftNode({ ...base, electionTimeoutTicks: 5, heartbeatIntervalTicks: 5 })).toThrow(/heartbeatIntervalTicks/);
    expect(() => new RaftNode({ ...base, inflightAppendsMax: 1.5 })).toThrow(/inflightAppendsMax/);
    expect(() => new RaftNode({ ...base, appendBytesMax: 1000, inflightBytesMax: 10 })).toThrow(/inflightBytesMax/);
    expect(() => new RaftNode({ ...base, applied: 5 })).toThrow(/applied/);
    expect(() => new RaftNode(base)).not.toThrow();
  });
});
