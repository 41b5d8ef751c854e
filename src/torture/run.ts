/**
 * One torture run, start to end: set up the network, start the nodes, run the clients and the
 * nemesis for the duration, heal everything, check the outcome, write the report. Whatever
 * happens (an anomaly, an error, Ctrl-C), the processes, namespaces and relays are removed.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TORTURE_HISTORY_OPS_MAX } from "./limits.js";
import { Rng } from "../util/rng.js";
import { LeaderMonitor } from "./monitor.js";
import { Nemesis, type NemesisControl } from "./nemesis.js";
import { NamespaceNetwork, namespacesUnavailable } from "./netns.js";
import { HEALED, type Network } from "./network.js";
import { formatNemesis, NEMESIS_KINDS, replayCommand, type TortureOptions } from "./options.js";
import { TortureCluster } from "./processes.js";
import { LoopbackNetwork } from "./relay.js";
import { availability, writeReport, type ReportOp, type TortureSummary } from "./report.js";
import { planSchedule } from "./schedule.js";
import { FINAL_READ_PROCESS_BASE, verify, type VerifyResult } from "./verify.js";
import { Workload } from "./workload.js";

export interface TortureIo {
  /** A progress line (redrawn on a terminal). */
  progress(line: string): void;
  /** A line worth keeping: what runs where, phases, anomalies. */
  log(line: string): void;
}

export class TortureInterrupted extends Error {
  override name = "TortureInterrupted";
}

/** How often the progress line is drawn. */
const PROGRESS_INTERVAL_MS = 2_000;

export async function runTorture(options: TortureOptions, io: TortureIo, signal?: AbortSignal): Promise<TortureSummary> {
  const startedMs = performance.now();
  const reportDir = path.resolve(options.reportDir ?? path.join("torture-reports", `${timestamp()}-seed${options.seed}`));
  fs.mkdirSync(reportDir, { recursive: true });
  const network = await openNetwork(options, io);
  const dataRoot = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-torture-"));
  let t0 = performance.now();
  const clock = (): number => Math.round((performance.now() - t0) * 1000) / 1000;
  const cluster = new TortureCluster({
    network,
    nodes: options.nodes,
    dataRoot,
    logDir: path.join(reportDir, "nodes"),
    logLevel: options.logLevel,
    nodeArgs: options.nodeArgs,
    opTimeoutMs: options.opTimeoutMs,
    clock,
  });
  const lastResort = (): void => {
    cluster.closeNow();
    network.closeNow();
  };
  process.once("exit", lastResort);
  let anomalyFound = true;
  try {
    io.log(`flotilla torture: seed ${options.seed}, ${options.nodes} nodes, ${options.clients} clients, ${options.keys} keys, ${options.durationS} s, nemesis ${formatNemesis(options.nemesis)}, profile ${options.profile}`);
    io.log(`flotilla torture: network: ${network.description}`);
    io.log(`flotilla torture: report in ${reportDir}`);
    await cluster.start().catch((error: Error) => {
      throw new Error(`the cluster did not start: ${error.message}\n${cluster.slots.map((slot) => `--- ${slot.id}\n${slot.logTail}`).join("\n")}`);
    });
    if (!cluster.slots.every((slot) => slot.life === "running")) throw new Error(`a node exited while starting:\n${cluster.events.map((e) => e.detail).join("\n")}`);
    const summary = await runPhases(options, io, signal, cluster, network, reportDir, startedMs, () => (t0 = performance.now()), clock);
    anomalyFound = summary.anomalies > 0;
    return summary;
  } catch (error) {
    if (error instanceof TortureInterrupted) anomalyFound = false;
    throw error;
  } finally {
    await cluster.close();
    await network.close();
    process.removeListener("exit", lastResort);
    if (anomalyFound || options.keepData) io.log(`flotilla torture: the nodes' data is kept in ${dataRoot}`);
    else fs.rmSync(dataRoot, { recursive: true, force: true });
  }
}

async function runPhases(
  options: TortureOptions,
  io: TortureIo,
  signal: AbortSignal | undefined,
  cluster: TortureCluster,
  network: Network,
  reportDir: string,
  startedMs: number,
  startClock: () => void,
  clock: () => number,
): Promise<TortureSummary> {
  const monitor = new LeaderMonitor(cluster, clock);
  const workload = new Workload({
    clients: options.clients,
    keys: options.keys,
    nodes: options.nodes,
    seed: options.seed,
    historyMax: TORTURE_HISTORY_OPS_MAX,
    clientFor: (slot) => cluster.client(slot),
    nodeOf: (slot) => cluster.slots[slot]!.id,
    clock,
  });
  const nemesis = new Nemesis(nemesisControl(options, cluster, network, monitor, clock));
  const plan = planSchedule(options);
  io.log(`flotilla torture: ${plan.length} faults planned; the cluster is up, the workload starts`);
  startClock();
  monitor.start();
  await monitor.poll();
  workload.start();
  const nemesisDone = nemesis.run(plan);
  const durationMs = options.durationS * 1000;
  const progress = setInterval(() => io.progress(progressLine(clock(), durationMs, workload, nemesis, monitor)), PROGRESS_INTERVAL_MS);
  try {
    await waitFor(durationMs, signal);
  } finally {
    clearInterval(progress);
    nemesis.stop();
    await nemesisDone;
    await workload.stop();
  }
  io.progress(progressLine(clock(), durationMs, workload, nemesis, monitor));
  if (signal?.aborted) throw new TortureInterrupted("interrupted: the nodes were stopped; no verdict");
  io.log(`flotilla torture: workload done (${workload.counts.total} operations); healing everything and waiting for the cluster to converge`);
  if (network instanceof LoopbackNetwork) {
    const dropped = network.dropped();
    io.log(`flotilla torture: the relay dropped ${dropped.cut} frames on cut links and ${dropped.loss} to loss`);
  }
  await network.apply(HEALED);
  cluster.heal();
  const verdict = await verify(cluster, workload, options.keys, options.checkBudgetMs);
  monitor.stop();
  const summary = summarize(options, network, workload, nemesis, monitor, cluster, verdict, reportDir, startedMs, durationMs);
  for (const anomaly of summary.anomalyDetails) io.log(`ANOMALY: ${anomaly}`);
  writeReport(reportDir, {
    summary,
    history: workload.history,
    ops: workload.records.map((record): ReportOp => ({ process: record.op.process, callMs: record.op.call, endMs: record.endMs, outcome: record.op.outcome, node: record.node, ...(record.error === undefined ? {} : { error: record.error }) })),
    faults: nemesis.faults,
    leaders: monitor.samples,
    events: cluster.events,
    durationMs,
    finalReadProcessBase: FINAL_READ_PROCESS_BASE,
  });
  io.log(`flotilla torture: report written: ${path.join(reportDir, "index.html")}`);
  return summary;
}

function nemesisControl(options: TortureOptions, cluster: TortureCluster, network: Network, monitor: LeaderMonitor, clock: () => number): NemesisControl {
  return {
    nodes: options.nodes,
    clock,
    leaderSlot: () => monitor.leaderSlot(),
    idOf: (slot) => cluster.slots[slot]!.id,
    kill: (slot) => cluster.kill(slot),
    restart: (slot) => cluster.restart(slot),
    pause: (slot) => cluster.pause(slot),
    resume: (slot) => cluster.resume(slot),
    replace: (slot, stop) =>
      cluster.replace(
        slot,
        cluster.slots.filter((other) => other.index !== slot).map((other) => other.index),
        stop,
      ),
    applyNetwork: (state) => network.apply(state),
  };
}

function summarize(
  options: TortureOptions,
  network: Network,
  workload: Workload,
  nemesis: Nemesis,
  monitor: LeaderMonitor,
  cluster: TortureCluster,
  verdict: VerifyResult,
  reportDir: string,
  startedMs: number,
  durationMs: number,
): TortureSummary {
  const faults: Record<string, number> = {};
  for (const kind of NEMESIS_KINDS) if (options.nemesis.has(kind)) faults[kind] = 0;
  const faultVariants: Record<string, number> = {};
  for (const fault of nemesis.faults) {
    faults[fault.kind] = (faults[fault.kind] ?? 0) + 1;
    faultVariants[fault.variant] = (faultVariants[fault.variant] ?? 0) + 1;
  }
  const clientOps = workload.records.filter((record) => record.op.process < FINAL_READ_PROCESS_BASE);
  const counts = { total: clientOps.length, ok: 0, failed: 0, unknown: 0 };
  const errors: Record<string, number> = {};
  for (const { op, error } of clientOps) {
    if (error !== undefined) {
      const code = `${op.outcome === "fail" ? "failed" : "unknown"}:${error}`;
      errors[code] = (errors[code] ?? 0) + 1;
    }
    if (op.outcome === "ok") counts.ok++;
    else if (op.outcome === "fail") counts.failed++;
    else counts.unknown++;
  }
  const anomalyDetails = anomalies(verdict, workload, cluster);
  return {
    seed: options.seed,
    profile: options.profile,
    network: network.mode,
    nodes: options.nodes,
    clients: options.clients,
    keys: options.keys,
    durationS: options.durationS,
    nemesis: formatNemesis(options.nemesis),
    ops: counts,
    errors,
    faults,
    faultVariants,
    leaderChanges: monitor.leaderChanges,
    linearizable: verdict.linearizable,
    converged: verdict.converged,
    appliedIndex: verdict.appliedIndex,
    availability: availability(
      clientOps.map((record) => ({ process: record.op.process, callMs: record.op.call, endMs: record.endMs, outcome: record.op.outcome })),
      nemesis.faults,
      durationMs,
    ),
    anomalies: anomalyDetails.length,
    anomalyDetails,
    checkMs: verdict.checkMs,
    seconds: Math.round((performance.now() - startedMs) / 100) / 10,
    report: reportDir,
    replay: replayCommand(options),
  };
}

function anomalies(verdict: VerifyResult, workload: Workload, cluster: TortureCluster): string[] {
  const found: string[] = [];
  if (verdict.linearizable === "illegal") found.push(`the history is not linearizable:\n${verdict.checkExplanation ?? ""}`);
  if (verdict.linearizable === "unknown") found.push(`the checker could not decide within its time budget (${verdict.checkMs} ms): ${verdict.checkExplanation ?? ""}`);
  if (!verdict.converged) found.push(`the cluster did not converge after healing: ${verdict.convergenceDetail}`);
  found.push(...verdict.divergence.map((line) => `divergence: ${line}`));
  found.push(...verdict.lostWrites.map((line) => `lost acknowledged write: ${line}`));
  found.push(...verdict.failedWritesSeen.map((line) => `a write answered as not applied took effect: ${line}`));
  found.push(...cluster.events.filter((event) => event.what === "crash").map((event) => `crash at ${(event.atMs / 1000).toFixed(1)}s: ${event.detail}`));
  found.push(...workload.unexpected.map((line) => `unexpected answer: ${line}`));
  return found;
}

async function openNetwork(options: TortureOptions, io: TortureIo): Promise<Network> {
  const loopback = async (): Promise<Network> => LoopbackNetwork.open(options.nodes, rngFloat(options.seed));
  if (options.network === "loopback") return loopback();
  const unavailable = namespacesUnavailable({ iptables: true });
  if (unavailable !== undefined) {
    if (options.network === "netns") throw new Error(`network namespaces are not available: ${unavailable}`);
    io.log(`flotilla torture: network namespaces are not available (${unavailable}): falling back to loopback, where partitions and loss are made by a relay in this process`);
    return loopback();
  }
  try {
    return NamespaceNetwork.open(options.nodes);
  } catch (error) {
    if (options.network === "netns") throw error;
    io.log(`flotilla torture: network namespaces could not be set up (${(error as Error).message}): falling back to loopback`);
    return loopback();
  }
}

function rngFloat(seed: number): () => number {
  const rng = new Rng(seed ^ 0x10551055);
  return () => rng.float();
}

function progressLine(nowMs: number, durationMs: number, workload: Workload, nemesis: Nemesis, monitor: LeaderMonitor): string {
  const c = workload.counts;
  const active = nemesis.active();
  const leader = monitor.current.leader === "" ? "no leader" : `leader ${monitor.current.leader} (term ${monitor.current.term})`;
  const elapsed = Math.min(nowMs, durationMs) / 1000;
  return `[${elapsed.toFixed(0).padStart(4)}s/${durationMs / 1000}s] ${c.total} ops (${c.ok} ok, ${c.failed} failed, ${c.unknown} unknown), ${nemesis.faults.length} faults; now: ${active.length === 0 ? "no fault" : active.join("; ")}; ${leader}`;
}

function waitFor(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, "-").replace(/-\d{3}Z$/, "Z");
}

