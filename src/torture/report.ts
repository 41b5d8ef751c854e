/**
 * The report folder of a run:
 *   summary.json   every figure, and each anomaly in words
 *   history.jsonl  the operations, one a line (src/check's format: `loadHistory` reads it back)
 *   ops.jsonl      the same operations, line for line: the node asked, when the client stopped waiting, the error
 *   faults.jsonl   the faults as they happened, one a line
 *   index.html     the page a person opens (html.ts)
 *   nodes/<id>.log every node's own log, all its lives (written while the run goes)
 */
import fs from "node:fs";
import path from "node:path";
import { historyToJsonl, type HistoryOp, type Verdict } from "../check/index.js";
import { renderReportHtml } from "./html.js";
import type { LeaderSample } from "./monitor.js";
import type { FaultRecord } from "./nemesis.js";
import type { ProcessEvent } from "./processes.js";

export interface TortureSummary {
  seed: number;
  profile: string;
  network: "netns" | "loopback";
  nodes: number;
  clients: number;
  keys: number;
  durationS: number;
  nemesis: string;
  ops: { total: number; ok: number; failed: number; unknown: number };
  /** Operations that did not succeed, by outcome and error code ("failed:no_leader", "unknown:unknown_outcome", ...). */
  errors: Record<string, number>;
  /** Faults carried out, by kind (every kind of the nemesis appears, 0 when it never came up). */
  faults: Record<string, number>;
  /** Partitions by shape (isolate, isolate-leader, split, one-way) and the other kinds. */
  faultVariants: Record<string, number>;
  leaderChanges: number;
  linearizable: Verdict;
  converged: boolean;
  appliedIndex: number | undefined;
  /** Share of operations that succeeded among those called while a fault was active, and while none was. */
  availability: { duringFaults: number | null; outsideFaults: number | null };
  anomalies: number;
  /** Each anomaly in words (summary.json; the one-line summary carries the count). */
  anomalyDetails: string[];
  checkMs: number;
  seconds: number;
  report: string;
  replay: string;
}

/** One operation as the page draws it. */
export interface ReportOp {
  readonly process: number;
  readonly callMs: number;
  readonly endMs: number;
  readonly outcome: HistoryOp["outcome"];
  /** The node asked (its id at the time). */
  readonly node?: string;
  /** Why it did not succeed: the error code. */
  readonly error?: string;
}

export interface ReportData {
  readonly summary: TortureSummary;
  readonly history: readonly HistoryOp[];
  readonly ops: readonly ReportOp[];
  readonly faults: readonly FaultRecord[];
  readonly leaders: readonly LeaderSample[];
  readonly events: readonly ProcessEvent[];
  readonly durationMs: number;
  /** Process ids from here on are the final reads, not clients. */
  readonly finalReadProcessBase: number;
}

export function writeReport(directory: string, data: ReportData): void {
  fs.mkdirSync(directory, { recursive: true });
  fs.writeFileSync(path.join(directory, "summary.json"), `${JSON.stringify(data.summary, null, 2)}\n`);
  fs.writeFileSync(path.join(directory, "history.jsonl"), historyToJsonl(data.history));
  fs.writeFileSync(path.join(directory, "ops.jsonl"), data.ops.map((op) => `${JSON.stringify(op)}\n`).join(""));
  fs.writeFileSync(path.join(directory, "faults.jsonl"), data.faults.map((fault) => `${JSON.stringify(fault)}\n`).join(""));
  fs.writeFileSync(path.join(directory, "index.html"), renderReportHtml(data));
}

/** The one line printed on stdout: the summary without the words. */
export function summaryLine(summary: TortureSummary): string {
  const { anomalyDetails: _details, ...line } = summary;
  return JSON.stringify(line);
}

/** Availability: the share of operations that succeeded, split by whether a fault was active at their call. */
export function availability(ops: readonly ReportOp[], faults: readonly Pick<FaultRecord, "startMs" | "endMs">[], endMs: number): TortureSummary["availability"] {
  const intervals = mergeIntervals(faults.map((fault) => [fault.startMs, fault.endMs ?? endMs]));
  const during = { ok: 0, all: 0 };
  const outside = { ok: 0, all: 0 };
  for (const op of ops) {
    const bucket = insideAny(intervals, op.callMs) ? during : outside;
    bucket.all++;
    if (op.outcome === "ok") bucket.ok++;
  }
  const share = (bucket: { ok: number; all: number }): number | null => (bucket.all === 0 ? null : Math.round((bucket.ok / bucket.all) * 1000) / 1000);
  return { duringFaults: share(during), outsideFaults: share(outside) };
}

/** Sorted, disjoint [start, end) intervals covering the same time as the given ones. */
function mergeIntervals(intervals: [number, number][]): [number, number][] {
  const merged: [number, number][] = [];
  for (const [start, end] of intervals.sort((a, b) => a[0] - b[0])) {
    const last = merged.at(-1);
    if (last !== undefined && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

function insideAny(merged: readonly [number, number][], at: number): boolean {
  let low = 0;
  let high = merged.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const [start, end] = merged[middle]!;
    if (at < start) high = middle - 1;
    else if (at >= end) low = middle + 1;
    else return true;
  }
  return false;
}
