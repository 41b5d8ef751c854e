/**
 * When a long-running command (`start`, `dev`, `torture`) is asked to stop. main.ts hands this
 * to run() as Io.waitForStop; the command then closes cleanly. Asked by:
 *
 * - SIGINT or SIGTERM. A second one exits at once (status 130 or 143), unless it comes within
 *   CLI_REPEATED_SIGNAL_WINDOW_MS of the first: npm passes on to its script the Ctrl-C that the
 *   terminal has already sent the whole process group, so one Ctrl-C arrives twice.
 * - The end of the IPC channel, for a process spawned with one (Node's fork, stdio "ipc"): its
 *   parent went away, even by SIGKILL. That is how `flotilla dev`'s nodes die with it.
 * - The end of the parent, for a process started by npm, yarn or pnpm (npx, `npm run ...`;
 *   they set npm_lifecycle_event). They run the command through `sh -c`, and a signal to npm
 *   reaches that shell, which dies and leaves the command running, with its ports and its data
 *   directory's lock. Linux has no portable notice of a parent's end that Node exposes, so the
 *   parent's pid is looked at every CLI_PARENT_WATCH_INTERVAL_MS.
 */
import { CLI_PARENT_WATCH_INTERVAL_MS, CLI_REPEATED_SIGNAL_WINDOW_MS } from "../util/limits.js";

const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/** Exit statuses of a process ended by a signal, as a shell reports them (128 + the signal's number). */
const EXIT_BY_SIGNAL: Readonly<Record<(typeof STOP_SIGNALS)[number], number>> = { SIGINT: 130, SIGTERM: 143 };

/** Whether a package manager started this process (through a shell it may outlive). */
export function startedByPackageManager(env: Readonly<Record<string, string | undefined>>): boolean {
  return env.npm_lifecycle_event !== undefined && env.npm_lifecycle_event !== "";
}

/** Resolves with what asked for the stop: "SIGINT", "SIGTERM", "parent disconnected" or "parent exited". */
export function waitForStopRequest(env: Readonly<Record<string, string | undefined>> = process.env): Promise<string> {
  return new Promise((resolve) => {
    const disarm: (() => void)[] = [];
    let requested = false;
    const stop = (reason: string): void => {
      if (requested) return;
      requested = true;
      for (const undo of disarm) undo();
      exitOnAnotherSignal(Date.now());
      resolve(reason);
    };

    const onSignal = (signal: NodeJS.Signals): void => stop(signal);
    for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
    disarm.push(() => {
      for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
    });

    if (process.channel !== undefined) {
      const onDisconnect = (): void => stop("parent disconnected");
      process.once("disconnect", onDisconnect);
      disarm.push(() => process.off("disconnect", onDisconnect));
    }

    if (startedByPackageManager(env)) {
      const parent = process.ppid;
      const watch = setInterval(() => {
        if (process.ppid !== parent) stop("parent exited");
      }, CLI_PARENT_WATCH_INTERVAL_MS);
      watch.unref();
      disarm.push(() => clearInterval(watch));
    }
  });
}

/** After the stop request: a signal means "stop now", unless it is the first one passed on again. */
function exitOnAnotherSignal(requestedAtMs: number): void {
  for (const signal of STOP_SIGNALS) {
    process.on(signal, () => {
      if (Date.now() - requestedAtMs < CLI_REPEATED_SIGNAL_WINDOW_MS) return;
      process.exit(EXIT_BY_SIGNAL[signal]);
    });
  }
}
