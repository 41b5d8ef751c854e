#!/usr/bin/env node
/** The `flotilla` executable (package.json bin): binds run() to this process. */
import { applyHeapTuning, planHeapTuning } from "./heap-tuning.js";
import { run } from "./run.js";
import { waitForStopRequest } from "./stop-request.js";
import type { Io } from "./io.js";

// A node runs for a long time: its heap is bounded before anything big is loaded (heap-tuning.ts).
if (process.argv[2] === "start") applyHeapTuning(planHeapTuning(process.execArgv, process.env.NODE_OPTIONS));

const io: Io = {
  stdout: process.stdout,
  stderr: process.stderr,
  // Made only when a command reads it (put KEY -, txn): an unread stdin is left alone.
  get stdin() {
    return process.stdin;
  },
  waitForStop: () => waitForStopRequest(),
};

// A closed pipe on stdout (`flotilla ls | head`) is not an error worth a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await run(process.argv.slice(2), io);
// Everything is closed by now; should a stray handle keep the process alive, it still ends.
setTimeout(() => process.exit(), 2_000).unref();
