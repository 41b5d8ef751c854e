/**
 * The node's Prometheus metrics, in a registry of its own so several nodes can share a process
 * (tests, embedding). Gauges read the node's state at scrape time; counters count events.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { WalStats } from "../storage/index.js";

export interface NodeMetricsSnapshot {
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly isLeader: boolean;
  readonly pendingWrites: number;
  readonly pendingReads: number;
  readonly members: number;
  readonly wal: WalStats;
}

/**
 * Stage durations in seconds, 50 µs to 1 s: an fdatasync is ~0.1–0.5 ms on a good disk, an
 * apply batch tens of µs to milliseconds (etcd's wal_fsync and backend_commit histograms).
 */
const STAGE_BUCKETS_SECONDS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export class NodeMetrics {
  readonly registry = new Registry();
  readonly leaderChanges: Counter;
  readonly proposals: Counter;
  readonly forwardedWrites: Counter;
  readonly appliedEntries: Counter;
  readonly linearizableReads: Counter;
  readonly snapshotsTaken: Counter;
  readonly snapshotsInstalled: Counter;
  /** One Ready's entries and hard state made durable (write + fdatasync, as the loop waits for it). */
  readonly walAppendSeconds: Histogram;
  /** One batch of committed entries applied to the state machine. */
  readonly applySeconds: Histogram;
  /** One checkpoint of SQLite's WAL into the state machine's file, on the background thread. */
  readonly kvCheckpointSeconds: Histogram;

  constructor(nodeId: string, read: () => NodeMetricsSnapshot) {
    this.registry.setDefaultLabels({ node: nodeId });
    const registers = [this.registry];
    const gauge = (name: string, help: string, value: (s: NodeMetricsSnapshot) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value(read()));
        },
      });
    };
    gauge("flotilla_raft_term", "Current Raft term.", (s) => s.term);
    gauge("flotilla_raft_commit_index", "Highest log index known committed.", (s) => s.commit);
    gauge("flotilla_raft_applied_index", "Highest log index applied to the state machine.", (s) => s.applied);
    gauge("flotilla_raft_last_index", "Last index in this node's log.", (s) => s.lastIndex);
    gauge("flotilla_raft_is_leader", "1 when this node is the leader.", (s) => (s.isLeader ? 1 : 0));
    gauge("flotilla_raft_members", "Voters and learners in the configuration.", (s) => s.members);
    gauge("flotilla_pending_writes", "Writes proposed and not yet applied.", (s) => s.pendingWrites);
    gauge("flotilla_pending_reads", "Linearizable reads waiting for their read index.", (s) => s.pendingReads);
    gauge("flotilla_wal_fsyncs", "fsync/fdatasync calls of the write-ahead log since start.", (s) => s.wal.fsyncs);
    gauge("flotilla_wal_prefill_failures", "Zero-fills ahead of the write-ahead log's records that failed since start (a full disk, say).", (s) => s.wal.prefillFailures);
    gauge("flotilla_wal_batches", "Group-commit batches written since start.", (s) => s.wal.batches);
    gauge("flotilla_wal_bytes_written", "Bytes written to the write-ahead log since start.", (s) => s.wal.bytesWritten);
    const counter = (name: string, help: string): Counter => new Counter({ name, help, registers });
    this.leaderChanges = counter("flotilla_leader_changes_total", "Times this node saw the leader change.");
    this.proposals = counter("flotilla_proposals_total", "Writes and membership changes proposed by this node.");
    this.forwardedWrites = counter("flotilla_forwarded_writes_total", "Writes this follower forwarded to the leader over the peer connection.");
    this.appliedEntries = counter("flotilla_applied_entries_total", "Committed entries applied to the state machine.");
    this.linearizableReads = counter("flotilla_linearizable_reads_total", "Linearizable reads served.");
    this.snapshotsTaken = counter("flotilla_snapshots_taken_total", "Snapshots of the state machine taken.");
    this.snapshotsInstalled = counter("flotilla_snapshots_installed_total", "Snapshots installed from the leader.");
    const histogram = (name: string, help: string): Histogram => new Histogram({ name, help, registers, buckets: STAGE_BUCKETS_SECONDS });
    this.walAppendSeconds = histogram("flotilla_wal_append_duration_seconds", "Time the driver loop waited for one Ready's entries and hard state to be durable in the write-ahead log.");
    this.applySeconds = histogram("flotilla_apply_duration_seconds", "Time to apply one batch of committed entries to the state machine.");
    this.kvCheckpointSeconds = histogram("flotilla_kv_checkpoint_duration_seconds", "Time one checkpoint of SQLite's WAL into the state machine's file took, on the background thread.");
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
