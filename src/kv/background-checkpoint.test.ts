import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { BackgroundCheckpointer, type CheckpointReport } from "./background-checkpoint.js";
import { KvStore } from "./index.js";
import { EntryLog, tempDir, text } from "./testing/entries.js";

let dir: { dir: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => dir.cleanup());

const VALUE = "v".repeat(100);

/** `count` puts of 100-byte values over 1,000 keys, in batches of 100 (each a commit). */
function write(store: KvStore, log: EntryLog, count: number): void {
  for (let done = 0; done < count; done += 100) {
    const batch = [];
    for (let i = done; i < done + 100; i++) batch.push(log.put(`key/${i % 1000}`, `${VALUE}${i}`));
    store.applyBatch(batch);
  }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const fileBytes = (file: string): number => fs.statSync(file).size;

describe("background checkpoints", () => {
  test("the database file receives the writes without this thread checkpointing", async () => {
    const reports: CheckpointReport[] = [];
    const inBackground = KvStore.open({ path: path.join(dir.dir, "background.db"), backgroundCheckpoints: { intervalMs: 20, onCheckpoint: (report) => reports.push(report) } });
    const onThisThread = KvStore.open({ path: path.join(dir.dir, "inline.db") });
    const emptyBytes = fileBytes(inBackground.path);
    write(inBackground, new EntryLog(), 3000);
    write(onThisThread, new EntryLog(), 3000);

    await until(() => reports.some((report) => report.walFrames > 0 && !report.busy) && fileBytes(inBackground.path) > 100 * 1024, "a checkpoint into the file");
    expect(inBackground.checkpointsInBackground).toBe(true);
    // Without the thread the pages stay in the WAL until the backstop (KV_WAL_AUTOCHECKPOINT_PAGES).
    expect(fileBytes(onThisThread.path)).toBe(emptyBytes);
    expect(reports.every((report) => report.seconds >= 0)).toBe(true);
    inBackground.close();
    onThisThread.close();
  });

  test("close() stops the thread first: the store's own connection is the last and removes the WAL", () => {
    const store = KvStore.open({ path: path.join(dir.dir, "state.db"), backgroundCheckpoints: { intervalMs: 5 } });
    write(store, new EntryLog(), 2000);
    store.close();
    expect(store.checkpointsInBackground).toBe(false);
    expect(fs.existsSync(`${store.path}-wal`)).toBe(false);
    const reopened = KvStore.open({ path: store.path });
    expect(text(reopened.get("key/999")!.value)).toBe(`${VALUE}1999`);
    reopened.close();
  });

  test("a snapshot installed while the thread runs replaces the file, and checkpoints resume on the new one", async () => {
    const source = KvStore.open({ path: path.join(dir.dir, "source.db") });
    const sourceLog = new EntryLog();
    write(source, sourceLog, 2000);
    const snapshot = source.snapshot();

    const reports: CheckpointReport[] = [];
    const target = KvStore.open({ path: path.join(dir.dir, "target.db"), backgroundCheckpoints: { intervalMs: 5, onCheckpoint: (report) => reports.push(report) } });
    write(target, new EntryLog(), 500);
    target.restore(snapshot);
    expect(target.appliedIndex()).toBe(source.appliedIndex());
    expect(target.checkpointsInBackground).toBe(true);

    reports.length = 0;
    const next = [sourceLog.put("after/restore", "yes")];
    target.applyBatch(next);
    target.commitApplied();
    await until(() => reports.length > 0, "a checkpoint after the restore");
    target.close();
    source.close();

    const reopened = KvStore.open({ path: target.path });
    expect(reopened.appliedIndex()).toBe(next[0]!.index);
    expect(text(reopened.get("key/999")!.value)).toBe(`${VALUE}1999`);
    expect(text(reopened.get("after/restore")!.value)).toBe("yes");
    reopened.close();
  });

  test("a thread that cannot open the database reports it and stops", async () => {
    const failures: Error[] = [];
    const missing = path.join(dir.dir, "missing.db");
    const checkpointer = BackgroundCheckpointer.start(missing, { intervalMs: 5, onFailure: (error) => failures.push(error) });
    await until(() => failures.length > 0, "the failure report");
    expect(failures[0]!.message).toContain(missing);
    expect(checkpointer.running).toBe(false);
    checkpointer.stop(); // nothing left to stop
  });

  test("stopped before it has started, the thread never checkpoints", async () => {
    // Committed pages wait in the WAL: a thread that ran would checkpoint and report them.
    const store = KvStore.open({ path: path.join(dir.dir, "never.db") });
    write(store, new EntryLog(), 500);
    const reports: CheckpointReport[] = [];
    const checkpointer = BackgroundCheckpointer.start(store.path, { intervalMs: 5, onCheckpoint: (report) => reports.push(report), onFailure: (error) => expect.unreachable(error.message) });
    checkpointer.stop();
    expect(checkpointer.running).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(reports).toEqual([]);
    store.close();
  });
});
