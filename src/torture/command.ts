/**
 * `flotilla torture`: parses the options, runs one torture run with a progress line on stderr,
 * and prints exactly one JSON line on stdout (the summary; summary.json in the report folder
 * has every anomaly in words). Exit status: 0 no anomaly, 1 an anomaly or a run that could not
 * be carried out, 2 bad usage, 130 interrupted.
 */
import { parseTortureArgs, replayCommand, TortureUsageError, TORTURE_USAGE, type TortureOptions } from "./options.js";
import { summaryLine } from "./report.js";
import { runTorture, TortureInterrupted } from "./run.js";

export interface TortureCommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** True when stderr is a terminal: the progress line is then redrawn in place. */
  readonly stderrIsTTY?: boolean;
  /** Resolves on the first Ctrl-C (SIGINT/SIGTERM): the run stops and cleans up. */
  readonly waitForStop?: () => Promise<string>;
}

export const EXIT_INTERRUPTED = 130;

export async function runTortureCommand(argv: readonly string[], io: TortureCommandIo): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout(`${TORTURE_USAGE}\n`);
    return 0;
  }
  let options: TortureOptions;
  try {
    options = parseTortureArgs(argv);
  } catch (error) {
    if (!(error instanceof TortureUsageError)) throw error;
    io.stderr(`flotilla torture: ${error.message}\n${TORTURE_USAGE}\n`);
    return 2;
  }
  const stop = new AbortController();
  void io.waitForStop?.().then(() => stop.abort());
  let progressShown = false;
  const progress = (line: string): void => {
    progressShown = true;
    io.stderr(io.stderrIsTTY ? `\r\x1b[2K${line}` : `${line}\n`);
  };
  const log = (line: string): void => {
    if (progressShown && io.stderrIsTTY) io.stderr("\n");
    progressShown = false;
    io.stderr(`${line}\n`);
  };
  try {
    const summary = await runTorture(options, { progress, log }, stop.signal);
    io.stdout(`${summaryLine(summary)}\n`);
    if (summary.anomalies > 0) log(`flotilla torture: ${summary.anomalies} anomal${summary.anomalies === 1 ? "y" : "ies"}; replay: ${replayCommand(options)}`);
    return summary.anomalies > 0 ? 1 : 0;
  } catch (error) {
    if (error instanceof TortureInterrupted) {
      log(`flotilla torture: ${error.message}`);
      return EXIT_INTERRUPTED;
    }
    log(`flotilla torture: the run could not be carried out: ${(error as Error).message}`);
    return 1;
  }
}
