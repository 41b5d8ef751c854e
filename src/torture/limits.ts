/**
 * The fault runner's own limits (`flotilla torture`): how large a run may be, how long it waits
 * for the cluster, and how much of a run it keeps. The product's limits are in
 * src/util/limits.ts. Units go last in names.
 */

const KiB = 1024;

/** Smallest cluster a torture run starts: one that survives a fault (f = 1). */
export const TORTURE_NODES_MIN = 3;
/** Largest cluster: one host address each in the test subnet, and two cores must carry them. */
export const TORTURE_NODES_MAX = 9;
export const TORTURE_CLIENTS_MAX = 64;
export const TORTURE_KEYS_MAX = 1_000;
/** One day: a typo must not start a run that never ends. */
export const TORTURE_DURATION_S_MAX = 86_400;
/** A client's wait for one answer: above the nodes' request deadline plus the forward margin, so their 503/504 arrives first. */
export const TORTURE_OP_TIMEOUT_MS_DEFAULT = 5_000;
/** Operations recorded in one run; past it the clients stop issuing (the history must fit in memory and in the checker). */
export const TORTURE_HISTORY_OPS_MAX = 2_000_000;
/** Default time budget of the linearizability check of a whole run (verdict "unknown" past it). */
export const TORTURE_CHECK_BUDGET_MS_DEFAULT = 120_000;
/** How often the leader monitor asks every node for its status. */
export const TORTURE_MONITOR_INTERVAL_MS = 500;
/** Status samples kept by the monitor (about 5 hours at the interval above); older ones are dropped. */
export const TORTURE_MONITOR_SAMPLES_MAX = 40_000;
/** Time the healed cluster gets to agree on one applied index and full membership. */
export const TORTURE_CONVERGENCE_TIMEOUT_MS = 90_000;
/** Time a node gets to answer /readyz after (re)starting before the harness stops waiting. */
export const TORTURE_NODE_READY_TIMEOUT_MS = 30_000;
/** Time a membership change (remove, then join as a new node and be promoted) gets before the nemesis moves on. */
export const TORTURE_MEMBERSHIP_TIMEOUT_MS = 30_000;
/** Bytes of each node's log kept in memory for the anomaly report (the whole log is in the report folder). */
export const TORTURE_LOG_TAIL_BYTES = 32 * KiB;
/** Points drawn in the report's latency plot; failed and unknown operations, and the slowest, always are. */
export const TORTURE_PLOT_POINTS_MAX = 20_000;
