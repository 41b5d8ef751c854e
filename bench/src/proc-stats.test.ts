import { describe, expect, it } from "vitest";
import { cpuSecondsOf, machineBusySeconds, memoryOf, sampleProcess } from "./proc-stats.js";

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
    // Busy for a while on this thread, then on another one.
    const until = Date.now() + 150;
    while (Date.now() < until);
    await new Promise<void>((resolve) => {
      const worker = new Worker("const until = Date.now() + 150; while (Date.now() < until);", { eval: true });
      worker.on("exit", () => resolve());
    });
    const after = sampleProcess(process.pid)!;
    const main = after.mainThreadCpuSeconds! - before.mainThreadCpuSeconds!;
    const all = after.cpuSeconds - before.cpuSeconds;
    expect(main).toBeGreaterThanOrEqual(0.1);
    expect(all - main).toBeGreaterThanOrEqual(0.1); // the worker's spin is not the main thread's
  });
});
