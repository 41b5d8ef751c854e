/**
 * Apply throughput of KvStore (README "Durability"): puts of 100-byte values, batches of 1 and
 * of 8 and of 100 entries, in memory and on disk with synchronous=NORMAL (committing every batch
 * or every 1000 entries, as a node does) and FULL.
 * And the size and serialization time of a snapshot image with a full events window.
 * Run: npx vitest bench --run src/kv/testing/apply-rate.bench.ts
 * (hz is batches per second: multiply by the batch size for applies per second.)
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, bench, describe } from "vitest";
import { encodeCommand } from "../command.js";
import type { CommandInput } from "../input.js";
import { KvStore, MEMORY_PATH, type KvStoreOptions } from "../store.js";

const value = new Uint8Array(100).fill(0x61);
const directory = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-kv-bench-"));
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }));

/** A store and an endless supply of consecutive put entries for it. */
function target(options: KvStoreOptions, batchSize: number): () => void {
  const store = KvStore.open(options);
  let index = 0;
  return () => {
    const batch: CommandInput[] = [];
    for (let i = 0; i < batchSize; i++) {
      index += 1;
      const data = encodeCommand({ type: "put", payload: { key: `key/${String(index % 50_000).padStart(10, "0")}`, value }, requestId: `r${index}` });
      batch.push({ kind: "command", index, term: 1, data });
    }
    store.applyBatch(batch);
  };
}

for (const batchSize of [1, 8, 100]) {
  describe(`batches of ${batchSize} put(s)`, () => {
    bench("memory", target({ path: MEMORY_PATH }, batchSize), { time: 2000 });
    bench("file, synchronous=NORMAL", target({ path: path.join(directory, `normal-${batchSize}.db`), synchronous: "normal" }, batchSize), { time: 2000 });
    bench("file, synchronous=NORMAL, commit every 1000 entries (the node's setting)", target({ path: path.join(directory, `deferred-${batchSize}.db`), deferredCommitEntriesMax: 1000 }, batchSize), { time: 2000 });
    bench("file, synchronous=FULL", target({ path: path.join(directory, `full-${batchSize}.db`), synchronous: "full" }, batchSize), { time: 2000 });
  });
}

describe("snapshot image: 10,000 keys after 200,000 puts (a full events window), as in the cluster benchmark", () => {
  const store = KvStore.open({ path: path.join(directory, "snapshot.db"), deferredCommitEntriesMax: 1000 });
  const apply = target({ path: MEMORY_PATH }, 8); // warms the same code paths
  apply();
  let index = 0;
  for (let batchStart = 0; batchStart < 200_000; batchStart += 8) {
    const batch: CommandInput[] = [];
    for (let i = 0; i < 8; i++) {
      index += 1;
      const data = encodeCommand({ type: "put", payload: { key: `key/${String(index % 10_000).padStart(10, "0")}`, value }, requestId: `r${index}` });
      batch.push({ kind: "command", index, term: 1, data });
    }
    store.applyBatch(batch);
  }
  console.log(`snapshot image: ${(store.snapshot().data.byteLength / 1024 / 1024).toFixed(1)} MiB`);
  bench("serialize", () => void store.snapshot(), { time: 2000 });
});
