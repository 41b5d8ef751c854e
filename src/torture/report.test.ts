import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadHistory, type HistoryOp } from "../check/index.js";
import { TORTURE_PLOT_POINTS_MAX } from "./limits.js";
import type { FaultRecord } from "./nemesis.js";
import { availability, summaryLine, writeReport, type ReportData, type ReportOp, type TortureSummary } from "./report.js";

let directory: string | undefined;

afterEach(() => {
  if (directory) fs.rmSync(directory, { recursive: true, force: true });
  directory = undefined;
});

function summary(overrides: Partial<TortureSummary> = {}): TortureSummary {
  return {
    seed: 9,
    profile: "default",
    network: "loopback",
    nodes: 3,
    clients: 2,
    keys: 1,
    durationS: 10,
    nemesis: "kill,partition",
    ops: { total: 3, ok: 2, failed: 0, unknown: 1 },
    errors: { "unknown:unknown_outcome": 1 },
    faults: { kill: 1, partition: 1 },
    faultVariants: { kill: 1, isolate: 1 },
    leaderChanges: 1,
    linearizable: "ok",
    converged: true,
    appliedIndex: 12,
    availability: { duringFaults: 0.5, outsideFaults: 1 },
    anomalies: 0,
    anomalyDetails: [],
    checkMs: 1,
    seconds: 12.5,
    report: "/tmp/x",
    replay: "npx flotilla torture --seed 9",
    ...overrides,
  };
}

const history: HistoryOp[] = [
  { process: 0, key: "k0", input: { kind: "write", value: "c0-1" }, call: 10, outcome: "ok", output: { kind: "write" }, returnTime: 30 },
  { process: 1, key: "k0", input: { kind: "read" }, call: 40, outcome: "ok", output: { kind: "read", value: "c0-1" }, returnTime: 55 },
  { process: 0, key: "k0", input: { kind: "cas", expected: "c0-1", value: "c0-2" }, call: 60, outcome: "unknown" },
];

const faults: FaultRecord[] = [
  { kind: "kill", lane: "process", variant: "kill", startMs: 35, endMs: 70, nodes: ["n2"], detail: "kill n2" },
  { kind: "partition", lane: "network", variant: "isolate", startMs: 50, endMs: undefined, nodes: ["n1"], detail: "isolate <b>n1</b> & co" },
];

function data(overrides: Partial<ReportData> = {}): ReportData {
  return {
    summary: summary(),
    history,
    ops: history.map((op) => ({ process: op.process, callMs: op.call, endMs: op.returnTime ?? 5_060, outcome: op.outcome })),
    faults,
    leaders: [
      { atMs: 0, leader: "n1", term: 2 },
      { atMs: 50, leader: "n3", term: 3 },
    ],
    events: [],
    durationMs: 10_000,
    finalReadProcessBase: 1_000_000,
    ...overrides,
  };
}

describe("the report folder", () => {
  it("holds the history (loadable by src/check), the summary, the faults and a page", async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), "torture-report-"));
    writeReport(directory, data());
    expect(fs.readdirSync(directory).sort()).toEqual(["faults.jsonl", "history.jsonl", "index.html", "ops.jsonl", "summary.json"]);
    expect(await loadHistory(path.join(directory, "history.jsonl"))).toEqual(history);
    expect(JSON.parse(fs.readFileSync(path.join(directory, "summary.json"), "utf8"))).toEqual(summary());
    const lines = fs.readFileSync(path.join(directory, "faults.jsonl"), "utf8").trim().split("\n");
    expect(lines.map((line) => JSON.parse(line).detail)).toEqual(["kill n2", "isolate <b>n1</b> & co"]);
  });

  it("the page is self-contained, escapes what it shows, and draws faults, leaders and operations", () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), "torture-report-"));
    writeReport(directory, data());
    const html = fs.readFileSync(path.join(directory, "index.html"), "utf8");
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/<link|<script[^>]+src/i);
    expect(html).toContain("isolate &lt;b&gt;n1&lt;/b&gt; &amp; co");
    expect(html).not.toContain("<b>n1</b>");
    expect(html.match(/<svg/g)).toHaveLength(2);
    expect(html).toContain("n3 leads term 3");
    expect(html).toContain("client 0");
    expect(html).toContain("client 1");
    expect(html).toContain("No anomaly");
    expect(html).toContain("npx flotilla torture --seed 9");
  });

  it("lists every anomaly in words on the page", () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), "torture-report-"));
    const anomalous = summary({ anomalies: 2, anomalyDetails: ["lost acknowledged write: k1 ...", "divergence: n2 differs"], linearizable: "illegal" });
    writeReport(directory, data({ summary: anomalous }));
    const html = fs.readFileSync(path.join(directory, "index.html"), "utf8");
    expect(html).toContain("2 anomalies");
    expect(html).toContain("lost acknowledged write: k1");
    expect(html).toContain("divergence: n2 differs");
  });

  it("stays small for a long run: operations per pixel column, a bounded latency sample", () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), "torture-report-"));
    const ops: ReportOp[] = Array.from({ length: 300_000 }, (_, i) => ({
      process: i % 10,
      callMs: i * 2,
      endMs: i * 2 + 5 + (i % 97),
      outcome: i % 1000 === 0 ? "unknown" : i % 333 === 0 ? "fail" : "ok",
    }));
    writeReport(directory, data({ ops, history: [], durationMs: 600_000 }));
    const html = fs.readFileSync(path.join(directory, "index.html"), "utf8");
    const points = html.match(/<circle/g)?.length ?? 0;
    expect(points).toBeLessThanOrEqual(TORTURE_PLOT_POINTS_MAX);
    expect(points).toBeGreaterThan(TORTURE_PLOT_POINTS_MAX / 2);
    expect(html.length).toBeLessThan(4_000_000);
  });

  it("prints one line without the words, with the anomaly count", () => {
    const line = summaryLine(summary({ anomalies: 1, anomalyDetails: ["a long explanation"] }));
    expect(line).not.toContain("\n");
    expect(JSON.parse(line)).toMatchObject({ anomalies: 1, linearizable: "ok", converged: true, ops: { ok: 2, failed: 0, unknown: 1 } });
    expect(line).not.toContain("a long explanation");
  });
});

describe("availability", () => {
  it("splits operations by whether a fault was active at their call; an open fault lasts to the end", () => {
    const ops: ReportOp[] = [
      { process: 0, callMs: 10, endMs: 20, outcome: "ok" },
      { process: 0, callMs: 40, endMs: 45, outcome: "fail" },
      { process: 0, callMs: 60, endMs: 65, outcome: "ok" },
      { process: 0, callMs: 90, endMs: 95, outcome: "unknown" },
      { process: 0, callMs: 200, endMs: 210, outcome: "ok" },
    ];
    expect(availability(ops, [{ startMs: 35, endMs: 70 }, { startMs: 85, endMs: undefined }], 150)).toEqual({ duringFaults: 0.333, outsideFaults: 1 });
    expect(availability(ops, [], 150)).toEqual({ duringFaults: null, outsideFaults: 0.6 });
  });
});
