#!/usr/bin/env node
/** The `flotilla` executable (package.json bin): binds run() to this process. */
import { applyHeapTuning, planHeapTuning } from "./heap-tuning.js";
import { run } from "./run.js";
import type { Io } from "./io.js";

// A node runs for a long time: its heap is bounded before anything big is loaded (heap-tuning.ts).
if (process.argv[2] === "start") applyHeapTuning(planHeapTuning(process.execArgv, process.env.NODE_OPTIONS));

/** The first SIGINT/SIGTERM asks for a clean stop; a second one exits at once. */
function waitForStop(): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
      process.once("SIGINT", () => process.exit(130));
      process.once("SIGTERM", () => process.exit(143));
      resolve(signal);
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
}

const io: Io = { stdout: process.stdout, stderr: process.stderr, waitForStop };

// A closed pipe on stdout (`flotilla ls | head`) is not an error worth a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await run(process.argv.slice(2), io);
// Everything is closed by now; should a stray handle keep the process alive, it still ends.
setTimeout(() => process.exit(), 2_000).unref();
