/**
 * What the kernel says about a server process (Linux /proc): CPU time used, resident memory now
 * and at its peak. The peak (VmHWM) can be reset between workloads by writing 5 to clear_refs,
 * so each workload reports its own peak. Elsewhere than Linux the figures are absent, not wrong.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";

export interface ProcessSample {
  readonly cpuSeconds: number;
  /**
   * The part of cpuSeconds spent on the process's first thread: for Node.js the event loop;
   * the rest is V8's helper threads (garbage collection, compilation) and libuv's pool (file
   * system calls such as the WAL's fdatasync). Absent where /proc has no per-thread figures.
   */
  readonly mainThreadCpuSeconds: number | undefined;
  readonly rssBytes: number;
  readonly peakRssBytes: number;
}

let clockTicksPerSecond: number | undefined;

function ticksPerSecond(): number {
  if (clockTicksPerSecond === undefined) {
    try {
      clockTicksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicksPerSecond = 100;
    }
  }
  return clockTicksPerSecond;
}

/** CPU seconds (user + system, all threads) and memory of a running process; undefined if it is gone. */
export function sampleProcess(pid: number): ProcessSample | undefined {
  try {
    return {
      cpuSeconds: cpuSecondsOf(fs.readFileSync(`/proc/${pid}/stat`, "latin1")),
      mainThreadCpuSeconds: mainThreadCpuSeconds(pid),
      ...memoryOf(fs.readFileSync(`/proc/${pid}/status`, "latin1")),
    };
  } catch {
    return undefined;
  }
}

/** The first thread's CPU seconds: its id is the process id (/proc/PID/task/PID/stat). */
function mainThreadCpuSeconds(pid: number): number | undefined {
  try {
    return cpuSecondsOf(fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, "latin1"));
  } catch {
    return undefined;
  }
}

/** Restarts the peak-memory count of a process; false when the kernel does not allow it. */
export function resetPeakRss(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** utime + stime from /proc/PID/stat; the command name (field 2) may hold spaces and parentheses. */
export function cpuSecondsOf(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error("unreadable /proc stat line");
  return ticks / ticksPerSecond();
}

/** VmRSS and VmHWM from /proc/PID/status, in bytes. */
export function memoryOf(status: string): { rssBytes: number; peakRssBytes: number } {
  const kib = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status);
    return match === null ? 0 : Number(match[1]) * 1024;
  };
  return { rssBytes: kib("VmRSS"), peakRssBytes: kib("VmHWM") };
}

/** CPU seconds the whole machine spent busy (all cores; not idle, not waiting for I/O), from /proc/stat. */
export function machineBusySeconds(): number | undefined {
  try {
    const line = fs.readFileSync("/proc/stat", "latin1").split("\n", 1)[0]!;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    const ticks = user! + nice! + system! + irq! + softirq! + steal!;
    return Number.isFinite(ticks) ? ticks / ticksPerSecond() : undefined;
  } catch {
    return undefined;
  }
}
