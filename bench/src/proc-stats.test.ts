import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { cpuSecondsOf, machineBusySeconds, memoryOf, sampleProcess } from "./proc-stats.js";

const SPIN_CPU_SECONDS = 0.15;
const SPIN_DEADLINE_MS = 20_000;
/** The worker's spin: the same rule as the main thread's (utime + stime, fields 14 and 15 after the command name, in USER_HZ: 100 a second on Linux). */
const WORKER_SPIN = `
const fs = require("node:fs");
const { workerData } = require("node:worker_threads");
const ticks = () => { const stat = fs.readFileSync("/proc/thread-self/stat", "latin1"); const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); return Number(fields[11]) + Number(fields[12]); };
const start = ticks();
const deadline = Date.now() + workerData.deadlineMs;
while ((ticks() - start) / 100 < workerData.cpuSeconds && Date.now() < deadline);
`;

describe("proc-stats", () => {
  it("reads utime + stime even when the command name holds spaces and parentheses", () => {
    const fields = ["S", ...Array.from({ length: 10 }, () => "0"), "250", "50", ...Array.from({ length: 30 }, () => "0")];
    const seconds = cpuSecondsOf(`1234 (node (a) b) ${fields.join(" ")}`);
    expect(seconds * 100).toBeCloseTo(300); // 300 ticks at the usual 100 per second
  });

  it("reads current and peak resident memory in bytes", () => {
    expect(memoryOf("Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n")).toEqual({ rssBytes: 100 * 2 ** 20, peakRssBytes: 200 * 2 ** 20 });
  });

  it.runIf(process.platform === "linux")("samples a live process and the machine", () => {
    const sample = sampleProcess(process.pid)!;
    expect(sample.rssBytes).toBeGreaterThan(0);
    expect(sample.peakRssBytes).toBeGreaterThanOrEqual(sample.rssBytes);
    expect(machineBusySeconds()).toBeGreaterThan(0);
    expect(sampleProcess(2 ** 30)).toBeUndefined();
  });

  it.runIf(process.platform === "linux")("splits off the main thread's share of the CPU time", async () => {
    const { Worker } = await import("node:worker_threads");
    const before = sampleProcess(process.pid)!;
    // Busy on this thread, then on another one, each until it has used 0.15 s of CPU by its own
    // count (/proc/thread-self/stat), not for a wall-clock time: on a busy machine a thread
    // spinning for 150 ms may get a fraction of that on a core.
    const threadCpuSeconds = (): number => cpuSecondsOf(fs.readFileSync("/proc/thread-self/stat", "latin1"));
    const start = threadCpuSeconds();
    const deadline = Date.now() + SPIN_DEADLINE_MS;
    while (threadCpuSeconds() - start < SPIN_CPU_SECONDS && Date.now() < deadline);
    await new Promise<void>((resolve, reject) => {
      const worker = new Worker(WORKER_SPIN, { eval: true, workerData: { cpuSeconds: SPIN_CPU_SECONDS, deadlineMs: SPIN_DEADLINE_MS } });
      worker.on("error", reject);
      worker.on("exit", () => resolve());
    });
    const after = sampleProcess(process.pid)!;
    const main = after.mainThreadCpuSeconds! - before.mainThreadCpuSeconds!;
    const all = after.cpuSeconds - before.cpuSeconds;
    expect(main).toBeGreaterThanOrEqual(0.1);
    expect(all - main).toBeGreaterThanOrEqual(0.1); // the worker's spin is not the main thread's
  });
});
