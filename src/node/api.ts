/**
 * What a running node offers the layers above it (server, embedding applications). The HTTP
 * server is a thin translation of api.md onto this interface; an application that embeds
 * Flotilla (startNode) calls it directly.
 */
import type { CommandBody, CommandResult, KeyValue, RangeResult } from "../kv/index.js";

export type Consistency = "linearizable" | "stale";

export type NodeRole = "leader" | "follower" | "candidate" | "learner";

/** A member's role as the answering node sees it: the leader it knows, a non-voter, or another voter. */
export type MemberRole = "leader" | "follower" | "learner";

export interface MemberStatus {
  readonly id: string;
  /** Peer address (host:port) the other nodes reach it on. */
  readonly peer: string;
  /** Client URL (http://host:port) that clients and forwarding use; "" when unknown. */
  readonly client: string;
  readonly voter: boolean;
  readonly role: MemberRole;
  /** Leader's view only (undefined elsewhere): highest index known replicated on it. */
  readonly matchIndex?: number;
  /** Leader's view only: entries it is behind the leader's last index. */
  readonly lag?: number;
  /** Leader's view only: milliseconds since the leader last heard from it (0 for itself). */
  readonly lastContactMs?: number;
}

export interface NodeStatus {
  readonly id: string;
  readonly role: NodeRole;
  readonly term: number;
  /** The leader's id, "" when none is known. */
  readonly leader: string;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly members: readonly MemberStatus[];
  /** Extension of api.md: the cluster's id, which a joining node needs for its handshakes. */
  readonly clusterId: string;
}

export interface WriteOptions {
  /** api.md's Idempotency-Key: a retry with the same token applies nothing twice. */
  readonly idempotencyKey?: string;
  /** How long to wait for the write to apply (default: the node's request deadline). */
  readonly timeoutMs?: number;
  /**
   * A follower forwards the write to the leader over the peer connection (default). false:
   * a follower throws not_leader (with the leader's client URL) instead.
   */
  readonly forward?: boolean;
}

export interface ReadOptions {
  readonly consistency?: Consistency;
  readonly timeoutMs?: number;
}

export interface RangeRequest {
  readonly prefix: string;
  /** Only keys strictly after this one (pagination). */
  readonly after?: string;
  readonly limit?: number;
}

export interface GetResult {
  readonly kv: KeyValue | null;
  readonly revision: number;
}

export interface AddMemberRequest {
  readonly id: string;
  readonly peer: string;
  readonly client?: string;
  readonly learner?: boolean;
  /** Extension of api.md: a learner the leader promotes to voter once it has caught up (--join). */
  readonly autoPromote?: boolean;
}

/**
 * Errors a node reports, each with a stable code that the server maps to an HTTP status in one
 * place (server/errors.ts). `leaderClientUrl` lets the server forward to the leader.
 */
export type NodeErrorCode =
  | "not_leader" // 307-style: this node cannot do it; forward to leaderClientUrl
  | "no_leader" // 503: no leader known, or no quorum within the deadline
  | "unknown_outcome" // 504: the write may or may not have been applied
  | "overloaded" // 503: a bounded queue is full
  | "conflict" // 409: membership change refused (one at a time, unknown member, would lose quorum)
  | "not_found" // 404
  | "bad_request" // 400
  | "shutting_down"; // 503

export class NodeError extends Error {
  override name = "NodeError";
  readonly code: NodeErrorCode;
  readonly leaderClientUrl: string | undefined;

  constructor(code: NodeErrorCode, message: string, options: { leaderClientUrl?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.leaderClientUrl = options.leaderClientUrl;
  }
}

export interface NodeApi {
  readonly id: string;
  /** Replicates a write command; resolves once it is committed, durable on a quorum, and applied. */
  write(command: CommandBody, options?: WriteOptions): Promise<CommandResult>;
  get(key: string, options?: ReadOptions): Promise<GetResult>;
  range(request: RangeRequest, options?: ReadOptions): Promise<RangeResult>;
  status(): NodeStatus;
  /** The members as this node sees them (each one's progress too, when this node leads). */
  members(): readonly MemberStatus[];
  /** The members as the leader sees them, with each one's progress (this node's view when no leader answers). */
  leaderMembers(): Promise<readonly MemberStatus[]>;
  addMember(request: AddMemberRequest): Promise<readonly MemberStatus[]>;
  removeMember(id: string): Promise<readonly MemberStatus[]>;
  promoteMember(id: string): Promise<readonly MemberStatus[]>;
  /** Hands leadership to `to` (or the most caught-up voter); resolves when it has moved. */
  transferLeadership(to?: string): Promise<{ leader: string }>;
  /**
   * When this node leads: hands leadership to a caught-up voter heard from recently, so that
   * stopping it costs clients one short pause rather than an election timeout. Never throws.
   */
  handOff(): Promise<void>;
  /** /readyz: a leader (and its client URL, to forward to) is known and this node applied up to the commit index it knows. */
  isReady(): boolean;
  /** Prometheus text exposition of the node's metrics. */
  metrics(): Promise<string>;
  close(): Promise<void>;
}
