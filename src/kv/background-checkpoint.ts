/**
 * SQLite's checkpoints, off the event loop. In WAL mode every commit appends pages to
 * `state.db-wal`; a checkpoint copies them back into `state.db` and fsyncs both. Run by the
 * committing connection, that copy stopped a node for 30-60 ms every few seconds under load,
 * its longest pause. Here a worker thread with its own connection runs a PASSIVE checkpoint
 * every interval: WAL mode lets it copy what is committed while the node's connection goes on
 * writing, and SQLite's locks keep the two apart. The node's connection keeps its own
 * autocheckpoint as a backstop, which a working checkpointer never lets the WAL reach.
 *
 * Stopping is synchronous (a shared word and Atomics.wait), because the database file may
 * only be replaced, or its last connection closed, once this connection is closed: SQLite
 * deletes a WAL by name when the last connection to a database closes, and a late close of
 * this one could delete the WAL of the file put in its place.
 */
import { Worker } from "node:worker_threads";
import { KV_BACKGROUND_CHECKPOINT_INTERVAL_MS, KV_BACKGROUND_CHECKPOINT_STOP_WAIT_MS } from "../util/limits.js";

/** The one shared word between the event loop and the checkpointer thread. */
export const CheckpointerState = {
  /** The thread is starting; it has not opened the database and will not once stopped. */
  Booting: 0,
  Running: 1,
  /** Asked to stop: the thread closes its connection after the checkpoint in progress. */
  Stopping: 2,
  /** The connection is closed (or was never opened). */
  Stopped: 3,
} as const;

export interface CheckpointWorkerData {
  readonly path: string;
  readonly intervalMs: number;
  /** A SharedArrayBuffer holding one Int32: the CheckpointerState. */
  readonly control: SharedArrayBuffer;
}

/** What one checkpoint did (SQLite's wal_checkpoint answer), posted by the thread. */
export interface CheckpointReport {
  readonly seconds: number;
  /** Frames in the WAL when it ran; all of them are in the database file afterwards unless `busy`. */
  readonly walFrames: number;
  readonly busy: boolean;
}

export type CheckpointWorkerMessage = ({ readonly kind: "checkpointed" } & CheckpointReport) | { readonly kind: "failed"; readonly message: string };

export interface BackgroundCheckpointOptions {
  /** Default KV_BACKGROUND_CHECKPOINT_INTERVAL_MS. */
  readonly intervalMs?: number;
  /** After each checkpoint (for metrics). */
  readonly onCheckpoint?: (report: CheckpointReport) => void;
  /**
   * The thread stopped on an error (an I/O error, a damaged file). The node's own connection
   * checkpoints again from then on (its autocheckpoint backstop).
   */
  readonly onFailure?: (error: Error) => void;
}

/**
 * The thread's V8 heap bounds, MiB: it allocates next to nothing (one pragma's answer a
 * second), and a worker's isolate is most of the 9–12 MiB it adds to a node's resident memory.
 */
const THREAD_YOUNG_GENERATION_MIB = 1;
const THREAD_OLD_GENERATION_MIB = 16;

// Worker threads run JavaScript: from the TypeScript sources (tests) the built copy runs.
const WORKER_URL = import.meta.url.endsWith(".ts") ? new URL("../../dist/kv/checkpoint-worker.js", import.meta.url) : new URL("./checkpoint-worker.js", import.meta.url);

export class BackgroundCheckpointer {
  readonly #state: Int32Array;
  readonly #worker: Worker;

  private constructor(databasePath: string, options: BackgroundCheckpointOptions) {
    const control = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
    this.#state = new Int32Array(control);
    const workerData: CheckpointWorkerData = { path: databasePath, intervalMs: options.intervalMs ?? KV_BACKGROUND_CHECKPOINT_INTERVAL_MS, control };
    // execArgv: none of the node's own flags (--cpu-prof would profile this thread too).
    const resourceLimits = { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MIB, maxOldGenerationSizeMb: THREAD_OLD_GENERATION_MIB };
    this.#worker = new Worker(WORKER_URL, { workerData, execArgv: [], resourceLimits });
    this.#worker.unref();
    this.#worker.on("message", (message: CheckpointWorkerMessage) => {
      if (message.kind === "checkpointed") options.onCheckpoint?.(message);
      else options.onFailure?.(new Error(`the background checkpointer of ${databasePath} stopped: ${message.message}`));
    });
    this.#worker.on("error", (error) => options.onFailure?.(new Error(`the background checkpointer of ${databasePath} stopped: ${error.message}`)));
  }

  /** Starts checkpointing the database file at `databasePath` (in WAL mode) on a worker thread. */
  static start(databasePath: string, options: BackgroundCheckpointOptions = {}): BackgroundCheckpointer {
    return new BackgroundCheckpointer(databasePath, options);
  }

  /** True until stop() returns, or the thread stops on an error. */
  get running(): boolean {
    return Atomics.load(this.#state, 0) !== CheckpointerState.Stopped;
  }

  /**
   * Closes the thread's connection, waiting for the checkpoint in progress, if any. Throws if
   * it takes longer than KV_BACKGROUND_CHECKPOINT_STOP_WAIT_MS (the disk is not answering).
   */
  stop(): void {
    const state = this.#state;
    if (Atomics.compareExchange(state, 0, CheckpointerState.Booting, CheckpointerState.Stopped) !== CheckpointerState.Booting) {
      Atomics.compareExchange(state, 0, CheckpointerState.Running, CheckpointerState.Stopping);
      Atomics.notify(state, 0);
      const deadline = performance.now() + KV_BACKGROUND_CHECKPOINT_STOP_WAIT_MS;
      while (Atomics.load(state, 0) === CheckpointerState.Stopping) {
        const left = deadline - performance.now();
        if (left <= 0) throw new Error(`the background checkpointer did not close its connection within ${KV_BACKGROUND_CHECKPOINT_STOP_WAIT_MS} ms`);
        Atomics.wait(state, 0, CheckpointerState.Stopping, left);
      }
    }
    void this.#worker.terminate();
  }
}
