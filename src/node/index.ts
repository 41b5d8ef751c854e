/** The node layer's public surface: open a node, and the interface the server drives. */
export { openNode, FlotillaNode, type NodeOptions, type RunningNode } from "./node.js";
export * from "./api.js";
export { endpointUrl, rejoinCluster, JOIN_TOKEN_HEADER, type RejoinOutcome } from "./join.js";
export { readIdentity } from "./identity.js";
export { Discovery, checkClusterName, decidePlan, type DiscoveryPlan, type DiscoveryOptions, type NodeRecord } from "./discovery.js";
export { Replica, type ReplicaOptions } from "./replica.js";
export { recoverStateMachine, peersInUnappliedLog } from "./recovery.js";
export { realClock, type Clock, type Timer, type DurableLog, type PeerNetwork, type PeerEvents, type StateMachine, type NodeLogger } from "./ports.js";
export type { RaftTuning, DriverObserver } from "./driver.js";
export type { LeaderRequest, LeaderAnswer } from "./forwarding.js";
export { trace, tracing, subscribeTrace, TRACE_CHANNEL, type TraceEvent, type TraceStep } from "./trace.js";
