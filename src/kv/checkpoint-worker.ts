/**
 * The background checkpointer's thread (background-checkpoint.ts explains why it exists). A
 * plain blocking loop: sleep on the shared word for an interval, checkpoint, repeat; a change
 * of the word (a stop) wakes it at once, or after the checkpoint in progress.
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { CheckpointerState, type CheckpointWorkerData, type CheckpointWorkerMessage } from "./background-checkpoint.js";

/** The checkpoint reads WAL frames and writes database pages directly; it needs no page cache. */
const PAGE_CACHE_KIB = 64;

const { path, intervalMs, control } = workerData as CheckpointWorkerData;
const state = new Int32Array(control);
const post = (message: CheckpointWorkerMessage): void => parentPort!.postMessage(message);

if (Atomics.compareExchange(state, 0, CheckpointerState.Booting, CheckpointerState.Running) === CheckpointerState.Booting) {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { fileMustExist: true });
    db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
    while (Atomics.wait(state, 0, CheckpointerState.Running, intervalMs) === "timed-out") {
      const started = performance.now();
      // PASSIVE: copies what is committed without waiting for the node's connection.
      const [outcome] = db.pragma("wal_checkpoint(PASSIVE)") as { busy: number; log: number; checkpointed: number }[];
      const walFrames = outcome?.log ?? 0;
      if (walFrames > 0) post({ kind: "checkpointed", seconds: (performance.now() - started) / 1000, walFrames, busy: outcome?.busy === 1 });
    }
  } catch (error) {
    post({ kind: "failed", message: error instanceof Error ? error.message : String(error) });
  } finally {
    try {
      db?.close();
    } finally {
      Atomics.store(state, 0, CheckpointerState.Stopped);
      Atomics.notify(state, 0);
    }
  }
}
