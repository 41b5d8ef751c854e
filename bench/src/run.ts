#!/usr/bin/env node
/**
 * `npm run bench [-- --vs etcd] [--quick] [--rounds N] ...`: runs the benchmark (N times, with the
 * targets judged on the median of the rounds' ratios), prints the report on stdout
 * (progress on stderr), and writes bench/results/<time>.json and .html. Exit status: 0 when
 * every workload ran (whatever the figures), 1 when the harness failed or a workload completed
 * no operation at all, 2 on bad usage.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runBench } from "./bench.js";
import { htmlReport } from "./html-report.js";
import { BenchUsageError, parseBenchArgs, USAGE } from "./options.js";
import { RESULTS_DIR } from "./paths.js";
import { evaluateTargetsOverRounds, formatReport, formatRoundsSummary } from "./report.js";
import type { BenchReport } from "./results.js";
import { formatTimeline, runTimelines, type Timeline } from "./timeline.js";

async function main(argv: readonly string[]): Promise<number> {
  let options;
  try {
    options = parseBenchArgs(argv, RESULTS_DIR);
  } catch (error) {
    if (!(error instanceof BenchUsageError)) throw error;
    process.stderr.write(`bench: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  const onInterrupt = new Set<() => void>();
  process.once("SIGINT", () => {
    process.stderr.write("\nbench: interrupted; stopping the servers and removing the data\n");
    for (const cleanup of [...onInterrupt].reverse()) cleanup();
    process.exit(130);
  });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  fs.mkdirSync(options.resultsDir, { recursive: true });
  if (options.timeline) return timeline(options.resultsDir, stamp);
  const command = ["npm run bench", ...(argv.length > 0 ? ["--", ...argv] : [])].join(" ");
  const reports: BenchReport[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const roundStamp = options.rounds === 1 ? stamp : `${stamp}-round${round}`;
    if (options.rounds > 1) process.stderr.write(`\n=== round ${round} of ${options.rounds}${round % 2 === 0 ? " (etcd first)" : ""} ===\n`);
    const report = await runBench({ options, log: (line) => process.stderr.write(`${line}\n`), stamp: roundStamp, command, onInterrupt, etcdFirst: round % 2 === 0 });
    reports.push(report);
    if (options.rounds > 1) process.stdout.write(`\n=== round ${round} of ${options.rounds} ===\n`);
    process.stdout.write(`${formatReport(report)}\n`);
    const jsonPath = path.join(options.resultsDir, `${roundStamp}.json`);
    const htmlPath = path.join(options.resultsDir, `${roundStamp}.html`);
    fs.writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
    fs.writeFileSync(htmlPath, htmlReport(report));
    process.stdout.write(`\nresults: ${path.relative(process.cwd(), jsonPath)}, ${path.relative(process.cwd(), htmlPath)}\n`);
  }
  if (options.rounds > 1) {
    const verdicts = evaluateTargetsOverRounds(reports);
    process.stdout.write(`\n${formatRoundsSummary(verdicts)}\n`);
    const summaryPath = path.join(options.resultsDir, `${stamp}-rounds.json`);
    fs.writeFileSync(summaryPath, `${JSON.stringify({ command, rounds: reports.length, targets: verdicts }, null, 2)}\n`);
    process.stdout.write(`summary: ${path.relative(process.cwd(), summaryPath)}\n`);
  }
  const empty = reports.flatMap((report) => report.systems.flatMap((system) => system.workloads.filter((w) => w.ops === 0).map((w) => `${system.system} ${w.name}`)));
  if (empty.length > 0) {
    process.stderr.write(`bench: no operation completed in ${empty.join(", ")}\n`);
    return 1;
  }
  return 0;
}

/** `--timeline`: prints each cluster's timeline and the ratio of their client p50s, and saves them as JSON. */
async function timeline(resultsDir: string, stamp: string): Promise<number> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-timeline-"));
  try {
    const timelines = await runTimelines({ root, log: (line) => process.stderr.write(`${line}\n`) });
    for (const one of timelines) process.stdout.write(`${formatTimeline(one)}\n\n`);
    const [single, three] = timelines as [Timeline, Timeline];
    process.stdout.write(`3-node p50 / 1-node p50: ${(three.clientP50Ms / single.clientP50Ms).toFixed(2)}; 3-node p99 / p50: ${(three.clientP99Ms / three.clientP50Ms).toFixed(2)}\n`);
    const file = path.join(resultsDir, `${stamp}-timeline.json`);
    fs.writeFileSync(file, `${JSON.stringify(timelines, null, 2)}\n`);
    process.stdout.write(`results: ${path.relative(process.cwd(), file)}\n`);
    return 0;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
