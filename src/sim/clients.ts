/**
 * Simulated clients: each runs one operation at a time (read, write or compare-and-set on a
 * small key space) and records it in the history the linearizability checker judges.
 *
 * - Writes and cas go to the node the client believes leads. A refused proposal
 *   (ProposalDroppedError) or a node that is down is a definite failure: the client records
 *   "fail" and tries another node next time. An accepted proposal settles when that node
 *   applies its index: the same term there means our entry (ok, with the state machine's
 *   output); another term means our entry was overwritten, and since an entry only ever
 *   lives at one index, it never took effect (fail).
 * - Reads go through ReadIndex on a random node and are served from that node's own state
 *   machine once its ReadState has arrived and it has applied up to the read index.
 * - Anything else (the node crashed, a snapshot skipped our index, the deadline passed) is
 *   "unknown": the operation may or may not have taken effect.
 */
import { ProposalDroppedError, type Entry, type NodeId, type ReadState } from "../raft/index.js";
import type { HistoryOp, KvInput, KvOutput } from "../check/index.js";
import { SIM_CLIENT_OP_TIMEOUT_TICKS } from "../util/limits.js";
import type { Rng } from "../util/rng.js";
import type { TraceDigest } from "./digest.js";
import { encodeCommand, type KvCommand } from "./kv-machine.js";
import type { SimNode } from "./sim-node.js";

/** A deliberate client-side bug, for the test that proves the checker is wired in. */
export type ClientBug = "stale-read";

/** The nodes clients may address (removed ones are gone from the clients' view). */
export interface ClusterView {
  addressable(): readonly SimNode[];
  node(id: NodeId): SimNode | undefined;
}

/** Strictly increasing time for the history, so no two events look concurrent by accident. */
export class LogicalClock {
  #now = 0;
  next(): number {
    return ++this.#now;
  }
}

type WriteInput = Extract<KvInput, { kind: "write" | "cas" }>;

interface PendingOp {
  readonly historyIndex: number;
  readonly client: Client;
  readonly key: string;
  readonly opId: string;
  readonly deadlineTick: number;
  readonly node: NodeId;
  readonly proposal?: { readonly index: number; readonly term: number };
  readonly readContext?: string;
  readIndex?: number;
}

interface Client {
  readonly process: number;
  seq: number;
  target: NodeId | undefined;
  nextOpTick: number;
  pending: PendingOp | undefined;
  /** The last value this client saw per key: a likely `expected` for its next cas. */
  readonly seen: Map<string, string | null>;
}

export interface OpCounts {
  ok: number;
  fail: number;
  unknown: number;
}

export interface ClientOptions {
  readonly clients: number;
  readonly keys: number;
  readonly bug?: ClientBug;
}

export class ClientPool {
  readonly history: HistoryOp[] = [];
  readonly #rng: Rng;
  readonly #clock: LogicalClock;
  readonly #digest: TraceDigest;
  readonly #keys: string[];
  readonly #clients: Client[] = [];
  readonly #bug: ClientBug | undefined;
  /** node → index → the write waiting for that node to apply it. */
  readonly #proposals = new Map<NodeId, Map<number, PendingOp>>();
  /** node → read context → the read waiting for its ReadState and apply. */
  readonly #reads = new Map<NodeId, Map<string, PendingOp>>();
  #issuing = true;
  #now = 0;

  constructor(rng: Rng, clock: LogicalClock, digest: TraceDigest, options: ClientOptions) {
    this.#rng = rng;
    this.#clock = clock;
    this.#digest = digest;
    this.#bug = options.bug;
    this.#keys = Array.from({ length: options.keys }, (_, i) => `k${i}`);
    for (let process = 0; process < options.clients; process++) {
      this.#clients.push({ process, seq: 0, target: undefined, nextOpTick: 0, pending: undefined, seen: new Map() });
    }
  }

  /** The healed phase: clients finish what they started but start nothing new. */
  stopIssuing(): void {
    this.#issuing = false;
  }

  counts(): OpCounts {
    const counts: OpCounts = { ok: 0, fail: 0, unknown: 0 };
    for (const op of this.history) counts[op.outcome]++;
    return counts;
  }

  /** Times out late operations, then lets idle clients start their next one. */
  step(now: number, cluster: ClusterView): void {
    this.#now = now;
    for (const client of this.#clients) {
      const pending = client.pending;
      if (pending !== undefined && now >= pending.deadlineTick) this.#settleUnknown(pending);
      if (client.pending === undefined && this.#issuing && now >= client.nextOpTick) this.#startOp(client, now, cluster);
    }
  }

  /**
   * A one-off operation outside the random workload (the healed phase's liveness probe).
   * Returns the history index to watch, or undefined if the node could not take it now.
   */
  probe(now: number, node: SimNode, key: string, input: KvInput): number | undefined {
    this.#now = now;
    const client = this.#probeClient();
    if (client.pending !== undefined) return client.pending.historyIndex;
    return input.kind === "read" ? this.#startRead(client, now, node, key) : this.#startWrite(client, now, node, key, input);
  }

  /** Whether the operation at `historyIndex` is still waiting for its outcome. */
  isPending(historyIndex: number): boolean {
    return this.#clients.some((client) => client.pending?.historyIndex === historyIndex);
  }

  outcome(historyIndex: number): HistoryOp {
    return this.history[historyIndex]!;
  }

  /** The node applied `entry`: settle the write that proposed at this index, if any. */
  onApplied(node: SimNode, entry: Entry, command: KvCommand | undefined, output: KvOutput | undefined, violation: (message: string) => void): void {
    const waiting = this.#proposals.get(node.id);
    const pending = waiting?.get(entry.index);
    if (pending === undefined) return;
    waiting!.delete(entry.index);
    if (entry.term !== pending.proposal!.term) {
      this.#settle(pending, "fail");
      return;
    }
    if (command?.op !== pending.opId || output === undefined) {
      violation(`${node.id} applied (${entry.index}, term ${entry.term}) where it had accepted op ${pending.opId}, but the entry is ${command?.op ?? "not a client command"}`);
      this.#settleUnknown(pending);
      return;
    }
    this.#settle(pending, "ok", output);
  }

  /** The node's state machine jumped to a snapshot: writes waiting at or below it cannot be matched. */
  onSnapshotRestored(node: SimNode, index: number): void {
    const waiting = this.#proposals.get(node.id);
    if (waiting === undefined) return;
    for (const [proposalIndex, pending] of waiting) {
      if (proposalIndex <= index) this.#settleUnknown(pending);
    }
  }

  onReadStates(node: SimNode, readStates: readonly ReadState[]): void {
    const waiting = this.#reads.get(node.id);
    if (waiting === undefined) return;
    for (const readState of readStates) {
      const pending = waiting.get(readState.context);
      if (pending !== undefined && pending.readIndex === undefined) pending.readIndex = readState.index;
    }
  }

  /** After the node applied more: serve the reads whose read index it has reached. */
  serveReads(node: SimNode): void {
    const waiting = this.#reads.get(node.id);
    if (waiting === undefined || waiting.size === 0) return;
    for (const pending of [...waiting.values()]) {
      if (pending.readIndex !== undefined && node.applied >= pending.readIndex) {
        this.#settle(pending, "ok", { kind: "read", value: node.machine.read(pending.key) });
      }
    }
  }

  /** The node crashed or stopped: every request it held is in doubt. */
  onNodeLost(node: NodeId): void {
    for (const pending of [...(this.#proposals.get(node)?.values() ?? []), ...(this.#reads.get(node)?.values() ?? [])]) {
      this.#settleUnknown(pending);
    }
  }

  #probeClient(): Client {
    if (this.#clients.length === 0 || this.#clients[this.#clients.length - 1]!.process !== PROBE_PROCESS) {
      this.#clients.push({ process: PROBE_PROCESS, seq: 0, target: undefined, nextOpTick: Infinity, pending: undefined, seen: new Map() });
    }
    return this.#clients[this.#clients.length - 1]!;
  }

  #startOp(client: Client, now: number, cluster: ClusterView): void {
    const key = this.#rng.pick(this.#keys);
    const roll = this.#rng.float();
    const nodes = cluster.addressable();
    if (nodes.length === 0) return;
    if (roll < 0.45) {
      const node = this.#rng.pick(nodes);
      if (node.up && !node.accepting) return; // busy saving: ask again next tick
      this.#startRead(client, now, node, key);
      return;
    }
    const target = (client.target !== undefined ? cluster.node(client.target) : undefined) ?? this.#rng.pick(nodes);
    if (target.up && !target.accepting) return;
    const value = `${client.process}.${client.seq + 1}`;
    const input: WriteInput =
      roll < 0.8 ? { kind: "write", value } : { kind: "cas", expected: this.#casExpectation(client, key), value };
    this.#startWrite(client, now, target, key, input);
  }

  #casExpectation(client: Client, key: string): string | null {
    const seen = client.seen.get(key);
    if (seen !== undefined && this.#rng.chance(0.8)) return seen;
    return this.#rng.chance(0.5) ? null : `${this.#rng.int(0, this.#clients.length)}.${this.#rng.int(1, client.seq + 2)}`;
  }

  #record(client: Client, key: string, input: KvInput): { historyIndex: number; opId: string } {
    client.seq++;
    const opId = `${client.process}.${client.seq}`;
    const historyIndex = this.history.length;
    this.history.push({ process: client.process, key, input, call: this.#clock.next(), outcome: "unknown" });
    this.#digest.event("call");
    this.#digest.string(opId);
    this.#digest.string(key);
    this.#digest.string(input.kind);
    return { historyIndex, opId };
  }

  #startRead(client: Client, now: number, node: SimNode, key: string): number {
    const { historyIndex, opId } = this.#record(client, key, { kind: "read" });
    const base = { historyIndex, client, key, opId, deadlineTick: now + SIM_CLIENT_OP_TIMEOUT_TICKS, node: node.id };
    client.pending = base;
    if (!node.up) {
      this.#settle(base, "fail");
      return historyIndex;
    }
    if (this.#bug === "stale-read") {
      this.#settle(base, "ok", { kind: "read", value: node.machine.read(key) });
      return historyIndex;
    }
    const readContext = `read.${opId}`;
    const pending: PendingOp = { ...base, readContext };
    client.pending = pending;
    mapFor(this.#reads, node.id).set(readContext, pending);
    node.raft.readIndex(readContext);
    return historyIndex;
  }

  #startWrite(client: Client, now: number, node: SimNode, key: string, input: WriteInput): number {
    const { historyIndex, opId } = this.#record(client, key, input);
    const base = { historyIndex, client, key, opId, deadlineTick: now + SIM_CLIENT_OP_TIMEOUT_TICKS, node: node.id };
    client.pending = base;
    if (!node.up) {
      client.target = undefined;
      this.#settle(base, "fail");
      return historyIndex;
    }
    const command: KvCommand =
      input.kind === "cas"
        ? { op: opId, kind: "cas", key, expected: input.expected, value: input.value }
        : { op: opId, kind: "write", key, value: input.value };
    let proposal: { index: number; term: number };
    try {
      proposal = node.raft.propose(encodeCommand(command));
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
      const leader = node.raft.status().leader;
      client.target = leader !== "" && leader !== node.id ? leader : undefined;
      this.#settle(base, "fail");
      return historyIndex;
    }
    client.target = node.id;
    const pending: PendingOp = { ...base, proposal };
    client.pending = pending;
    const waiting = mapFor(this.#proposals, node.id);
    const displaced = waiting.get(proposal.index);
    if (displaced !== undefined) this.#settleUnknown(displaced);
    waiting.set(proposal.index, pending);
    return historyIndex;
  }

  #settle(pending: PendingOp, outcome: "ok" | "fail", output?: KvOutput): void {
    this.#forget(pending);
    const op = this.history[pending.historyIndex]!;
    op.outcome = outcome;
    op.returnTime = this.#clock.next();
    if (output !== undefined) op.output = output;
    if (output?.kind === "read") pending.client.seen.set(pending.key, output.value);
    if ((output?.kind === "write" || (output?.kind === "cas" && output.succeeded)) && op.input.kind !== "read") {
      pending.client.seen.set(pending.key, op.input.value);
    }
    this.#digest.event(outcome);
    this.#digest.string(pending.opId);
    if (output?.kind === "read") this.#digest.string(output.value ?? "<absent>");
    if (output?.kind === "cas") this.#digest.number(output.succeeded ? 1 : 0);
  }

  #settleUnknown(pending: PendingOp): void {
    this.#forget(pending);
    this.#digest.event("unknown");
    this.#digest.string(pending.opId);
  }

  #forget(pending: PendingOp): void {
    const client = pending.client;
    if (client.pending === pending) {
      client.pending = undefined;
      client.nextOpTick = client.process === PROBE_PROCESS ? Infinity : this.#now + this.#rng.int(0, CLIENT_THINK_TICKS_MAX + 1);
    }
    if (pending.proposal !== undefined) {
      const waiting = this.#proposals.get(pending.node);
      if (waiting?.get(pending.proposal.index) === pending) waiting.delete(pending.proposal.index);
    }
    if (pending.readContext !== undefined) this.#reads.get(pending.node)?.delete(pending.readContext);
  }
}

/** Ticks a client may pause between two operations (drawn per operation). */
const CLIENT_THINK_TICKS_MAX = 3;

/** The process id of the healed phase's probe operations (apart from the workload's clients). */
const PROBE_PROCESS = 1_000;

function mapFor<K, V>(maps: Map<NodeId, Map<K, V>>, node: NodeId): Map<K, V> {
  let map = maps.get(node);
  if (map === undefined) maps.set(node, (map = new Map()));
  return map;
}
