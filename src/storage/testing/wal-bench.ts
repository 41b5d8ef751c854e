/**
 * Group-commit throughput on this machine: appends/s and fsyncs/s with 1 and 64 concurrent
 * appenders, each appending one entry (plus a hard state) per call, as a Raft leader would.
 * Not a test: run it by hand and read the numbers.
 *   node --import ./src/storage/testing/register-ts.mjs src/storage/testing/wal-bench.ts [seconds] [entryBytes]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EntryType } from "../../raft/types.js";
import { Wal } from "../wal.js";

async function measure(appenders: number, seconds: number, entryBytes: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-wal-bench-"));
  const { wal } = await Wal.open(dir);
  const data = new Uint8Array(entryBytes).fill(7);
  const before = wal.stats();
  const deadline = performance.now() + seconds * 1000;
  let next = 0;
  const latencies: number[] = [];
  const appender = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const index = ++next;
      const started = performance.now();
      await wal.append([{ index, term: 1, type: EntryType.Normal, data }], { term: 1, vote: "n1", commit: index - 1 });
      latencies.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: appenders }, appender));
  const elapsed = (performance.now() - started) / 1000;
  const after = wal.stats();
  await wal.close();
  await rm(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const appends = after.appends - before.appends;
  const fsyncs = after.fsyncs - before.fsyncs;
  const p = (q: number): string => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(2);
  console.log(
    [
      `appenders=${String(appenders).padStart(2)}`,
      `entry=${entryBytes}B`,
      `appends/s=${Math.round(appends / elapsed)}`,
      `fsyncs/s=${Math.round(fsyncs / elapsed)}`,
      `appends/fsync=${(appends / fsyncs).toFixed(1)}`,
      `MB/s=${((after.bytesWritten - before.bytesWritten) / elapsed / 1e6).toFixed(2)}`,
      `latency p50=${p(0.5)}ms p99=${p(0.99)}ms`,
    ].join("  "),
  );
}

const seconds = Number(process.argv[2] ?? 3);
const entryBytes = Number(process.argv[3] ?? 256);
for (const appenders of [1, 64]) await measure(appenders, seconds, entryBytes);
