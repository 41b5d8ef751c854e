/**
 * The terminal report: the machine's limits, one table per system, the ratio Flotilla/etcd for
 * every figure, and the issue's targets with their verdicts.
 */
import type { BenchReport, SystemResult, TargetVerdict, WorkloadResult } from "./results.js";
import type { LoadFloor } from "./load-floor.js";
import type { MachineLimits } from "./machine.js";
import { formatProfile } from "./profile-summary.js";

const MiB = 1024 * 1024;
const TARGET_WORDS: Record<string, string> = { all: "all members, spread (leader first)", leader: "the leader only", followers: "the followers only" };

export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: readonly string[]): string => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join("  ");
  return [line(header), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(line)].join("\n");
}

export const SYSTEM_HEADER = ["workload", "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "node CPU s", "CPU µs/op", "peak RSS MiB", "gen CPU", "other CPU"];

export function systemRows(system: SystemResult): string[][] {
  return system.workloads.map((w) => [
    w.name,
    fixed(w.opsPerSecond, 0),
    latency(w.latency.p50Ms),
    latency(w.latency.p99Ms),
    latency(w.latency.p999Ms),
    String(w.errors),
    w.nodes.map((n) => `${n.cpuSeconds.toFixed(1)}${n.leader ? "*" : ""}`).join(" "),
    fixed(w.nodeCpuUsPerOp, 0),
    w.nodes.map((n) => (n.peakRssBytes / MiB).toFixed(0)).join(" "),
    `${w.generatorCpuPercent.toFixed(0)}%`,
    w.otherCpuPercent === undefined ? "-" : `${w.otherCpuPercent.toFixed(0)}%`,
  ]);
}

export const RATIO_HEADER = ["workload", "ops/s", "p50", "p99", "p99.9", "errors F/e", "node CPU s", "CPU/op", "peak RSS"];

/** Flotilla/etcd for every figure of every workload both ran. */
export function ratioRows(flotilla: SystemResult, etcd: SystemResult): string[][] {
  const rows: string[][] = [];
  for (const f of flotilla.workloads) {
    const e = etcd.workloads.find((w) => w.name === f.name);
    if (e === undefined) continue;
    rows.push([
      f.name,
      ratio(f.opsPerSecond, e.opsPerSecond),
      ratio(f.latency.p50Ms, e.latency.p50Ms),
      ratio(f.latency.p99Ms, e.latency.p99Ms),
      ratio(f.latency.p999Ms, e.latency.p999Ms),
      `${f.errors}/${e.errors}`,
      ratio(totalCpu(f), totalCpu(e)),
      ratio(f.nodeCpuUsPerOp, e.nodeCpuUsPerOp),
      ratio(maxPeak(f), maxPeak(e)),
    ]);
  }
  return rows;
}

function totalCpu(workload: WorkloadResult): number {
  return workload.nodes.reduce((sum, node) => sum + node.cpuSeconds, 0);
}

function maxPeak(workload: WorkloadResult): number {
  return Math.max(...workload.nodes.map((node) => node.peakRssBytes));
}

interface TargetRule {
  readonly target: string;
  readonly goal: string;
  readonly compute: (flotilla: SystemResult, etcd: SystemResult) => number | undefined;
  readonly met: (ratio: number) => boolean;
}

function workloadRatio(name: string, figure: (w: WorkloadResult) => number): TargetRule["compute"] {
  return (flotilla, etcd) => {
    const f = flotilla.workloads.find((w) => w.name === name);
    const e = etcd.workloads.find((w) => w.name === name);
    if (f === undefined || e === undefined || figure(e) === 0) return undefined;
    return figure(f) / figure(e);
  };
}

const TARGETS: readonly TargetRule[] = [
  { target: "write throughput, 64 clients", goal: "≥ 1.5", compute: workloadRatio("write-64c-100B", (w) => w.opsPerSecond), met: (r) => r >= 1.5 },
  { target: "write throughput, 256 clients", goal: "≥ 1.5", compute: workloadRatio("write-256c-100B", (w) => w.opsPerSecond), met: (r) => r >= 1.5 },
  { target: "p99 write latency, 64 clients", goal: "≤ 1.0", compute: workloadRatio("write-64c-100B", (w) => w.latency.p99Ms), met: (r) => r <= 1 },
  { target: "single-client write latency (p50)", goal: "≤ 0.7", compute: workloadRatio("write-1c-100B", (w) => w.latency.p50Ms), met: (r) => r <= 0.7 },
  { target: "linearizable read throughput, 64 clients", goal: "≥ 1.5", compute: workloadRatio("read-lin-64c-100B", (w) => w.opsPerSecond), met: (r) => r >= 1.5 },
  {
    target: "peak RSS per node (highest node, whole run)",
    goal: "≤ 1.0",
    compute: (flotilla, etcd) => {
      const f = Math.max(...Object.values(flotilla.peakRssBytes));
      const e = Math.max(...Object.values(etcd.peakRssBytes));
      return e > 0 ? f / e : undefined;
    },
    met: (r) => r <= 1,
  },
  {
    // etcd's peak is dominated by its memory-mapped bbolt file once 4 KiB values are in it;
    // this row shows the comparison where that does not decide it.
    target: "peak RSS per node, 100-byte workloads only (informative)",
    goal: "≤ 1.0",
    compute: (flotilla, etcd) => {
      const peak = (system: SystemResult): number => Math.max(0, ...system.workloads.filter((w) => w.valueBytes <= 100).map(maxPeak));
      return peak(etcd) > 0 && peak(flotilla) > 0 ? peak(flotilla) / peak(etcd) : undefined;
    },
    met: (r) => r <= 1,
  },
];

export function evaluateTargets(systems: readonly SystemResult[]): TargetVerdict[] {
  const flotilla = systems.find((s) => s.system === "flotilla");
  const etcd = systems.find((s) => s.system === "etcd");
  return TARGETS.map((rule) => {
    const ratio = flotilla && etcd ? rule.compute(flotilla, etcd) : undefined;
    return { target: rule.target, goal: rule.goal, ratio, met: ratio === undefined ? undefined : rule.met(ratio) };
  });
}

/** One target judged over the rounds of `--rounds N`: on the median of the rounds' ratios. */
export interface RoundsVerdict extends TargetVerdict {
  /** Each round's ratio, in order (undefined where that round did not measure it). */
  readonly rounds: readonly (number | undefined)[];
}

export function evaluateTargetsOverRounds(reports: readonly BenchReport[]): RoundsVerdict[] {
  return TARGETS.map((rule) => {
    const rounds = reports.map((report) => {
      const flotilla = report.systems.find((s) => s.system === "flotilla");
      const etcd = report.systems.find((s) => s.system === "etcd");
      return flotilla && etcd ? rule.compute(flotilla, etcd) : undefined;
    });
    const ratio = median(rounds.filter((r): r is number => r !== undefined));
    return { target: rule.target, goal: rule.goal, rounds, ratio, met: ratio === undefined ? undefined : rule.met(ratio) };
  });
}

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function formatRoundsSummary(verdicts: readonly RoundsVerdict[]): string {
  const count = Math.max(0, ...verdicts.map((v) => v.rounds.length));
  const header = ["target (ratio Flotilla/etcd)", ...Array.from({ length: count }, (_, i) => `round ${i + 1}`), "median", "goal", "verdict"];
  const ratio = (value: number | undefined): string => (value === undefined ? "-" : value.toFixed(2));
  const rows = verdicts.map((v) => [v.target, ...v.rounds.map(ratio), ratio(v.ratio), v.goal, v.met === undefined ? "not measured" : v.met ? "met" : "MISSED"]);
  return [`targets over ${count} rounds (etcd ran first in rounds 2, 4, ...; the median decides):`, formatTable(header, rows)].join("\n");
}

export function formatReport(report: BenchReport): string {
  const out: string[] = [];
  const m = report.machine;
  out.push("", `machine: ${m.cpus} × ${m.cpuModel}, ${(m.memoryBytes / 1024 ** 3).toFixed(0)} GiB, ${m.kernel}, node ${m.nodeVersion}`);
  if (m.loadAverageAtStart > 0.5) out.push(`  WARNING: load average ${m.loadAverageAtStart.toFixed(2)} when the run began: other work on this machine disturbs the figures (see "other CPU")`);
  out.push(`  disk: ${fixed(m.fdatasync.perSecond, 0)} fdatasyncs/s (4 KiB appends, ${latency(m.fdatasync.meanMs)} ms each) in ${m.fdatasync.folder}`);
  out.push(`  loopback round trip: ${latency(m.loopbackRtt.medianMs)} ms median (${latency(m.loopbackRtt.meanMs)} mean, ${m.loopbackRtt.roundTrips} round trips between two processes)`);
  out.push(
    `  load generator: ${fixed(m.generator.opsPerSecond, 0)} req/s against a trivial HTTP server (${m.generator.connections} connections, generator at ${m.generator.cpuPercent.toFixed(0)}% of a core: ~${fixed(m.generator.opsPerCpuSecond, 0)} req per CPU second)`,
  );
  out.push(`  ceiling for one client writing: ${latency(m.singleWriteCeiling.latencyMs)} ms a write = ${fixed(m.singleWriteCeiling.opsPerSecond, 0)} writes/s (${m.singleWriteCeiling.reasoning})`);
  const floor = m.replicationFloor;
  out.push(
    `  measured floor for one client writing: ${latency(floor.medianMs)} ms median, ${latency(floor.p99Ms)} ms p99 (${floor.writes} writes through three processes that only forward, append and fdatasync: no HTTP, no Raft, no state machine)`,
  );
  const service = m.serviceFloor;
  out.push(
    `  service floor (the same, plus HTTP in and out and a SQLite upsert on the leader before it answers): ${latency(service.medianMs)} ms median, ${latency(service.p99Ms)} ms p99 (${service.writes} writes)`,
  );
  for (const load of m.loadFloors) {
    out.push(
      `  service floor under load (${load.clients} clients over three processes that forward, group-commit, replicate, fdatasync and apply to SQLite, nothing else): ${fixed(load.opsPerSecond, 0)} writes/s at ${fixed(load.cpuUsPerOp, 0)} µs of CPU a write${load.errors > 0 ? `, ${load.errors} errors` : ""}`,
    );
  }
  out.push(`settings: ${report.settings.warmupSeconds} s warm-up + ${report.settings.durationSeconds} s per workload, ${report.settings.keys.toLocaleString("en-US")} keys, ${report.settings.generators} generator process(es), connections to ${TARGET_WORDS[report.settings.target] ?? report.settings.target}`);
  for (const system of report.systems) {
    out.push("", `${system.system} ${system.version} (leader at start: ${system.leader}; * marks the leader's CPU; every member took writes ${system.writableAfterReadyMs.toFixed(0)} ms after ready)`);
    out.push(formatTable(SYSTEM_HEADER, systemRows(system)));
    out.push(memoryLine(system));
    const offLoop = system.system === "flotilla" ? offEventLoopLine(system) : undefined;
    if (offLoop !== undefined) out.push(offLoop);
    const oddities = oddityLines(system);
    if (oddities.length > 0) out.push(...oddities);
  }
  const flotilla = report.systems.find((s) => s.system === "flotilla");
  const etcd = report.systems.find((s) => s.system === "etcd");
  if (flotilla && etcd) {
    out.push("", "ratio Flotilla/etcd (ops/s: higher is better; latency, CPU, memory: lower is better)");
    out.push(formatTable(RATIO_HEADER, ratioRows(flotilla, etcd)));
    out.push("", "targets (ratio Flotilla/etcd):");
    for (const verdict of report.targets) {
      const mark = verdict.met === undefined ? "not measured" : verdict.met ? "met" : "MISSED";
      out.push(`  ${verdict.target.padEnd(58)} ${verdict.ratio === undefined ? "   -  " : verdict.ratio.toFixed(2).padStart(6)}  goal ${verdict.goal}  ${mark}`);
    }
    const floorLines = [singleClientFloorLine(report.machine, flotilla, etcd), ...report.machine.loadFloors.map((floor) => loadFloorLine(floor, flotilla, etcd))];
    for (const line of floorLines) if (line !== undefined) out.push(line);
  } else if (report.etcdSkipped !== undefined) {
    out.push("", `etcd comparison skipped: ${report.etcdSkipped}`);
  }
  for (const system of report.systems) for (const profile of system.profiles) out.push("", formatProfile(profile));
  return out.join("\n");
}

/**
 * The single-client target beside the floor of the design on this machine: how much of the
 * 0.7 × etcd budget is left once HTTP, replication with fdatasync and a SQLite upsert, done
 * the cheapest way, have taken theirs.
 */
export function singleClientFloorLine(machine: MachineLimits, flotilla: SystemResult, etcd: SystemResult): string | undefined {
  const p50 = (system: SystemResult): number | undefined => system.workloads.find((w) => w.name === "write-1c-100B")?.latency.p50Ms;
  const etcdMs = p50(etcd);
  const flotillaMs = p50(flotilla);
  if (etcdMs === undefined || flotillaMs === undefined) return undefined;
  const goalMs = 0.7 * etcdMs;
  const floorMs = machine.serviceFloor.medianMs;
  const room = goalMs - floorMs;
  return (
    `  single-client goal ${latency(goalMs)} ms (0.7 × etcd's ${latency(etcdMs)}); the service floor (HTTP, fdatasync on two of three, a SQLite upsert, nothing else) ` +
    `${latency(floorMs)} ms: ${room > 0 ? `${latency(room)} ms left for Raft and everything else` : `${latency(-room)} ms above the goal already`}; Flotilla ${latency(flotillaMs)} ms (${latency(flotillaMs - floorMs)} over the floor)`
  );
}

/**
 * A write-throughput target beside the service floor under the same load: whether the design
 * can reach the goal on this machine at all, and how much of the floor Flotilla reaches.
 */
export function loadFloorLine(floor: LoadFloor, flotilla: SystemResult, etcd: SystemResult): string | undefined {
  const rate = (system: SystemResult): number | undefined => system.workloads.find((w) => w.name === `write-${floor.clients}c-100B`)?.opsPerSecond;
  const etcdRate = rate(etcd);
  const flotillaRate = rate(flotilla);
  if (etcdRate === undefined || flotillaRate === undefined || floor.opsPerSecond <= 0) return undefined;
  const goal = 1.5 * etcdRate;
  return (
    `  ${floor.clients}-client write goal ${fixed(goal, 0)}/s (1.5 × etcd's ${fixed(etcdRate, 0)}); the service floor under that load ${fixed(floor.opsPerSecond, 0)}/s ` +
    `(${(floor.opsPerSecond / etcdRate).toFixed(2)} × etcd); Flotilla ${fixed(flotillaRate, 0)}/s, ${((100 * flotillaRate) / floor.opsPerSecond).toFixed(0)}% of the floor`
  );
}

function memoryLine(system: SystemResult): string {
  const idle = Object.entries(system.idleRssBytes).map(([id, bytes]) => `${id} ${(bytes / MiB).toFixed(0)}`).join(", ");
  const peak = Object.entries(system.peakRssBytes).map(([id, bytes]) => `${id} ${(bytes / MiB).toFixed(0)}`).join(", ");
  const idleCpu = Object.entries(system.idleCpuPercent).map(([id, percent]) => `${id} ${percent.toFixed(1)}%`).join(", ");
  let line = `idle CPU: ${idleCpu}\nresident memory, MiB: idle ${idle}; peak over the run ${peak}`;
  if (system.memory !== undefined) {
    const held = Object.entries(system.memory.rssBytes).map(([id, bytes]) => `${id} ${(bytes / MiB).toFixed(0)}`).join(", ");
    line += `; holding ${system.memory.keys.toLocaleString("en-US")} keys of ${system.memory.valueBytes} B: ${held} (loaded in ${system.memory.loadSeconds.toFixed(1)} s)`;
  }
  return line;
}

/**
 * The share of the nodes' CPU spent off their event loops, per workload: what a CPU profile of
 * the main thread does not show (a Go server has no single loop, so only Flotilla's).
 */
export function offEventLoopLine(system: SystemResult): string | undefined {
  const shares: string[] = [];
  for (const workload of system.workloads) {
    const total = workload.nodes.reduce((sum, node) => sum + node.cpuSeconds, 0);
    const main = workload.nodes.reduce((sum, node) => sum + (node.mainThreadCpuSeconds ?? Number.NaN), 0);
    if (!Number.isFinite(main) || total <= 0) continue;
    shares.push(`${workload.name} ${((100 * Math.max(0, total - main)) / total).toFixed(0)}%`);
  }
  if (shares.length === 0) return undefined;
  return `node CPU off the event loops (V8's garbage-collection and compiler threads, libuv's pool: the WAL's fdatasync): ${shares.join(", ")}`;
}

/** Errors by kind and what the nodes logged at warning level or worse. */
function oddityLines(system: SystemResult): string[] {
  const lines: string[] = [];
  for (const workload of system.workloads) {
    for (const [kind, count] of Object.entries(workload.errorKinds)) {
      lines.push(`  ${workload.name}: ${count} × ${kind}${workload.errorSamples[kind] ? `: ${workload.errorSamples[kind]!.slice(0, 160)}` : ""}`);
    }
  }
  for (const [id, summary] of Object.entries(system.logs)) {
    if (summary.warnings + summary.errors + summary.unstructured === 0) continue;
    const messages = Object.entries(summary.messages)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([message, count]) => `${count} × ${JSON.stringify(message.slice(0, 100))}`);
    lines.push(`  ${id} logged ${summary.warnings} warnings, ${summary.errors} errors, ${summary.unstructured} other lines: ${messages.join("; ")}`);
  }
  return lines.length === 0 ? [] : ["errors and warnings:", ...lines];
}

function ratio(a: number, b: number): string {
  if (b === 0) return a === 0 ? "-" : "∞";
  return (a / b).toFixed(2);
}

export function fixed(value: number, digits: number): string {
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function latency(valueMs: number): string {
  return valueMs < 10 ? valueMs.toFixed(2) : valueMs < 100 ? valueMs.toFixed(1) : valueMs.toFixed(0);
}
