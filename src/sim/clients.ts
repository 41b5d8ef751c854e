/**
 * Simulated clients: each runs one operation at a time (read, write or compare-and-set on a
 * small key space) against a node it picks, through that node's replica: the write, read and
 * forwarding paths the HTTP server uses. Each operation is recorded in the history the
 * linearizability checker judges.
 *
 * - A write or compare-and-set is a `put` or a `txn` (api.md's) sent to any node; a follower
 *   forwards it to the leader. Its promise settles ok (with the state machine's result), or
 *   fails with a NodeError: `unknown_outcome` (the deadline passed, or the node stopped) is
 *   "unknown"; every other code says nothing was applied, so "fail".
 * - A read is a linearizable get through ReadIndex on any node.
 * - A node that crashes never answers: everything it held is "unknown".
 */
import type { HistoryOp, KvInput, KvOutput } from "../check/index.js";
import type { CommandBody, CommandResult } from "../kv/index.js";
import { NodeError } from "../node/index.js";
import type { Rng } from "../util/rng.js";
import type { TraceDigest } from "./digest.js";
import type { SimNode } from "./sim-node.js";

/** A deliberate client-side bug, for the test that proves the checker is wired in. */
export type ClientBug = "stale-read";

/** The nodes clients may address. */
export interface ClusterView {
  addressable(): readonly SimNode[];
  node(id: string): SimNode | undefined;
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
  readonly node: string;
  readonly incarnation: number;
}

interface Client {
  readonly process: number;
  seq: number;
  /** The node this client talks to until it fails it. */
  target: string | undefined;
  nextOpAt: number;
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
  /** Simulated milliseconds between one client's operations, at most. */
  readonly thinkMsMax: number;
  readonly bug?: ClientBug;
}

const utf8 = new TextEncoder();
const text = new TextDecoder();

export class ClientPool {
  readonly history: HistoryOp[] = [];
  readonly #rng: Rng;
  readonly #clock: LogicalClock;
  readonly #digest: TraceDigest;
  readonly #keys: string[];
  readonly #clients: Client[] = [];
  readonly #options: ClientOptions;
  readonly #onViolation: (message: string) => void;
  #issuing = true;

  constructor(rng: Rng, clock: LogicalClock, digest: TraceDigest, options: ClientOptions, onViolation: (message: string) => void) {
    this.#rng = rng;
    this.#clock = clock;
    this.#digest = digest;
    this.#options = options;
    this.#onViolation = onViolation;
    this.#keys = Array.from({ length: options.keys }, (_, i) => `k${i}`);
    for (let process = 0; process < options.clients; process++) {
      this.#clients.push({ process, seq: 0, target: undefined, nextOpAt: 0, pending: undefined, seen: new Map() });
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

  /** Lets idle clients start their next operation. */
  step(now: number, cluster: ClusterView): void {
    if (!this.#issuing) return;
    for (const client of this.#clients) {
      if (client.pending === undefined && now >= client.nextOpAt) this.#startOp(client, now, cluster);
    }
  }

  /**
   * A one-off operation outside the random workload (the healed phase's liveness probe).
   * Returns the history index to watch.
   */
  probe(node: SimNode, key: string, input: KvInput): number {
    const client = this.#probeClient();
    if (client.pending !== undefined) return client.pending.historyIndex;
    return input.kind === "read" ? this.#startRead(client, node, key) : this.#startWrite(client, node, key, input);
  }

  isPending(historyIndex: number): boolean {
    return this.#clients.some((client) => client.pending?.historyIndex === historyIndex);
  }

  outcome(historyIndex: number): HistoryOp {
    return this.history[historyIndex]!;
  }

  /** The node crashed or stopped: every request it held is in doubt, and will never be answered. */
  onNodeLost(node: SimNode): void {
    for (const client of this.#clients) {
      const pending = client.pending;
      if (pending !== undefined && pending.node === node.id && pending.incarnation === node.incarnation) this.#settle(pending, "unknown");
    }
  }

  #probeClient(): Client {
    const last = this.#clients[this.#clients.length - 1];
    if (last === undefined || last.process !== PROBE_PROCESS) {
      this.#clients.push({ process: PROBE_PROCESS, seq: 0, target: undefined, nextOpAt: Infinity, pending: undefined, seen: new Map() });
    }
    return this.#clients[this.#clients.length - 1]!;
  }

  #startOp(client: Client, now: number, cluster: ClusterView): void {
    const nodes = cluster.addressable().filter((node) => node.up);
    if (nodes.length === 0) return;
    const key = this.#rng.pick(this.#keys);
    const roll = this.#rng.float();
    client.nextOpAt = now + this.#rng.int(1, this.#options.thinkMsMax + 1);
    const target = (client.target !== undefined ? cluster.node(client.target) : undefined) ?? this.#rng.pick(nodes);
    if (!target.up) {
      client.target = undefined;
      return;
    }
    client.target = target.id;
    if (roll < 0.45) {
      this.#startRead(client, target, key);
      return;
    }
    const value = `${client.process}.${client.seq + 1}`;
    const input: WriteInput = roll < 0.8 ? { kind: "write", value } : { kind: "cas", expected: this.#casExpectation(client, key), value };
    this.#startWrite(client, target, key, input);
  }

  #casExpectation(client: Client, key: string): string | null {
    const seen = client.seen.get(key);
    if (seen !== undefined && this.#rng.chance(0.8)) return seen;
    return this.#rng.chance(0.5) ? null : `${this.#rng.int(0, this.#clients.length)}.${this.#rng.int(1, client.seq + 2)}`;
  }

  #record(client: Client, node: SimNode, key: string, input: KvInput): PendingOp {
    client.seq++;
    const opId = `${client.process}.${client.seq}`;
    const historyIndex = this.history.length;
    this.history.push({ process: client.process, key, input, call: this.#clock.next(), outcome: "unknown" });
    this.#digest.event("call");
    this.#digest.string(opId);
    this.#digest.string(key);
    this.#digest.string(input.kind);
    this.#digest.string(node.id);
    const pending: PendingOp = { historyIndex, client, key, opId, node: node.id, incarnation: node.incarnation };
    client.pending = pending;
    return pending;
  }

  #startRead(client: Client, node: SimNode, key: string): number {
    const pending = this.#record(client, node, key, { kind: "read" });
    if (this.#options.bug === "stale-read") {
      this.#settle(pending, "ok", { kind: "read", value: valueOf(node.kv.get(key)?.value) });
      return pending.historyIndex;
    }
    node.replica.get(key, { consistency: "linearizable" }).then(
      (result) => this.#settle(pending, "ok", { kind: "read", value: valueOf(result.kv?.value) }),
      (error: unknown) => this.#failed(pending, error),
    );
    return pending.historyIndex;
  }

  #startWrite(client: Client, node: SimNode, key: string, input: WriteInput): number {
    const pending = this.#record(client, node, key, input);
    const value = utf8.encode(input.value);
    const command: CommandBody =
      input.kind === "write"
        ? { type: "put", payload: { key, value } }
        : {
            type: "txn",
            payload: {
              compare: input.expected === null ? [{ key, target: "version", op: "==", value: 0 }] : [{ key, target: "value", op: "==", value: utf8.encode(input.expected) }],
              success: [{ put: { key, value } }],
              failure: [],
            },
          };
    // Some writes carry an idempotency key, so the path that remembers them runs too.
    const options = this.#rng.chance(0.3) ? { idempotencyKey: `op-${pending.opId}` } : {};
    node.replica.write(command, options).then(
      (result) => {
        const output = outputOf(input, result);
        if (output === undefined) {
          this.#onViolation(`op ${pending.opId} (${input.kind}) on ${pending.node} answered ${result.kind}`);
          this.#settle(pending, "unknown");
        } else {
          this.#settle(pending, "ok", output);
        }
      },
      (error: unknown) => this.#failed(pending, error),
    );
    return pending.historyIndex;
  }

  #failed(pending: PendingOp, error: unknown): void {
    if (!(error instanceof NodeError)) {
      this.#onViolation(`op ${pending.opId} on ${pending.node} failed with an unexpected error: ${(error as Error).stack ?? String(error)}`);
      this.#settle(pending, "unknown");
      return;
    }
    pending.client.target = undefined; // try another node next time
    this.#settle(pending, error.code === "unknown_outcome" ? "unknown" : "fail");
  }

  #settle(pending: PendingOp, outcome: "ok" | "fail" | "unknown", output?: KvOutput): void {
    if (pending.client.pending !== pending) return; // settled already (the node was lost first)
    pending.client.pending = undefined;
    const op = this.history[pending.historyIndex]!;
    this.#digest.event(outcome);
    this.#digest.string(pending.opId);
    if (outcome === "unknown") return;
    op.outcome = outcome;
    op.returnTime = this.#clock.next();
    if (output !== undefined) op.output = output;
    if (output?.kind === "read") pending.client.seen.set(pending.key, output.value);
    if ((output?.kind === "write" || (output?.kind === "cas" && output.succeeded)) && op.input.kind !== "read") {
      pending.client.seen.set(pending.key, op.input.value);
    }
    if (output?.kind === "read") this.#digest.string(output.value ?? "<absent>");
    if (output?.kind === "cas") this.#digest.number(output.succeeded ? 1 : 0);
  }
}

/** The process number of the healed phase's probe client. */
const PROBE_PROCESS = 1_000_000;

function valueOf(bytes: Uint8Array | undefined): string | null {
  return bytes === undefined ? null : text.decode(bytes);
}

/** The checker's output for a write's result; undefined for a result a write of ours cannot have. */
function outputOf(input: WriteInput, result: CommandResult): KvOutput | undefined {
  if (input.kind === "write") return result.kind === "put" ? { kind: "write" } : undefined;
  return result.kind === "txn" ? { kind: "cas", succeeded: result.succeeded } : undefined;
}
