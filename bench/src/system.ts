/** A running cluster of one system under test, as the harness sees it: processes and addresses. */
import type { ServerProcess } from "./server-process.js";

export type SystemName = "flotilla" | "etcd";

export interface ClusterOptions {
  readonly size: number;
  /** A fresh folder for the members' data. */
  readonly root: string;
  /** Flotilla only: where each node writes its V8 CPU profile when it stops. */
  readonly cpuProfileDir?: string;
  /** Extra arguments for each server. */
  readonly extraArgs: readonly string[];
  /** Flotilla only: each node writes the steps of every write (`--trace`) to <traceDir>/<id>.jsonl. */
  readonly traceDir?: string;
}

export interface SystemCluster {
  readonly kind: SystemName;
  readonly version: string;
  readonly nodes: readonly ServerProcess[];
  /** The id of the member that leads now. */
  leader(): Promise<string>;
  /** Writes a probe key through one member; true when it was acknowledged. */
  writeThrough(node: ServerProcess): Promise<boolean>;
  /** Stops every member (SIGTERM, then SIGKILL after a grace period). */
  close(): Promise<void>;
}
