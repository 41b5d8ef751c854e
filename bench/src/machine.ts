/**
 * The machine's own limits, measured before the systems: how many fdatasyncs per second the
 * data disk does, the loopback round trip between two processes, and how many requests per
 * second the load generator itself can issue. From the first two follows the ceiling for one
 * client writing one key at a time through a leader that replicates to a follower; the floor
 * is also measured, as a bare replicated write between real processes, and with the HTTP and
 * SQLite steps this design adds (replication-floor.ts); and that service floor under the
 * 64- and 256-client write loads (load-floor.ts).
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { GeneratorPool, startHelperServer } from "./generator-pool.js";
import { measureLoadFloor, type LoadFloor } from "./load-floor.js";
import { measureReplicationFloor, measureServiceFloor, type ReplicationFloor } from "./replication-floor.js";

export interface MachineLimits {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryBytes: number;
  readonly nodeVersion: string;
  readonly kernel: string;
  /** The 1-minute load average when the run began: well above 0, something else is running. */
  readonly loadAverageAtStart: number;
  readonly fdatasync: { readonly perSecond: number; readonly meanMs: number; readonly folder: string };
  readonly loopbackRtt: { readonly medianMs: number; readonly meanMs: number; readonly roundTrips: number };
  readonly generator: { readonly connections: number; readonly opsPerSecond: number; readonly cpuPercent: number; readonly opsPerCpuSecond: number };
  readonly singleWriteCeiling: { readonly latencyMs: number; readonly opsPerSecond: number; readonly reasoning: string };
  /** One client's write through three processes doing only the I/O a replicated write needs. */
  readonly replicationFloor: ReplicationFloor;
  /** The same with this design's HTTP in and out and a SQLite upsert on the leader. */
  readonly serviceFloor: ReplicationFloor;
  /** The service floor under the write loads of the throughput targets (load-floor.ts). */
  readonly loadFloors: readonly LoadFloor[];
}

/** Clients of the load floors: the write-throughput targets'. */
export const LOAD_FLOOR_CLIENTS: readonly number[] = [64, 256];

const FSYNC_BLOCK_BYTES = 4096;

/** `seconds` for each probe, `loadSeconds` for the load floor. */
export async function measureMachine(folder: string, seconds: number, loadSeconds: number, generatorConnections: number): Promise<MachineLimits> {
  const loadAverageAtStart = os.loadavg()[0]!;
  const fdatasync = measureFdatasync(folder, seconds);
  const loopbackRtt = await measureLoopbackRtt(seconds);
  const generator = await measureGeneratorCeiling(seconds, generatorConnections);
  const replicationFloor = await measureReplicationFloor(folder, seconds);
  const serviceFloor = await measureServiceFloor(folder, seconds);
  const loadFloors: LoadFloor[] = [];
  for (const clients of LOAD_FLOOR_CLIENTS) loadFloors.push(await measureLoadFloor(folder, loadSeconds, clients));
  const latencyMs = 2 * loopbackRtt.medianMs + fdatasync.meanMs;
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    memoryBytes: os.totalmem(),
    nodeVersion: process.version,
    kernel: `${os.type()} ${os.release()}`,
    loadAverageAtStart,
    fdatasync,
    loopbackRtt,
    generator,
    singleWriteCeiling: {
      latencyMs,
      opsPerSecond: 1000 / latencyMs,
      reasoning:
        "one write = client→leader round trip + leader→follower round trip + one fdatasync (the leader's and the follower's in parallel), with no CPU time at all",
    },
    replicationFloor,
    serviceFloor,
    loadFloors,
  };
}

/** Appends 4 KiB and fdatasyncs, in a loop, for about `seconds` (like a WAL's group commit of one small batch). */
export function measureFdatasync(folder: string, seconds: number): MachineLimits["fdatasync"] {
  const file = path.join(folder, "fdatasync-probe");
  const block = Buffer.alloc(FSYNC_BLOCK_BYTES, 0x61);
  const fd = fs.openSync(file, "w");
  try {
    for (let i = 0; i < 10; i++) {
      fs.writeSync(fd, block);
      fs.fdatasyncSync(fd);
    }
    let count = 0;
    const started = performance.now();
    const deadline = started + seconds * 1000;
    let now = started;
    while (now < deadline) {
      fs.writeSync(fd, block);
      fs.fdatasyncSync(fd);
      count += 1;
      now = performance.now();
    }
    const elapsedMs = now - started;
    return { perSecond: (count * 1000) / elapsedMs, meanMs: elapsedMs / count, folder };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

/** One byte back and forth over TCP on 127.0.0.1 between this process and an echo process. */
export async function measureLoopbackRtt(seconds: number): Promise<MachineLimits["loopbackRtt"]> {
  const server = await startHelperServer("echo-server");
  const socket = net.connect({ host: "127.0.0.1", port: server.port, noDelay: true });
  try {
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const roundTrip = (): Promise<number> =>
      new Promise((resolve) => {
        const started = performance.now();
        socket.once("data", () => resolve(performance.now() - started));
        socket.write("x");
      });
    for (let i = 0; i < 200; i++) await roundTrip();
    const samples: number[] = [];
    const deadline = performance.now() + seconds * 1000;
    while (performance.now() < deadline) samples.push(await roundTrip());
    samples.sort((a, b) => a - b);
    const mean = samples.reduce((sum, sample) => sum + sample, 0) / samples.length;
    return { medianMs: samples[Math.floor(samples.length / 2)]!, meanMs: mean, roundTrips: samples.length };
  } finally {
    socket.destroy();
    server.close();
  }
}

/** The generator against an HTTP server that does nothing: what it can issue at most. */
export async function measureGeneratorCeiling(seconds: number, connections: number): Promise<MachineLimits["generator"]> {
  const server = await startHelperServer("trivial-server");
  try {
    const target = `127.0.0.1:${server.port}`;
    const pool = await GeneratorPool.start([
      { system: "trivial", targets: Array.from({ length: connections }, () => target), keyPrefix: "", keyCount: 1, valueBytes: 0, readFraction: 1, consistency: "linearizable", seed: 1 },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    pool.measure();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const result = await pool.stop();
    const opsPerSecond = (result.all.count * 1000) / result.windowMs;
    const cpuPercent = (100 * result.generatorCpuSeconds * 1000) / result.windowMs;
    return { connections, opsPerSecond, cpuPercent, opsPerCpuSecond: result.generatorCpuSeconds > 0 ? result.all.count / result.generatorCpuSeconds : 0 };
  } finally {
    server.close();
  }
}
