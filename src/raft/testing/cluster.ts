/**
 * A small in-memory cluster for the scenario tests: Raft cores, their "disks" (MemoryStorage),
 * a state machine that records applied entries, and a network the test controls message by
 * message. It follows the driver contract exactly: persist → send → apply → advance.
 */
import { Rng } from "../../util/rng.js";
import { decodeConfChange } from "../confchange.js";
import { RaftNode, bootstrapStorage } from "../raft.js";
import { MemoryStorage } from "../log-storage.js";
import type {
  MessageType} from "../types.js";
import {
  EntryType,
  Role,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type ReadState,
} from "../types.js";
import type { RaftConfig } from "../config.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface TestNode {
  raft: RaftNode;
  /** The node's durable state: survives crash(). */
  storage: MemoryStorage;
  /** Normal entries applied, in order (volatile: rebuilt from the log after a restart). */
  applied: Entry[];
  confState: ConfState;
  readStates: ReadState[];
  up: boolean;
}

export type ConfigOverrides = Partial<Omit<RaftConfig, "id" | "storage" | "rng">>;

export interface ClusterOptions extends ConfigOverrides {
  /** Seed for every node's election jitter and for the lossy network. */
  seed?: number;
  /** Members that join later (learners or voters): no bootstrap, empty log. */
  extra?: NodeId[];
}

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages in flight, in send order. */
  queue: Message[] = [];
  /** Every message ever sent, for assertions on traffic. */
  readonly sent: Message[] = [];
  readonly #blocked = new Set<string>();
  readonly #rng: Rng;
  readonly #overrides: ConfigOverrides;
  /** Probability of dropping a message in deliver(); 0 = reliable. */
  lossRate = 0;
  /** Drop every message of these types (to stall a mechanism in a test). */
  readonly droppedTypes = new Set<MessageType>();
  /** Lets a test rewrite or drop (undefined) any message on its way. */
  transform: ((m: Message) => Message | undefined) | undefined;

  constructor(ids: NodeId[], options: ClusterOptions = {}) {
    const { seed = 1, extra = [], ...overrides } = options;
    this.#rng = new Rng(seed);
    this.#overrides = overrides;
    for (const id of ids) {
      const storage = new MemoryStorage();
      bootstrapStorage(storage, ids);
      this.#addNode(id, storage);
    }
    for (const id of extra) this.#addNode(id, new MemoryStorage());
    this.processAll();
  }

  /**
   * A cluster whose nodes start with the given logs (terms of entries 2, 3, ...; entry 1 is a
   * shared snapshot holding the membership) and the given current term: for the paper's figures.
   */
  static withLogs(logs: Record<NodeId, number[]>, term: number, options: ClusterOptions = {}): TestCluster {
    const ids = Object.keys(logs);
    const cluster = new TestCluster([], options);
    for (const id of ids) {
      const storage = new MemoryStorage();
      storage.applySnapshot({ meta: { index: 1, term: 1, confState: { voters: ids, learners: [] } }, data: new Uint8Array(0) });
      storage.append(logs[id]!.map((t, i) => ({ term: t, index: i + 2, type: EntryType.Normal, data: encoder.encode(`${t}@${i + 2}`) })));
      storage.setHardState({ term, vote: "", commit: 1 });
      cluster.#addNode(id, storage);
    }
    return cluster;
  }

  #addNode(id: NodeId, storage: MemoryStorage): void {
    const raft = new RaftNode({ id, storage, rng: this.#rng.fork(), ...this.#overrides, applied: storage.snapshot().meta.index });
    this.nodes.set(id, { raft, storage, applied: [], confState: storage.snapshot().meta.confState, readStates: [], up: true });
  }

  node(id: NodeId): TestNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  raft(id: NodeId): RaftNode {
    return this.node(id).raft;
  }

  // ---- driving ---------------------------------------------------------------------------

  /** Runs the driver loop for one node: persist, send, apply, advance. */
  process(id: NodeId): void {
    const node = this.node(id);
    while (node.up && node.raft.hasReady()) {
      const ready = node.raft.ready();
      if (ready.snapshot) node.storage.applySnapshot(ready.snapshot);
      node.storage.append(ready.entries);
      if (ready.hardState) node.storage.setHardState(ready.hardState);
      this.#send(ready.messages);
      this.#send(ready.messagesAfterPersist);
      if (ready.snapshot) {
        node.applied = decodeAppliedImage(ready.snapshot.data);
        node.confState = ready.snapshot.meta.confState;
      }
      for (const entry of ready.committedEntries) this.#apply(node, entry);
      node.readStates.push(...ready.readStates);
      node.raft.advance();
    }
  }

  processAll(): void {
    for (const id of this.nodes.keys()) this.process(id);
  }

  #apply(node: TestNode, entry: Entry): void {
    if (entry.type === EntryType.ConfChange) {
      node.confState = node.raft.applyConfChange(decodeConfChange(entry.data), entry.index);
    } else if (entry.data.length > 0) {
      node.applied.push(entry);
    }
  }

  #send(messages: readonly Message[]): void {
    for (const m of messages) {
      this.sent.push(m);
      this.queue.push(m);
    }
  }

  /** Delivers every queued message (and what they cause) until the network is quiet. */
  settle(maxRounds = 1000): void {
    this.processAll();
    for (let round = 0; round < maxRounds && this.queue.length > 0; round++) this.deliverOneRound();
  }

  /** Delivers the messages queued right now, once each; new ones wait for the next round. */
  deliverOneRound(): void {
    const batch = this.queue;
    this.queue = [];
    for (const m of batch) this.deliver(m);
    this.processAll();
  }

  deliver(m: Message): void {
    const target = this.nodes.get(m.to);
    if (!target || !target.up || !this.nodes.get(m.from)?.up) return;
    if (this.#blocked.has(`${m.from}>${m.to}`) || this.droppedTypes.has(m.type)) return;
    if (this.lossRate > 0 && this.#rng.chance(this.lossRate)) return;
    const delivered = this.transform ? this.transform(m) : m;
    if (!delivered) return;
    target.raft.step(delivered);
    this.process(m.to);
  }

  /** Ticks the given nodes (default: all up) n times, settling the network after each tick. */
  tick(n = 1, ids: NodeId[] = [...this.nodes.keys()]): void {
    for (let i = 0; i < n; i++) {
      for (const id of ids) if (this.node(id).up) this.raft(id).tick();
      this.settle();
    }
  }

  campaign(id: NodeId): void {
    this.raft(id).campaign();
    this.settle();
  }

  /** Ticks until some node is leader (of those up), or fails after `maxTicks`. */
  electLeader(maxTicks = 200): NodeId {
    for (let i = 0; i < maxTicks; i++) {
      const leader = this.leader();
      if (leader) return leader;
      this.tick();
    }
    throw new Error("no leader elected");
  }

  propose(id: NodeId, text: string): { index: number; term: number } {
    const result = this.raft(id).propose(encoder.encode(text));
    this.settle();
    return result;
  }

  // ---- faults ----------------------------------------------------------------------------

  cut(a: NodeId, b: NodeId): void {
    this.#blocked.add(`${a}>${b}`);
    this.#blocked.add(`${b}>${a}`);
  }

  cutOneWay(from: NodeId, to: NodeId): void {
    this.#blocked.add(`${from}>${to}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
  }

  heal(): void {
    this.#blocked.clear();
    this.droppedTypes.clear();
    this.lossRate = 0;
  }

  /** Stops a node: it loses everything that is not in its storage. */
  crash(id: NodeId): void {
    this.node(id).up = false;
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
  }

  /** Restarts a crashed node from its storage, re-applying its log from its snapshot. */
  restart(id: NodeId): void {
    const old = this.node(id);
    const snapshot = old.storage.snapshot();
    const raft = new RaftNode({ id, storage: old.storage, rng: this.#rng.fork(), ...this.#overrides, applied: snapshot.meta.index });
    this.nodes.set(id, {
      raft,
      storage: old.storage,
      applied: snapshot.meta.index > 0 ? decodeAppliedImage(snapshot.data) : [],
      confState: snapshot.meta.confState,
      readStates: [],
      up: true,
    });
    this.process(id);
  }

  /** Takes a snapshot of node `id`'s state machine at its applied index and compacts its log. */
  compact(id: NodeId, keepEntries = 0): void {
    const node = this.node(id);
    const applied = node.raft.status().applied;
    node.storage.createSnapshot(applied, node.confState, encodeAppliedImage(node.applied));
    node.storage.compact(applied - keepEntries);
  }

  // ---- observations ----------------------------------------------------------------------

  leader(): NodeId | undefined {
    const leaders = [...this.nodes.values()].filter((n) => n.up && n.raft.status().role === Role.Leader);
    const highest = leaders.sort((a, b) => b.raft.status().term - a.raft.status().term)[0];
    return highest?.raft.id;
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.up && n.raft.status().role === Role.Leader).map((n) => n.raft.id);
  }

  /** The data of the Normal entries node `id` applied, as text. */
  appliedTexts(id: NodeId): string[] {
    return this.node(id).applied.map((e) => decoder.decode(e.data));
  }

  /** The (index, term) pairs of node id's whole durable log after its snapshot. */
  logTerms(id: NodeId): string {
    const storage = this.node(id).storage;
    const terms: number[] = [];
    for (let i = storage.firstIndex(); i <= storage.lastIndex(); i++) terms.push(storage.term(i)!);
    return terms.join(",");
  }

  sentOfType(type: MessageType): Message[] {
    return this.sent.filter((m) => m.type === type);
  }
}

/** The test state machine's snapshot image: the applied Normal entries themselves. */
function encodeAppliedImage(entries: readonly Entry[]): Uint8Array {
  return encoder.encode(JSON.stringify(entries.map((e) => [e.index, e.term, decoder.decode(e.data)])));
}

function decodeAppliedImage(data: Uint8Array): Entry[] {
  if (data.length === 0) return [];
  if (data[0] !== 0x5b) return []; // not an image of ours (the figures' shared first snapshot)
  const rows = JSON.parse(decoder.decode(data)) as [number, number, string][];
  return rows.map(([index, term, text]) => ({ index, term, type: EntryType.Normal, data: encoder.encode(text) }));
}

export function text(value: string): Uint8Array {
  return encoder.encode(value);
}
