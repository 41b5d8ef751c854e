/**
 * The workloads of issue 6, in the order they run. Reads need every key to hold a value of
 * their size first (`needsKeysOf`), so the harness loads the key space before them; writes do
 * not care what is there.
 */
import { BENCH_KEYS } from "./limits.js";
import type { ReadConsistency } from "./requests.js";

export type WorkloadKind = "write" | "read" | "mixed";

export interface Workload {
  readonly name: string;
  readonly title: string;
  readonly kind: WorkloadKind;
  /** Connections, each with one request in flight. */
  readonly clients: number;
  readonly readFraction: number;
  readonly consistency: ReadConsistency;
  readonly valueBytes: number;
  readonly keyCount: number;
  /** Every key must hold a value of this many bytes before the workload starts. */
  readonly needsKeysOf?: number;
}

const SMALL = 100;
const LARGE = 4096;

function write(clients: number, valueBytes: number): Workload {
  return { name: `write-${clients}c-${size(valueBytes)}`, title: `write, ${clients} client${clients === 1 ? "" : "s"}, ${size(valueBytes)}`, kind: "write", clients, readFraction: 0, consistency: "linearizable", valueBytes, keyCount: BENCH_KEYS };
}

function read(clients: number, consistency: ReadConsistency, valueBytes: number): Workload {
  const short = consistency === "linearizable" ? "lin" : "stale";
  return {
    name: `read-${short}-${clients}c-${size(valueBytes)}`,
    title: `${consistency} read, ${clients} client${clients === 1 ? "" : "s"}, ${size(valueBytes)}`,
    kind: "read",
    clients,
    readFraction: 1,
    consistency,
    valueBytes,
    keyCount: BENCH_KEYS,
    needsKeysOf: valueBytes,
  };
}

function mixed(clients: number, valueBytes: number): Workload {
  return {
    name: `mix-90r10w-${clients}c-${size(valueBytes)}`,
    title: `90% linearizable reads / 10% writes, ${clients} clients, ${size(valueBytes)}`,
    kind: "mixed",
    clients,
    readFraction: 0.9,
    consistency: "linearizable",
    valueBytes,
    keyCount: BENCH_KEYS,
    needsKeysOf: valueBytes,
  };
}

function size(bytes: number): string {
  return bytes % 1024 === 0 ? `${bytes / 1024}KiB` : `${bytes}B`;
}

export const WORKLOADS: readonly Workload[] = [
  write(1, SMALL),
  write(16, SMALL),
  write(64, SMALL),
  write(256, SMALL),
  read(1, "linearizable", SMALL),
  read(64, "linearizable", SMALL),
  read(64, "stale", SMALL),
  mixed(64, SMALL),
  write(64, LARGE),
  read(64, "linearizable", LARGE),
];

/** The workloads named (all when names is empty); an unknown name is an error that lists the known ones. */
export function selectWorkloads(names: readonly string[]): readonly Workload[] {
  if (names.length === 0) return WORKLOADS;
  const unknown = names.filter((name) => !WORKLOADS.some((workload) => workload.name === name));
  if (unknown.length > 0) throw new Error(`unknown workload ${unknown.join(", ")}; known: ${WORKLOADS.map((w) => w.name).join(", ")}`);
  return WORKLOADS.filter((workload) => names.includes(workload.name));
}
