/**
 * The benchmark run: measure the machine, then for each system (Flotilla, then etcd with
 * --vs etcd) start a fresh three-node cluster, run every workload against it with the same
 * load generator, record throughput, latency, errors and each node's CPU time and memory,
 * stop it, and measure memory on a second fresh cluster loaded with many keys.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BENCH_CLUSTER_READY_TIMEOUT_MS, BENCH_KEYS, BENCH_PROGRESS_INTERVAL_MS } from "./limits.js";
import { ensureEtcd, startEtcdCluster } from "./etcd-cluster.js";
import { startFlotillaCluster } from "./flotilla-cluster.js";
import type { GeneratorSpec } from "./generator.js";
import { GeneratorPool } from "./generator-pool.js";
import { measureMachine } from "./machine.js";
import type { BenchOptions } from "./options.js";
import { readProfile, summarizeProfile, type ProfileSummary } from "./profile-summary.js";
import { machineBusySeconds, resetPeakRss, sampleProcess, type ProcessSample } from "./proc-stats.js";
import { bar, ProgressLine } from "./progress.js";
import { latencySummary, type BenchReport, type MemoryFigures, type NodeFigures, type SystemResult, type WorkloadResult } from "./results.js";
import { evaluateTargets } from "./report.js";
import { sleep, type ServerProcess } from "./server-process.js";
import type { SystemCluster, SystemName } from "./system.js";
import type { Workload } from "./workloads.js";

/** Time a fresh cluster gets to settle before its idle memory is read. */
const SETTLE_MS = 2_000;
/** Connections used to load keys before read workloads and for the memory measurement. */
const FILL_CONNECTIONS = 64;
const WORKLOAD_KEY_PREFIX = "bench/";
const MEMORY_KEY_PREFIX = "mem/";
const MEMORY_VALUE_BYTES = 100;
const CLUSTER_SIZE = 3;
/** Other processes using more than this (% of one core) during a workload make its figures suspect. */
export const OTHER_CPU_WARNING_PERCENT = 15;

type StartCluster = (root: string, cpuProfileDir: string | undefined) => Promise<SystemCluster>;

export interface RunContext {
  readonly options: BenchOptions;
  readonly log: (line: string) => void;
  /** Names the result files: <stamp>.json, <stamp>.html, <stamp>-profiles/. */
  readonly stamp: string;
  readonly command: string;
  /** Synchronous clean-ups to run should the run be interrupted (Ctrl-C): kill servers, remove data. */
  readonly onInterrupt: Set<() => void>;
  /** Run etcd before Flotilla (every second round of `--rounds`). */
  readonly etcdFirst?: boolean;
}

export async function runBench(context: RunContext): Promise<BenchReport> {
  const { options, log } = context;
  const startedAt = new Date().toISOString();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-bench-"));
  const removeRoot = (): void => {
    if (!options.keepData) fs.rmSync(root, { recursive: true, force: true });
  };
  context.onInterrupt.add(removeRoot);
  try {
    log(`data in ${root}${options.keepData ? " (kept)" : " (removed afterwards)"}`);
    log("measuring the machine: fdatasync, loopback round trip, load generator ceiling ...");
    const machine = await measureMachine(root, options.quick ? 0.5 : 1, options.quick ? 1 : 5, 64);
    const starts: [SystemName, StartCluster][] = [["flotilla", (dir, profileDir) => startFlotillaCluster({ size: CLUSTER_SIZE, root: dir, extraArgs: [], ...(profileDir ? { cpuProfileDir: profileDir } : {}) })]];
    let etcdSkipped: string | undefined;
    if (options.vsEtcd) {
      const etcd = ensureEtcd(log);
      if ("binary" in etcd) starts.push(["etcd", (dir) => startEtcdCluster(etcd.binary, { size: CLUSTER_SIZE, root: dir, extraArgs: [] })]);
      else {
        etcdSkipped = etcd.skipped;
        log(`--vs etcd skipped: ${etcd.skipped}`);
      }
    }
    const systems: SystemResult[] = [];
    if (context.etcdFirst) starts.reverse();
    for (const [name, start] of starts) {
      const profileDir = name === "flotilla" && options.cpuProfile ? path.join(options.resultsDir, `${context.stamp}-profiles`) : undefined;
      systems.push(await benchSystem(name, start, path.join(root, name), profileDir, context));
    }
    return {
      formatVersion: 1,
      startedAt,
      finishedAt: new Date().toISOString(),
      command: context.command,
      settings: { quick: options.quick, warmupSeconds: options.warmupSeconds, durationSeconds: options.durationSeconds, generators: options.generators, target: options.target, keys: BENCH_KEYS },
      machine,
      systems: systems.sort((a, b) => (a.system === b.system ? 0 : a.system === "flotilla" ? -1 : 1)),
      etcdSkipped,
      targets: evaluateTargets(systems),
    };
  } finally {
    removeRoot();
    context.onInterrupt.delete(removeRoot);
  }
}

async function benchSystem(name: SystemName, start: StartCluster, root: string, profileDir: string | undefined, context: RunContext): Promise<SystemResult> {
  const { options, log } = context;
  if (profileDir !== undefined) fs.mkdirSync(profileDir, { recursive: true });
  log(`\n${name}: starting a ${CLUSTER_SIZE}-node cluster ...`);
  const cluster = await start(path.join(root, "main"), profileDir);
  const killCluster = (): void => cluster.nodes.forEach((node) => node.kill());
  context.onInterrupt.add(killCluster);
  const writableAfterReadyMs = await waitWritableThroughEveryNode(cluster);
  log(`${name}: every member accepted a write ${writableAfterReadyMs.toFixed(0)} ms after the cluster reported ready`);
  const peaks = new PeakTracker(cluster.nodes);
  const workloads: WorkloadResult[] = [];
  let idleRssBytes: Record<string, number>;
  let idleCpuPercent: Record<string, number>;
  let firstLeader: string;
  const pids = new Map(cluster.nodes.map((node) => [node.pid, node.id]));
  try {
    const idleBefore = cluster.nodes.map((node) => sampleProcess(node.pid));
    await sleep(SETTLE_MS);
    const idleAfter = cluster.nodes.map((node) => sampleProcess(node.pid));
    idleRssBytes = Object.fromEntries(cluster.nodes.map((node, i) => [node.id, idleAfter[i]?.rssBytes ?? 0]));
    idleCpuPercent = Object.fromEntries(cluster.nodes.map((node, i) => [node.id, (100 * ((idleAfter[i]?.cpuSeconds ?? 0) - (idleBefore[i]?.cpuSeconds ?? 0))) / (SETTLE_MS / 1000)]));
    firstLeader = await cluster.leader();
    log(`${name} ${cluster.version}: leader ${firstLeader}; idle resident memory ${cluster.nodes.map((n) => `${n.id} ${mib(idleRssBytes[n.id]!)}`).join(", ")}`);
    let keysHold: number | undefined;
    for (const workload of options.workloads) {
      const leader = await cluster.leader();
      const endpoints = endpointsLeaderFirst(cluster.nodes, leader);
      if (workload.needsKeysOf !== undefined && keysHold !== workload.needsKeysOf) {
        await fillKeys(`${name} loading ${workload.keyCount.toLocaleString("en-US")} keys of ${workload.needsKeysOf} B`, endpoints, cluster.kind, WORKLOAD_KEY_PREFIX, workload.keyCount, workload.needsKeysOf, peaks);
        keysHold = workload.needsKeysOf;
      }
      workloads.push(await runWorkload(cluster, workload, endpoints, leader, peaks, context));
      if (workload.kind !== "read" && workload.valueBytes !== keysHold) keysHold = undefined;
    }
  } finally {
    await cluster.close();
    context.onInterrupt.delete(killCluster);
  }
  const logs = Object.fromEntries(cluster.nodes.map((node) => [node.id, node.logSummary()]));
  const profiles = profileDir === undefined ? [] : summarizeProfiles(profileDir, pids, firstLeader);
  const memory = options.memoryKeys > 0 ? await measureMemory(name, start, path.join(root, "memory"), cluster.kind, options.memoryKeys, context) : undefined;
  return { system: name, version: cluster.version, leader: firstLeader, writableAfterReadyMs, idleRssBytes, idleCpuPercent, workloads, peakRssBytes: peaks.overall(), memory, logs, profiles };
}

/** Resident-memory peaks: each workload's own (the kernel's count is reset before it) and the run's. */
class PeakTracker {
  readonly #nodes: readonly ServerProcess[];
  readonly #overall = new Map<string, number>();

  constructor(nodes: readonly ServerProcess[]) {
    this.#nodes = nodes;
  }

  /** Folds the peak so far into the run's peak, then restarts the kernel's count. */
  restart(): void {
    for (const node of this.#nodes) {
      this.#fold(node.id, sampleProcess(node.pid));
      resetPeakRss(node.pid);
    }
  }

  /** The peak of each node since restart(), folded into the run's peak too. */
  sinceRestart(): Map<string, number> {
    const result = new Map<string, number>();
    for (const node of this.#nodes) {
      const sample = sampleProcess(node.pid);
      this.#fold(node.id, sample);
      result.set(node.id, sample?.peakRssBytes ?? 0);
    }
    return result;
  }

  overall(): Record<string, number> {
    this.sinceRestart();
    return Object.fromEntries(this.#overall);
  }

  #fold(id: string, sample: ProcessSample | undefined): void {
    if (sample !== undefined) this.#overall.set(id, Math.max(this.#overall.get(id) ?? 0, sample.peakRssBytes));
  }
}

async function runWorkload(cluster: SystemCluster, workload: Workload, endpoints: readonly string[], leader: string, peaks: PeakTracker, context: RunContext): Promise<WorkloadResult> {
  const { options } = context;
  const progress = new ProgressLine(`${cluster.kind.padEnd(8)} ${workload.name.padEnd(22)}`);
  const pool = options.target === "leader" ? endpoints.slice(0, 1) : options.target === "followers" ? endpoints.slice(1) : endpoints;
  const targets = Array.from({ length: workload.clients }, (_, i) => pool[i % pool.length]!);
  const generators = Math.min(options.generators, workload.clients);
  const specs: GeneratorSpec[] = Array.from({ length: generators }, (_, g) => ({
    system: cluster.kind,
    targets: targets.filter((_, i) => i % generators === g),
    keyPrefix: WORKLOAD_KEY_PREFIX,
    keyCount: workload.keyCount,
    valueBytes: workload.valueBytes,
    readFraction: workload.readFraction,
    consistency: workload.consistency,
    seed: 1000 + g,
  }));
  peaks.restart();
  const generatorPool = await GeneratorPool.start(specs);
  let merged;
  let before: (ProcessSample | undefined)[];
  let after: (ProcessSample | undefined)[];
  let machineBefore: number | undefined;
  let machineAfter: number | undefined;
  try {
    await during(options.warmupSeconds, (elapsed) => progress.update(`warm-up ${elapsed.toFixed(0)}/${options.warmupSeconds} s`));
    before = cluster.nodes.map((node) => sampleProcess(node.pid));
    machineBefore = machineBusySeconds();
    generatorPool.measure();
    await during(options.durationSeconds, (elapsed) => {
      const { ops, errors } = generatorPool.progress();
      progress.update(`${bar(elapsed / options.durationSeconds)}  ${ops.toLocaleString("en-US")} ops${errors > 0 ? `, ${errors} errors` : ""}`);
    });
    after = cluster.nodes.map((node) => sampleProcess(node.pid));
    machineAfter = machineBusySeconds();
    merged = await generatorPool.stop();
  } catch (error) {
    generatorPool.kill();
    throw error;
  }
  const peakNow = peaks.sinceRestart();
  const seconds = merged.windowMs / 1000;
  const ops = merged.all.count;
  const errors = Object.values(merged.errors).reduce((sum, count) => sum + count, 0);
  const nodes: NodeFigures[] = cluster.nodes.map((node, i) => {
    const mainBefore = before[i]?.mainThreadCpuSeconds;
    const mainAfter = after[i]?.mainThreadCpuSeconds;
    return {
      id: node.id,
      leader: node.id === leader,
      cpuSeconds: (after[i]?.cpuSeconds ?? 0) - (before[i]?.cpuSeconds ?? 0),
      ...(mainBefore !== undefined && mainAfter !== undefined ? { mainThreadCpuSeconds: mainAfter - mainBefore } : {}),
      peakRssBytes: peakNow.get(node.id) ?? 0,
    };
  });
  const nodeCpuSeconds = nodes.reduce((sum, node) => sum + node.cpuSeconds, 0);
  const otherCpuSeconds = machineBefore === undefined || machineAfter === undefined ? undefined : Math.max(0, machineAfter - machineBefore - nodeCpuSeconds - merged.generatorCpuSeconds);
  const result: WorkloadResult = {
    name: workload.name,
    title: workload.title,
    kind: workload.kind,
    clients: workload.clients,
    valueBytes: workload.valueBytes,
    seconds,
    ops,
    opsPerSecond: seconds > 0 ? ops / seconds : 0,
    latency: latencySummary(merged.all),
    reads: merged.reads.count > 0 ? latencySummary(merged.reads) : undefined,
    writes: merged.writes.count > 0 ? latencySummary(merged.writes) : undefined,
    errors,
    errorKinds: merged.errors,
    errorSamples: merged.errorSamples,
    nodes,
    nodeCpuUsPerOp: ops > 0 ? (nodeCpuSeconds * 1e6) / ops : 0,
    generatorCpuPercent: seconds > 0 ? (100 * merged.generatorCpuSeconds) / seconds : 0,
    otherCpuPercent: otherCpuSeconds === undefined || seconds <= 0 ? undefined : (100 * otherCpuSeconds) / seconds,
  };
  const busy = result.otherCpuPercent !== undefined && result.otherCpuPercent > OTHER_CPU_WARNING_PERCENT ? `  (other processes used ${result.otherCpuPercent.toFixed(0)}% of a core meanwhile)` : "";
  progress.done(
    `${Math.round(result.opsPerSecond).toLocaleString("en-US").padStart(7)} ops/s  p50 ${ms(result.latency.p50Ms)}  p99 ${ms(result.latency.p99Ms)}  p99.9 ${ms(result.latency.p999Ms)}${errors > 0 ? `  ${errors} errors` : ""}${busy}`,
  );
  return result;
}

/**
 * Puts keys [0, count) once each through the leader (endpoints[0]): loading is not measured, and
 * the leader is the fastest way in for both systems. Returns how long it took and how many puts failed.
 */
async function fillKeys(label: string, endpoints: readonly string[], system: SystemName, keyPrefix: string, count: number, valueBytes: number, peaks?: PeakTracker): Promise<{ seconds: number; errors: number }> {
  const progress = new ProgressLine(label);
  const targets = Array.from({ length: FILL_CONNECTIONS }, () => endpoints[0]!);
  peaks?.restart();
  const started = performance.now();
  const pool = await GeneratorPool.start([{ system, targets, keyPrefix, keyCount: count, valueBytes, readFraction: 0, consistency: "linearizable", seed: 7 }], [0, count]);
  const ticker = setInterval(() => progress.update(`${bar(pool.progress().ops / count)}  ${pool.progress().ops.toLocaleString("en-US")} keys`), BENCH_PROGRESS_INTERVAL_MS);
  try {
    const result = await pool.finished(Math.max(120_000, count * 20));
    const seconds = (performance.now() - started) / 1000;
    const errors = Object.values(result.errors).reduce((sum, n) => sum + n, 0);
    const missing = count - result.writes.count;
    progress.done(`${count.toLocaleString("en-US")} keys in ${seconds.toFixed(1)} s${errors > 0 ? `, ${errors} failed puts (retried)` : ""}${missing > 0 ? `, ${missing} keys NOT loaded` : ""}`);
    if (missing > 0) throw new Error(`${label}: ${missing} keys could not be loaded: ${JSON.stringify(result.errorSamples).slice(0, 400)}`);
    return { seconds, errors };
  } finally {
    clearInterval(ticker);
    pool.kill();
  }
}

async function measureMemory(name: SystemName, start: StartCluster, root: string, system: SystemName, keys: number, context: RunContext): Promise<MemoryFigures> {
  const log = context.log;
  log(`${name}: memory with ${keys.toLocaleString("en-US")} keys of ${MEMORY_VALUE_BYTES} B, on a fresh cluster ...`);
  const cluster = await start(root, undefined);
  const killCluster = (): void => cluster.nodes.forEach((node) => node.kill());
  context.onInterrupt.add(killCluster);
  try {
    await waitWritableThroughEveryNode(cluster);
    const leader = await cluster.leader();
    const load = await fillKeys(`${name} loading ${keys.toLocaleString("en-US")} keys of ${MEMORY_VALUE_BYTES} B`, endpointsLeaderFirst(cluster.nodes, leader), system, MEMORY_KEY_PREFIX, keys, MEMORY_VALUE_BYTES);
    await sleep(SETTLE_MS);
    const samples = cluster.nodes.map((node) => [node.id, sampleProcess(node.pid)] as const);
    const figures: MemoryFigures = {
      keys,
      valueBytes: MEMORY_VALUE_BYTES,
      loadSeconds: load.seconds,
      loadErrors: load.errors,
      rssBytes: Object.fromEntries(samples.map(([id, sample]) => [id, sample?.rssBytes ?? 0])),
      peakRssBytes: Object.fromEntries(samples.map(([id, sample]) => [id, sample?.peakRssBytes ?? 0])),
    };
    log(`${name}: resident memory holding ${keys.toLocaleString("en-US")} keys: ${samples.map(([id, sample]) => `${id} ${mib(sample?.rssBytes ?? 0)}`).join(", ")}`);
    return figures;
  } finally {
    await cluster.close();
    context.onInterrupt.delete(killCluster);
  }
}

function summarizeProfiles(dir: string, pids: Map<number, string>, leader: string): ProfileSummary[] {
  const summaries: ProfileSummary[] = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).sort()) {
    const pid = Number(/^CPU\.\d+\.\d+\.(\d+)\./.exec(file)?.[1]);
    const id = pids.get(pid);
    if (id === undefined) continue;
    const label = `${id}${id === leader ? " (leader)" : ""} ${path.join(dir, file)}`;
    summaries.push(summarizeProfile(readProfile(path.join(dir, file)), label));
  }
  return summaries;
}

/**
 * Waits until a write through each member is acknowledged: a member may say it is ready before
 * it can forward to the leader. Returns how long that took; throws past the start-up deadline.
 */
async function waitWritableThroughEveryNode(cluster: SystemCluster): Promise<number> {
  const started = performance.now();
  for (const node of cluster.nodes) {
    while (!(await cluster.writeThrough(node))) {
      if (performance.now() - started > BENCH_CLUSTER_READY_TIMEOUT_MS) throw new Error(`${cluster.kind} member ${node.id} accepted no write within ${BENCH_CLUSTER_READY_TIMEOUT_MS} ms:\n${node.output}`);
      await sleep(50);
    }
  }
  return performance.now() - started;
}

/** The members' client addresses, the leader's first (connection i goes to endpoint i mod n). */
function endpointsLeaderFirst(nodes: readonly ServerProcess[], leader: string): string[] {
  const ordered = [...nodes].sort((a, b) => Number(b.id === leader) - Number(a.id === leader));
  return ordered.map((node) => node.clientAddress);
}

/** Waits `seconds`, calling tick(elapsed seconds) every progress interval. */
async function during(seconds: number, tick: (elapsedSeconds: number) => void): Promise<void> {
  const started = performance.now();
  const end = started + seconds * 1000;
  for (let now = started; now < end; now = performance.now()) {
    tick((now - started) / 1000);
    await sleep(Math.min(BENCH_PROGRESS_INTERVAL_MS, end - now));
  }
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function ms(value: number): string {
  return `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`;
}
