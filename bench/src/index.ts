/** The benchmark harness (issue 6): `npm run bench` runs run.ts; these are its reusable parts. */
export { runBench, type RunContext } from "./bench.js";
export { parseBenchArgs, USAGE, BenchUsageError, type BenchOptions } from "./options.js";
export { WORKLOADS, selectWorkloads, type Workload } from "./workloads.js";
export { LoadGenerator, type GeneratorSpec, type GeneratorResult } from "./generator.js";
export { Histogram, type HistogramData } from "./histogram.js";
export { HttpConnection, ConnectionError } from "./http-connection.js";
export { ResponseParser, ResponseProtocolError, type ParsedResponse } from "./http-response.js";
export { measureMachine, type MachineLimits } from "./machine.js";
export { summarizeProfile, readProfile, formatProfile, type ProfileSummary } from "./profile-summary.js";
export { formatReport, evaluateTargets } from "./report.js";
export { htmlReport } from "./html-report.js";
export type { BenchReport, SystemResult, WorkloadResult } from "./results.js";
