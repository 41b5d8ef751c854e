/**
 * What the parts of a replica (writes, reads, membership, peers, chores) share: its driver and
 * ports, its settings, and the few facts every part asks about (who leads, who the members
 * are). replica.ts builds it; each part takes it and nothing else of the others.
 */
import type { Member } from "../kv/index.js";
import type { NodeError } from "./api.js";
import type { Conditions } from "./conditions.js";
import type { Driver } from "./driver.js";
import type { Clock, NodeLogger, PeerNetwork, StateMachine } from "./ports.js";

/** Counts the node's metrics keep; the simulator passes none. */
export interface ReplicaObserver {
  proposed(): void;
  forwardedWrite(): void;
  linearizableRead(): void;
}

export interface ReplicaContext {
  readonly id: string;
  /** Unique to this life of the node: request ids and read contexts never collide with an earlier life's. */
  readonly bootId: string;
  readonly driver: Driver;
  readonly machine: StateMachine;
  readonly network: PeerNetwork;
  readonly clock: Clock;
  readonly logger: NodeLogger;
  readonly conditions: Conditions;
  readonly observer: ReplicaObserver | undefined;
  readonly tickMs: number;
  readonly requestTimeoutMs: number;
  readonly electionTimeoutTicks: number;
  /** This node's own advertised addresses, which the membership should record. */
  readonly peerAddress: string;
  readonly clientUrl: string;
  /** The leader this node knows, "" when none. */
  leader(): string;
  /** The membership with addresses (cached: read on hot paths, changes rarely). */
  members(): readonly Member[];
  /** A request id unique across this node's lives: `<id>.<boot id>.<seq>`. */
  nextRequestId(): string;
  /** Throws shutting_down once the replica is stopping. */
  checkOpen(): void;
  /** not_leader (with the leader's client URL when known), or no_leader. */
  notLeader(): NodeError;
  /** Resolves once some leader is known; no_leader at the deadline. */
  waitForLeader(deadline: number): Promise<void>;
}
