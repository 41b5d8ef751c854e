import { describe, expect, it } from "vitest";
import { barChart } from "./html-report.js";
import type { MachineLimits } from "./machine.js";
import { evaluateTargets, evaluateTargetsOverRounds, formatRoundsSummary, formatTable, loadFloorLine, offEventLoopLine, ratioRows, singleClientFloorLine } from "./report.js";
import type { BenchReport, SystemResult, WorkloadResult } from "./results.js";

function workload(name: string, opsPerSecond: number, p50Ms: number, p99Ms: number, peakMiB = 50): WorkloadResult {
  const latency = { count: 1000, p50Ms, p99Ms, p999Ms: p99Ms * 2, meanMs: p50Ms, maxMs: p99Ms * 3 };
  return {
    name, title: name, kind: "write", clients: 64, valueBytes: 100, seconds: 10, ops: opsPerSecond * 10, opsPerSecond, latency, reads: undefined, writes: latency,
    errors: 0, errorKinds: {}, errorSamples: {}, nodes: [{ id: "a", leader: true, cpuSeconds: 5, peakRssBytes: peakMiB * 2 ** 20 }], nodeCpuUsPerOp: 500, generatorCpuPercent: 10, otherCpuPercent: 0,
  };
}

function system(name: "flotilla" | "etcd", workloads: WorkloadResult[], peakMiB: number): SystemResult {
  return {
    system: name, version: "1", leader: "a", writableAfterReadyMs: 0, idleRssBytes: { a: 1 }, idleCpuPercent: { a: 0 }, workloads,
    peakRssBytes: { a: peakMiB * 2 ** 20, b: 1 }, memory: undefined, logs: {}, profiles: [],
  };
}

describe("the report", () => {
  const flotilla = system("flotilla", [workload("write-1c-100B", 600, 1.2, 3), workload("write-64c-100B", 3300, 20, 90), workload("write-256c-100B", 3000, 80, 200), workload("read-lin-64c-100B", 6000, 10, 20)], 60);
  const etcd = system("etcd", [workload("write-1c-100B", 480, 2, 4), workload("write-64c-100B", 2200, 25, 80), workload("write-256c-100B", 2600, 90, 300)], 50);

  it("gives the ratio Flotilla/etcd of every figure of the workloads both ran", () => {
    const rows = ratioRows(flotilla, etcd);
    expect(rows.map((row) => row[0])).toEqual(["write-1c-100B", "write-64c-100B", "write-256c-100B"]);
    expect(rows[0]!.slice(1, 4)).toEqual(["1.25", "0.60", "0.75"]);
  });

  it("judges each target of issue 6, and says which could not be measured", () => {
    const verdicts = Object.fromEntries(evaluateTargets([flotilla, etcd]).map((v) => [v.target, v]));
    expect(verdicts["write throughput, 64 clients"]).toMatchObject({ met: true, ratio: 1.5 });
    expect(verdicts["write throughput, 256 clients"]!.met).toBe(false);
    expect(verdicts["p99 write latency, 64 clients"]!.met).toBe(false);
    expect(verdicts["single-client write latency (p50)"]).toMatchObject({ met: true, ratio: 0.6 });
    expect(verdicts["linearizable read throughput, 64 clients"]).toMatchObject({ met: undefined, ratio: undefined });
    expect(verdicts["peak RSS per node (highest node, whole run)"]).toMatchObject({ met: false, ratio: 1.2 });
    expect(verdicts["peak RSS per node, 100-byte workloads only (informative)"]).toMatchObject({ met: true, ratio: 1 });
    expect(evaluateTargets([flotilla]).every((v) => v.met === undefined)).toBe(true);
  });

  it("judges the targets of several rounds on the median of their ratios", () => {
    const round = (flotillaWrites64: number, etcdWrites64: number, withEtcd = true): BenchReport =>
      ({
        systems: [system("flotilla", [workload("write-64c-100B", flotillaWrites64, 20, 90)], 60), ...(withEtcd ? [system("etcd", [workload("write-64c-100B", etcdWrites64, 25, 80)], 50)] : [])],
      }) as unknown as BenchReport;
    // Ratios 1.6, 1.2 and 2.0: the median (1.6) meets ≥ 1.5 though one round alone would not.
    const verdicts = evaluateTargetsOverRounds([round(3200, 2000), round(2400, 2000), round(4000, 2000)]);
    const writes64 = verdicts.find((v) => v.target === "write throughput, 64 clients")!;
    expect(writes64.rounds).toEqual([1.6, 1.2, 2]);
    expect(writes64).toMatchObject({ ratio: 1.6, met: true });
    // An even count takes the mean of the middle two; a round without etcd counts for nothing.
    const even = evaluateTargetsOverRounds([round(3200, 2000), round(2400, 2000), round(9999, 1, false)]).find((v) => v.target === "write throughput, 64 clients")!;
    expect(even.rounds).toEqual([1.6, 1.2, undefined]);
    expect(even.ratio).toBeCloseTo(1.4);
    expect(even.met).toBe(false);
    expect(verdicts.find((v) => v.target === "single-client write latency (p50)")).toMatchObject({ ratio: undefined, met: undefined });
    const text = formatRoundsSummary(verdicts);
    expect(text).toMatch(/targets over 3 rounds/);
    expect(text).toMatch(/write throughput, 64 clients\s+1\.60\s+1\.20\s+2\.00\s+1\.60\s+≥ 1\.5\s+met/);
  });

  it("says what share of the nodes' CPU ran off their event loops, where it was measured", () => {
    const measured = (name: string, cpu: number, main: number): WorkloadResult => ({ ...workload(name, 1000, 1, 2), nodes: [{ id: "a", leader: true, cpuSeconds: cpu, mainThreadCpuSeconds: main, peakRssBytes: 1 }] });
    const line = offEventLoopLine(system("flotilla", [measured("write-1c-100B", 4, 3), workload("read-lin-64c-100B", 1, 1, 2), measured("write-64c-100B", 10, 7.5)], 1));
    expect(line).toMatch(/: write-1c-100B 25%, write-64c-100B 25%$/);
    expect(offEventLoopLine(flotilla)).toBeUndefined();
  });

  it("sets the single-client goal beside the service floor: the room left, or how far the floor is above it", () => {
    const floor = (medianMs: number): MachineLimits => ({ serviceFloor: { medianMs, meanMs: medianMs, p99Ms: medianMs, writes: 100 } }) as MachineLimits;
    // etcd's p50 is 2 ms: the goal is 1.4 ms; Flotilla's p50 is 1.2 ms.
    expect(singleClientFloorLine(floor(0.9), flotilla, etcd)).toContain("goal 1.40 ms (0.7 × etcd's 2.00); the service floor (HTTP, fdatasync on two of three, a SQLite upsert, nothing else) 0.90 ms: 0.50 ms left for Raft and everything else; Flotilla 1.20 ms (0.30 over the floor)");
    expect(singleClientFloorLine(floor(1.5), flotilla, etcd)).toContain("1.50 ms: 0.10 ms above the goal already");
    expect(singleClientFloorLine(floor(0.9), flotilla, system("etcd", [], 50))).toBeUndefined();
  });

  it("sets each write-throughput goal beside the service floor under that load", () => {
    const floor = { clients: 64, opsPerSecond: 6600, cpuUsPerOp: 120, errors: 0, answered: [1, 1, 1] };
    // etcd did 2,200/s: the goal is 3,300/s; Flotilla did 3,300/s.
    expect(loadFloorLine(floor, flotilla, etcd)).toBe("  64-client write goal 3,300/s (1.5 × etcd's 2,200); the service floor under that load 6,600/s (3.00 × etcd); Flotilla 3,300/s, 50% of the floor");
    expect(loadFloorLine({ ...floor, clients: 256, opsPerSecond: 5200 }, flotilla, etcd)).toBe("  256-client write goal 3,900/s (1.5 × etcd's 2,600); the service floor under that load 5,200/s (2.00 × etcd); Flotilla 3,000/s, 58% of the floor");
    expect(loadFloorLine({ ...floor, clients: 16 }, flotilla, etcd)).toBeUndefined();
  });

  it("aligns a table's columns", () => {
    expect(formatTable(["name", "n"], [["a", "1"], ["bbb", "22"]]).split("\n")).toEqual(["name   n", "----  --", "a      1", "bbb   22"]);
  });

  it("draws a bar per system and workload, longest for the larger value of each workload, with escaped labels", () => {
    const svg = barChart("t <&>", ["w1", "w2"], [{ name: "flotilla", values: [10, 20] }, { name: "etcd", values: [5, undefined] }], String);
    expect(svg.match(/<rect [^>]*height="11"/g)?.length).toBe(3);
    expect(svg).toContain("t &lt;&amp;&gt;");
    const widths = [...svg.matchAll(/<rect x="\d+" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    // row-major: w1 flotilla (10), w1 etcd (5), w2 flotilla (20), then the legend's squares
    expect(widths.slice(0, 3)).toEqual([360, 180, 360]);
  });
});
