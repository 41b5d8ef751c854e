import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { InvariantError } from "../util/assert.js";
import { WAL_INLINE_WRITE_BYTES_MAX } from "../util/limits.js";
import { EMPTY_HARD_STATE, EntryType, type Snapshot } from "../raft/types.js";
import { StorageError } from "./errors.js";
import { openStorage } from "./open-storage.js";
import { Wal } from "./wal.js";
import { entries, entry, makeTempDir, removeDir, segmentFiles, snapshotFiles, summary } from "./testing/fixtures.js";

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const dir = await makeTempDir();
  dirs.push(dir);
  return dir;
}
/** Opens, takes what recovery found, and closes again. */
async function recoverOnce(dir: string, segmentBytesMax?: number) {
  const { wal, recovered, report } = await Wal.open(dir, { segmentBytesMax });
  await wal.close();
  return { recovered, report };
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map(removeDir));
});

async function reopen(dir: string, segmentBytesMax?: number) {
  return Wal.open(dir, { segmentBytesMax });
}

function snapshotAt(index: number, term: number, text = `state@${index}`): Snapshot {
  return { meta: { index, term, confState: { voters: ["n1", "n2", "n3"], learners: ["n4"] } }, data: new Uint8Array(Buffer.from(text)) };
}

describe("Wal: append and reopen", () => {
  it("starts empty, then returns every appended entry and the hard state after a reopen", async () => {
    const dir = await freshDir();
    const first = await Wal.open(dir);
    expect(first.recovered).toEqual({ hardState: EMPTY_HARD_STATE, snapshot: undefined, entries: [] });
    await first.wal.append(entries(1, 3, 1), { term: 1, vote: "n1", commit: 0 });
    await first.wal.append([{ index: 4, term: 2, type: EntryType.ConfChange, data: new Uint8Array([1, 2, 3]) }], { term: 2, vote: "n2", commit: 3 });
    await first.wal.close();

    const { wal, recovered, report } = await reopen(dir);
    expect(summary(recovered.entries.slice(0, 3))).toEqual(summary(entries(1, 3, 1)));
    expect(recovered.entries[3]).toEqual({ index: 4, term: 2, type: EntryType.ConfChange, data: new Uint8Array([1, 2, 3]) });
    expect(recovered.hardState).toEqual({ term: 2, vote: "n2", commit: 3 });
    expect(report.tornTail).toBeUndefined();
    expect(report.entriesRecovered).toBe(4);
    expect(wal.lastIndex()).toBe(4);
    await wal.close();
  });

  it("keeps an overwritten suffix overwritten after a reopen, also across segments", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir, 1024);
    await wal.append(entries(1, 40, 1, 30));
    await wal.append(entries(6, 8, 2));
    await wal.append(entries(9, 9, 3));
    expect(wal.lastIndex()).toBe(9);
    await wal.close();
    expect((await segmentFiles(dir)).length).toBeGreaterThan(1);

    const reopened = await reopen(dir, 1024);
    expect(summary(reopened.recovered.entries)).toEqual(summary([...entries(1, 5, 1, 30), ...entries(6, 8, 2), entry(9, 3)]));
    await reopened.wal.append(entries(10, 12, 3));
    await reopened.wal.close();
    expect((await recoverOnce(dir, 1024)).recovered.entries.map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it("keeps the latest hard state, written alone or with entries", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir);
    await wal.saveHardState({ term: 1, vote: "", commit: 0 });
    await wal.saveHardState({ term: 1, vote: "n3", commit: 0 });
    await wal.append(entries(1, 2, 1), { term: 1, vote: "n3", commit: 2 });
    await wal.saveHardState({ term: 5, vote: "", commit: 2 });
    await wal.close();
    expect((await recoverOnce(dir)).recovered.hardState).toEqual({ term: 5, vote: "", commit: 2 });
  });

  it("rolls over to new segments of bounded size and replays them all", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir, 1024);
    for (let i = 1; i <= 60; i++) await wal.append([entry(i, 1, 50)], { term: 1, vote: "n1", commit: i - 1 });
    await wal.close();
    const files = await segmentFiles(dir);
    expect(files.length).toBeGreaterThan(4);
    for (const name of files.slice(0, -1)) expect((await readFile(join(dir, name))).length).toBeLessThanOrEqual(1024);
    const { recovered } = await recoverOnce(dir, 1024);
    expect(summary(recovered.entries)).toEqual(summary(Array.from({ length: 60 }, (_, i) => entry(i + 1, 1, 50))));
    expect(recovered.hardState).toEqual({ term: 1, vote: "n1", commit: 59 });
  });

  it("rolls over in the middle of a group-commit batch, each new segment restating the hard state", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir, 1024);
    const before = wal.stats();
    await Promise.all(Array.from({ length: 60 }, (_, i) => wal.append([entry(i + 1, 1, 50)], { term: 1, vote: "n1", commit: i })));
    expect(wal.stats().batches - before.batches).toBe(1);
    expect(wal.stats().segmentsCreated - before.segmentsCreated).toBeGreaterThan(4);
    await wal.close();
    // Replay checks every header against the records before it, so a wrong restatement fails here.
    const { recovered } = await recoverOnce(dir, 1024);
    expect(recovered.entries.length).toBe(60);
    expect(recovered.hardState).toEqual({ term: 1, vote: "n1", commit: 59 });
  });

  it("gives an entry too large for a record a typed error, and appends nothing of that call", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir);
    const huge = { index: 2, term: 1, type: EntryType.Normal, data: new Uint8Array(9 * 1024 * 1024) };
    await expect(wal.append([entry(1, 1), huge])).rejects.toMatchObject({ code: "too-large" });
    expect(wal.lastIndex()).toBe(0);
    await wal.append([entry(1, 1)]);
    await wal.close();
    expect((await recoverOnce(dir)).recovered.entries.length).toBe(1);
  });

  it("asserts Raft's invariants: no gap, no entry before the snapshot, no second vote in a term", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir);
    await wal.append(entries(1, 3, 2), { term: 2, vote: "n1", commit: 0 });
    expect(() => wal.append([entry(5, 2)])).toThrow(InvariantError);
    expect(() => wal.append([entry(4, 1)])).toThrow(/term 1, below the 2/);
    expect(() => wal.saveHardState({ term: 2, vote: "n2", commit: 0 })).toThrow(/vote changed/);
    expect(() => wal.saveHardState({ term: 1, vote: "", commit: 0 })).toThrow(/term went back/);
    await wal.close();
  });

  it("refuses use after close with a typed error", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir);
    await wal.close();
    await expect(wal.append([entry(1, 1)])).rejects.toMatchObject({ code: "wal-closed" });
    await expect(wal.compact(0)).rejects.toBeInstanceOf(StorageError);
  });

  it("fails every pending and later append once a write fails, instead of guessing", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir, 1024);
    await wal.append([entry(1, 1, 900)]);
    // The rollover will try to create this exact file with O_EXCL and fail.
    await writeFile(join(dir, "0000000000000002-0000000000000002.wal"), "in the way");
    const failed = wal.append([entry(2, 1, 900)]);
    const alsoFailed = wal.append([entry(3, 1)]);
    await expect(failed).rejects.toMatchObject({ code: "wal-failed" });
    await expect(alsoFailed).rejects.toMatchObject({ code: "wal-failed" });
    await expect(wal.append([entry(4, 1)])).rejects.toMatchObject({ code: "wal-failed" });
    await wal.close();
  });
});

describe("Wal: group commit", () => {
  it("makes 100 concurrent appends durable with far fewer fsyncs than appends", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir);
    const before = wal.stats();
    await Promise.all(Array.from({ length: 100 }, (_, i) => wal.append([entry(i + 1, 1)])));
    const after = wal.stats();
    expect(after.appends - before.appends).toBe(100);
    expect(after.fsyncs - before.fsyncs).toBeLessThan(10);
    expect(after.batches - before.batches).toBeLessThan(10);
    await wal.close();
    expect((await recoverOnce(dir)).recovered.entries.length).toBe(100);
  });

  it("gathers appends made while a batch is on its way to disk into the next batch", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir);
    const before = wal.stats();
    const first = wal.append([entry(1, 1)]);
    await new Promise((resolve) => setImmediate(resolve));
    const rest = Array.from({ length: 50 }, (_, i) => wal.append([entry(i + 2, 1)]));
    await Promise.all([first, ...rest]);
    expect(wal.stats().batches - before.batches).toBe(2);
    expect(wal.stats().fsyncs - before.fsyncs).toBe(2);
    await wal.close();
  });

  it("lets appenders woken by a durable batch join the next one, also through layers of async functions", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir);
    const before = wal.stats();
    let next = 0;
    const appendOne = (): Promise<void> => wal.append([entry(++next, 1)], { term: 1, vote: "n1", commit: next - 1 });
    const appendThroughLayers = async (): Promise<void> => {
      await (async () => {
        await appendOne();
      })();
    };
    // Half wake up a few promise hops later than the others; all must still make one batch per round.
    const appender = async (layered: boolean): Promise<void> => {
      for (let round = 0; round < 5; round++) await (layered ? appendThroughLayers() : appendOne());
    };
    await Promise.all(Array.from({ length: 20 }, (_, i) => appender(i % 2 === 0)));
    expect(wal.stats().appends - before.appends).toBe(100);
    expect(wal.stats().batches - before.batches).toBe(5);
    await wal.close();
    expect((await recoverOnce(dir)).recovered.entries.length).toBe(100);
  });

  it("writes a batch above WAL_INLINE_WRITE_BYTES_MAX off the event loop, in place between small ones", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir);
    await wal.append([entry(1, 1)]);
    const large = entries(2, 201, 1, 1000);
    expect(large.reduce((bytes, e) => bytes + e.data.byteLength, 0)).toBeGreaterThan(2 * WAL_INLINE_WRITE_BYTES_MAX);
    await Promise.all([wal.append(large), wal.append([entry(202, 1)], { term: 1, vote: "n1", commit: 201 })]);
    await wal.append([entry(203, 1)]);
    await wal.close();
    const { recovered, report } = await recoverOnce(dir);
    expect(report.tornTail).toBeUndefined();
    expect(summary(recovered.entries)).toEqual(summary([entry(1, 1), ...large, entry(202, 1), entry(203, 1)]));
    expect(recovered.hardState).toEqual({ term: 1, vote: "n1", commit: 201 });
  });

  it("resolves an empty append only after everything before it is durable", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir);
    const order: string[] = [];
    const data = wal.append(entries(1, 10, 1)).then(() => order.push("data"));
    const barrier = wal.append([]).then(() => order.push("barrier"));
    await Promise.all([data, barrier]);
    expect(order).toEqual(["data", "barrier"]);
    await wal.close();
  });
});

describe("Wal: snapshots and compaction", () => {
  it("saves a snapshot, keeps the entries after it, and loads both after a reopen", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir);
    await wal.append(entries(1, 10, 1), { term: 1, vote: "n1", commit: 10 });
    await wal.saveSnapshot(snapshotAt(5, 1));
    expect(wal.firstIndex()).toBe(6);
    await wal.close();
    const { recovered, wal: reopened } = await reopen(dir);
    expect(recovered.snapshot?.meta).toEqual(snapshotAt(5, 1).meta);
    expect(Buffer.from(recovered.snapshot!.data).toString()).toBe("state@5");
    expect(recovered.entries.map((e) => e.index)).toEqual([6, 7, 8, 9, 10]);
    expect(reopened.firstIndex()).toBe(6);
    expect(() => reopened.append([entry(5, 1)])).toThrow(/not after the snapshot/);
    expect(() => reopened.saveSnapshot(snapshotAt(5, 1))).toThrow(/not newer than the current one at 5/);
    await reopened.close();
  });

  it("replaces the whole log with a snapshot whose entry it does not hold (Raft Figure 13)", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir);
    await wal.append(entries(1, 10, 1), { term: 3, vote: "", commit: 2 });
    await wal.saveSnapshot(snapshotAt(8, 3));
    expect(wal.lastIndex()).toBe(8);
    await wal.append(entries(9, 9, 3));
    await wal.close();
    const { recovered } = await recoverOnce(dir);
    expect(recovered.snapshot?.meta.index).toBe(8);
    expect(summary(recovered.entries)).toEqual(summary([entry(9, 3)]));
  });

  it("keeps the two newest snapshot files and removes leftovers", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir);
    await wal.append(entries(1, 30, 1));
    await writeFile(join(dir, "snap-0000000000000099-0000000000000001.snap.tmp"), "half-written");
    for (const index of [10, 20, 30]) await wal.saveSnapshot(snapshotAt(index, 1));
    expect(await snapshotFiles(dir)).toEqual(["snap-0000000000000020-0000000000000001.snap", "snap-0000000000000030-0000000000000001.snap"]);
    await wal.close();
    const { report } = await recoverOnce(dir);
    expect(report.removedFiles).toEqual(["snap-0000000000000099-0000000000000001.snap.tmp"]);
  });

  it("deletes only segments the durable snapshot covers, and the log still replays", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir, 1024);
    await wal.saveHardState({ term: 1, vote: "n1", commit: 0 });
    await Promise.all(Array.from({ length: 100 }, (_, i) => wal.append([entry(i + 1, 1, 60)])));
    const segmentsBefore = await segmentFiles(dir);
    expect(() => wal.compact(50)).toThrow(/past the durable snapshot 0/);
    await wal.saveSnapshot(snapshotAt(50, 1));
    const removed = await wal.compact(50);
    expect(removed).toBeGreaterThan(0);
    const segmentsAfter = await segmentFiles(dir);
    expect(segmentsAfter.slice(0, segmentsBefore.length - removed)).toEqual(segmentsBefore.slice(removed));
    await wal.close();

    const { wal: reopened, recovered } = await reopen(dir, 1024);
    expect(recovered.snapshot?.meta.index).toBe(50);
    expect(recovered.entries.map((e) => e.index)).toEqual(Array.from({ length: 50 }, (_, i) => 51 + i));
    expect(recovered.hardState).toEqual({ term: 1, vote: "n1", commit: 0 });
    await reopened.close();
  });

  it("never deletes a segment holding an entry past the compaction index", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir, 1024);
    await Promise.all(Array.from({ length: 60 }, (_, i) => wal.append([entry(i + 1, 1, 60)])));
    await wal.saveSnapshot(snapshotAt(45, 1));
    await wal.compact(30);
    await wal.close();
    const { recovered } = await recoverOnce(dir, 1024);
    expect(recovered.entries[0]!.index).toBe(46);
    // Every segment left is needed: compacting again up to 30 removes nothing.
    const again = await reopen(dir, 1024);
    expect(await again.wal.compact(30)).toBe(0);
    await again.wal.close();
  });

  it("compacts a log whose first segments were replaced by a snapshot, and replays the remainder", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir, 1024);
    await Promise.all(Array.from({ length: 40 }, (_, i) => wal.append([entry(i + 1, 1, 60)])));
    await wal.saveSnapshot(snapshotAt(20, 1));
    await Promise.all(Array.from({ length: 40 }, (_, i) => wal.append([entry(i + 41, 1, 60)])));
    await wal.saveSnapshot(snapshotAt(70, 1));
    expect(await wal.compact(70)).toBeGreaterThan(0);
    await wal.close();
    const { recovered } = await recoverOnce(dir, 1024);
    expect(recovered.snapshot?.meta.index).toBe(70);
    expect(recovered.entries.map((e) => e.index)).toEqual([71, 72, 73, 74, 75, 76, 77, 78, 79, 80]);
  });
});

describe("openStorage", () => {
  it("returns a MemoryStorage filled from the WAL", async () => {
    const dir = await freshDir();
    const { wal } = await reopen(dir);
    await wal.append(entries(1, 8, 2), { term: 2, vote: "n2", commit: 6 });
    await wal.saveSnapshot(snapshotAt(4, 2));
    await wal.close();
    const opened = await openStorage(dir);
    expect(opened.storage.firstIndex()).toBe(5);
    expect(opened.storage.lastIndex()).toBe(8);
    expect(opened.storage.term(4)).toBe(2);
    expect(opened.storage.initialState()).toEqual({ hardState: { term: 2, vote: "n2", commit: 6 }, confState: snapshotAt(4, 2).meta.confState });
    expect(summary(opened.storage.entries(5, 9, Infinity))).toEqual(summary(entries(5, 8, 2)));
    await opened.wal.close();
  });
});
