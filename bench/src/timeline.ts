/**
 * The timeline of one write (issue 22): where a single client's write spends its time, step by
 * step, across the processes of a cluster. A one-node and a three-node Flotilla cluster run with
 * `flotilla start --trace FILE` (src/node/trace.ts: a JSON line per step, with a time every
 * process of this machine shares); one client writes 100-byte values one at a time to the
 * leader, a few thousand first for the caches and V8's optimizing compiler; then each write's steps are found in the nodes' files by the log index it took, and
 * the median time of each step since the leader took the HTTP request is reported, beside the
 * client's own p50 and p99 of the same writes.
 */
import fs from "node:fs";
import path from "node:path";
import { startFlotillaCluster } from "./flotilla-cluster.js";
import { HttpConnection } from "./http-connection.js";
import { BENCH_TIMELINE_WARMUP_WRITES, BENCH_TIMELINE_WRITES } from "./limits.js";
import { requestSet } from "./requests.js";

/** One step of a node's trace (src/node/trace.ts's TraceEvent, as read back from the file). */
export interface TraceLine {
  readonly at: number;
  readonly node: string;
  readonly step: string;
  readonly first?: number;
  readonly last?: number;
  readonly peer?: string;
}

export interface TimelineStep {
  readonly step: string;
  readonly node: string;
  /** Median microseconds since the leader took the request (over the writes that had the step). */
  readonly medianUs: number;
  readonly writes: number;
}

export interface Timeline {
  readonly nodes: number;
  readonly writes: number;
  readonly clientP50Ms: number;
  readonly clientP99Ms: number;
  readonly steps: readonly TimelineStep[];
}

export interface TimelineOptions {
  readonly root: string;
  readonly log: (line: string) => void;
  readonly writes?: number;
}

/** Runs the one-node and the three-node timelines, one after the other. */
export async function runTimelines(options: TimelineOptions): Promise<Timeline[]> {
  const timelines: Timeline[] = [];
  for (const size of [1, 3]) timelines.push(await runTimeline(size, options));
  return timelines;
}

async function runTimeline(size: number, options: TimelineOptions): Promise<Timeline> {
  const root = fs.mkdtempSync(path.join(options.root, `timeline-${size}-`));
  const traceDir = path.join(root, "traces");
  fs.mkdirSync(traceDir);
  options.log(`timeline: a ${size}-node cluster with --trace ...`);
  const cluster = await startFlotillaCluster({ size, root, extraArgs: [], traceDir });
  const latenciesMs: number[] = [];
  let leader: string;
  try {
    leader = await cluster.leader();
    const node = cluster.nodes.find((n) => n.id === leader)!;
    const requests = requestSet({ system: "flotilla", keyPrefix: "timeline/", keyCount: 1000, valueBytes: 100, consistency: "linearizable", host: node.clientAddress });
    const connection = new HttpConnection(node.clientAddress);
    await connection.open();
    const total = BENCH_TIMELINE_WARMUP_WRITES + (options.writes ?? BENCH_TIMELINE_WRITES);
    for (let i = 0; i < total; i++) {
      const request = requests.write(i % 1000);
      const started = performance.now();
      const response = await connection.request(request.head, request.body);
      if (response.status !== 200) throw new Error(`a write answered ${response.status}`);
      if (i >= BENCH_TIMELINE_WARMUP_WRITES) latenciesMs.push(performance.now() - started);
    }
    connection.close();
  } finally {
    await cluster.close(); // the nodes flush their trace files as they stop
  }
  const lines = readTraces(traceDir);
  const steps = lineUp(lines, leader, BENCH_TIMELINE_WARMUP_WRITES);
  latenciesMs.sort((a, b) => a - b);
  const timeline: Timeline = { nodes: size, writes: latenciesMs.length, clientP50Ms: quantile(latenciesMs, 0.5), clientP99Ms: quantile(latenciesMs, 0.99), steps };
  fs.rmSync(root, { recursive: true, force: true });
  return timeline;
}

function readTraces(dir: string): TraceLine[] {
  const lines: TraceLine[] = [];
  for (const file of fs.readdirSync(dir)) {
    for (const text of fs.readFileSync(path.join(dir, file), "utf8").split("\n")) if (text.trim() !== "") lines.push(JSON.parse(text) as TraceLine);
  }
  return lines.sort((a, b) => a.at - b.at);
}

/** How long after a request its steps are looked for (a slow follower may take milliseconds). */
const STEP_WINDOW_MS = 50;

const covers = (line: TraceLine, index: number): boolean => line.first !== undefined && line.last !== undefined && line.first <= index && index <= line.last;
const reaches = (line: TraceLine, index: number): boolean => line.last !== undefined && line.last >= index;

/**
 * Pairs each of the leader's `http-in` with the next entry it proposed (one client, one write at
 * a time, so they come in order), then finds, after that request arrived, the first event of
 * each step that concerns that entry on each node.
 */
export function lineUp(lines: readonly TraceLine[], leader: string, skip: number): TimelineStep[] {
  const onLeader = lines.filter((line) => line.node === leader);
  const arrivals = onLeader.filter((line) => line.step === "http-in");
  const samples = new Map<string, { step: string; node: string; us: number[] }>();
  const add = (step: string, node: string, us: number): void => {
    const key = `${step}@${node}`;
    let sample = samples.get(key);
    if (sample === undefined) samples.set(key, (sample = { step, node, us: [] }));
    sample.us.push(us);
  };
  for (let w = skip; w < arrivals.length; w++) {
    const start = arrivals[w]!.at;
    const next = arrivals[w + 1]?.at ?? Infinity;
    const proposed = onLeader.find((line) => line.step === "proposed" && line.at >= start && line.at < next);
    if (proposed === undefined || proposed.last === undefined) continue;
    const index = proposed.last;
    // The leader's own steps end with its answer; a follower's may come after the next request.
    const during = lines.filter((line) => line.at >= start && line.at < start + STEP_WINDOW_MS && (line.node !== leader || line.at < next));
    const seen = new Set<string>();
    for (const line of during) {
      const concerns = line.step === "ack-sent" || line.step === "ack-received" || line.step === "committed" ? reaches(line, index) : line.first === undefined ? true : covers(line, index);
      if (!concerns) continue;
      const key = `${line.step}@${line.node}${line.peer === undefined ? "" : `>${line.peer}`}`;
      if (seen.has(key)) continue;
      seen.add(key);
      add(line.peer === undefined ? line.step : `${line.step} (${line.peer})`, line.node, (line.at - start) * 1000);
    }
  }
  return [...samples.values()]
    .map(({ step, node, us }) => ({ step, node, medianUs: Math.round(quantile(us.sort((a, b) => a - b), 0.5)), writes: us.length }))
    .sort((a, b) => a.medianUs - b.medianUs);
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** The timeline as a table a person reads. */
export function formatTimeline(timeline: Timeline): string {
  const rows = [
    `${timeline.nodes} node${timeline.nodes === 1 ? "" : "s"}: ${timeline.writes} writes, client p50 ${timeline.clientP50Ms.toFixed(2)} ms, p99 ${timeline.clientP99Ms.toFixed(2)} ms`,
    `  ${"µs since the leader took the request".padEnd(38)}  node  step`,
  ];
  for (const step of timeline.steps) rows.push(`  ${String(step.medianUs).padStart(38)}  ${step.node.padEnd(4)}  ${step.step}${step.writes < timeline.writes ? `  (${step.writes} of the writes)` : ""}`);
  return rows.join("\n");
}
