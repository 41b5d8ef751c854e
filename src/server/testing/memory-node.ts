/**
 * MemoryNode: an in-memory, single-node NodeApi (like hashicorp/raft's in-memory stores), for
 * testing the HTTP layer and the client without Raft, disks or sockets. Writes become log
 * entries applied to a real KvStore in ":memory:" mode, so results, revisions, preconditions
 * and idempotency are exactly the state machine's. It can also play a follower (writes and
 * linearizable reads throw not_leader with the leader's client URL), and can be told to fail
 * the next calls with a given NodeError (no leader, unknown outcome, ...).
 */
import { encodeCommand, KvError, KvStore, MEMORY_PATH } from "../../kv/index.js";
import type { Command, CommandBody, CommandResult, RangeResult } from "../../kv/index.js";
import { assert } from "../../util/assert.js";
import {
  NodeError,
  type AddMemberRequest,
  type GetResult,
  type MemberStatus,
  type NodeApi,
  type NodeStatus,
  type RangeRequest,
  type ReadOptions,
  type WriteOptions,
} from "../../node/api.js";

export interface MemoryNodeOptions {
  readonly id?: string;
  /** This node's own client URL (as members list it). */
  readonly clientUrl?: string;
  /** Play a follower of this leader: writes, linearizable reads and membership changes throw not_leader. */
  readonly follower?: { readonly leaderId: string; readonly leaderClientUrl: string };
}

export type MemoryOperation = "write" | "read" | "membership";

const TERM = 1;

export class MemoryNode implements NodeApi {
  readonly id: string;
  readonly #store = KvStore.open({ path: MEMORY_PATH });
  readonly #follower: MemoryNodeOptions["follower"];
  readonly #failures = new Map<MemoryOperation, NodeError[]>();
  #members: Omit<MemberStatus, "role">[];
  #requests = 0;
  #closed = false;
  /** Every write call that reached the state machine (replays included), for tests to count. */
  writeCalls = 0;

  constructor(options: MemoryNodeOptions = {}) {
    this.id = options.id ?? "m1";
    this.#follower = options.follower;
    this.#members = [{ id: this.id, peer: "127.0.0.1:0", client: options.clientUrl ?? "", voter: true }];
    // A follower knows its leader as a member, with the client URL it forwards to.
    if (options.follower) this.#members.push({ id: options.follower.leaderId, peer: "127.0.0.1:0", client: options.follower.leaderClientUrl, voter: true });
  }

  /** The next `times` calls of `operation` throw `error` (after the closed check). */
  failNext(operation: MemoryOperation, error: NodeError, times = 1): void {
    const queue = this.#failures.get(operation) ?? [];
    for (let i = 0; i < times; i++) queue.push(error);
    this.#failures.set(operation, queue);
  }

  /** Entries applied so far (the log's last index). */
  appliedIndex(): number {
    return this.#store.appliedIndex();
  }

  async write(command: CommandBody, options: WriteOptions = {}): Promise<CommandResult> {
    this.#enter("write");
    this.#requireLeader();
    const requestId = `memory-${++this.#requests}`;
    const full: Command = options.idempotencyKey === undefined ? { ...command, requestId } : { ...command, requestId, idempotencyKey: options.idempotencyKey };
    const data = asNodeError(() => encodeCommand(full));
    this.writeCalls++;
    const [applied] = this.#store.applyBatch([{ kind: "command", index: this.#store.appliedIndex() + 1, term: TERM, data }]);
    assert(applied !== undefined, "a new entry is always applied");
    assert(applied.result.kind !== "conf_change", "a command entry never yields a membership result");
    return applied.result;
  }

  async get(key: string, options: ReadOptions = {}): Promise<GetResult> {
    this.#enter("read");
    if (options.consistency !== "stale") this.#requireLeader();
    return asNodeError(() => ({ kv: this.#store.get(key), revision: this.#store.revision() }));
  }

  async range(request: RangeRequest, options: ReadOptions = {}): Promise<RangeResult> {
    this.#enter("read");
    if (options.consistency !== "stale") this.#requireLeader();
    const rangeOptions = { ...(request.after === undefined ? {} : { after: request.after }), ...(request.limit === undefined ? {} : { limit: request.limit }) };
    return asNodeError(() => this.#store.range(request.prefix, rangeOptions));
  }

  status(): NodeStatus {
    const applied = this.#store.appliedIndex();
    return {
      id: this.id,
      role: this.#follower === undefined ? "leader" : "follower",
      term: TERM,
      leader: this.#follower?.leaderId ?? this.id,
      commitIndex: applied,
      appliedIndex: applied,
      members: this.members(),
      clusterId: "memory-cluster",
    };
  }

  members(): readonly MemberStatus[] {
    const leader = this.#follower?.leaderId ?? this.id;
    return this.#members.map((member) => ({ ...member, role: !member.voter ? "learner" : member.id === leader ? "leader" : "follower" }));
  }

  async leaderMembers(): Promise<readonly MemberStatus[]> {
    this.#enter("membership");
    this.#requireLeader();
    return this.members();
  }

  async addMember(request: AddMemberRequest): Promise<readonly MemberStatus[]> {
    this.#enter("membership");
    this.#requireLeader();
    if (this.#members.some((member) => member.id === request.id)) throw new NodeError("conflict", `${request.id} is already a member`);
    this.#members.push({ id: request.id, peer: request.peer, client: request.client ?? "", voter: request.learner !== true });
    return this.members();
  }

  async removeMember(id: string): Promise<readonly MemberStatus[]> {
    this.#enter("membership");
    this.#requireLeader();
    this.#member(id);
    if (id === this.id) throw new NodeError("conflict", "the in-memory node cannot remove itself");
    this.#members = this.#members.filter((member) => member.id !== id);
    return this.members();
  }

  async promoteMember(id: string): Promise<readonly MemberStatus[]> {
    this.#enter("membership");
    this.#requireLeader();
    const member = this.#member(id);
    if (member.voter) throw new NodeError("conflict", `${id} is already a voter`);
    this.#members = this.#members.map((m) => (m.id === id ? { ...m, voter: true } : m));
    return this.members();
  }

  async transferLeadership(to?: string): Promise<{ leader: string }> {
    this.#enter("membership");
    this.#requireLeader();
    if (to === undefined || to === this.id) return { leader: this.id };
    this.#member(to);
    throw new NodeError("conflict", `the in-memory node cannot hand leadership to ${to}`);
  }

  async handOff(): Promise<void> {}

  isReady(): boolean {
    return !this.#closed;
  }

  async metrics(): Promise<string> {
    return [
      "# HELP flotilla_memory_applied_index Entries applied by the in-memory node.",
      "# TYPE flotilla_memory_applied_index gauge",
      `flotilla_memory_applied_index ${this.#store.appliedIndex()}`,
      "",
    ].join("\n");
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#store.close();
  }

  #enter(operation: MemoryOperation): void {
    if (this.#closed) throw new NodeError("shutting_down", "the node is closed");
    const failure = this.#failures.get(operation)?.shift();
    if (failure !== undefined) throw failure;
  }

  #requireLeader(): void {
    if (this.#follower === undefined) return;
    throw new NodeError("not_leader", `this node follows ${this.#follower.leaderId}`, { leaderClientUrl: this.#follower.leaderClientUrl });
  }

  #member(id: string): Omit<MemberStatus, "role"> {
    const member = this.#members.find((m) => m.id === id);
    if (member === undefined) throw new NodeError("not_found", `${id} is not a member`);
    return member;
  }
}

/** kv's input errors become the node's bad_request, as a real node reports them. */
function asNodeError<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof KvError) throw new NodeError("bad_request", error.message, { cause: error });
    throw error;
  }
}
