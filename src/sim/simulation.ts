/**
 * One seeded run of a simulated cluster: real replicas (src/node's Replica, the code production
 * runs) with real state machines (src/kv on an in-memory SQLite), over simulated disks, a
 * simulated network and simulated time. A safety phase under faults, then a healed phase in
 * which the cluster must converge and serve. Everything random comes from `seed` through
 * forked generators (one per concern), so a seed replays exactly; the trace digest proves it.
 *
 * Each tick: run every event due (timers, deliveries, syncs, and the promise chains they set
 * off), let the clients act, let the nemesis act, then check the invariants.
 */
import { checkKvHistory, type HistoryOp, type Verdict } from "../check/index.js";
import { Role, bootstrapStorage, type HardState, type Message, type Snapshot } from "../raft/index.js";
import { encodeMemberContext, type ApplyInput } from "../kv/index.js";
import type { RaftTuning } from "../node/index.js";
import {
  NODE_SNAPSHOT_CATCHUP_ENTRIES,
  SIM_CHECK_TIME_BUDGET_MS,
  SIM_CLIENT_OP_TIMEOUT_TICKS,
  SIM_CLIENT_THINK_MS_MAX,
  SIM_HEAL_TICKS_MAX,
  SIM_NODE_IDS_MAX,
  SIM_NODES_MAX,
  SIM_NODES_MIN,
  SIM_SAFETY_TICKS_DEFAULT,
  SIM_SYNC_TICKS_MAX,
  SIM_TICK_MS,
} from "../util/limits.js";
import { Rng } from "../util/rng.js";
import { ClientPool, LogicalClock, type ClientBug, type ClusterView, type OpCounts } from "./clients.js";
import { hashBytes, TraceDigest } from "./digest.js";
import type { DiskObserver } from "./disk.js";
import { drawFaultRates, formatFaults, type FaultKind, type FaultRates } from "./faults.js";
import { InvariantChecker, type LogView, type PendingLeaderCheck } from "./invariants.js";
import { Nemesis, type NemesisTarget } from "./nemesis.js";
import { SimNetwork, type NetworkCounters, type NetworkObserver } from "./network.js";
import { Scheduler } from "./scheduler.js";
import { SimNode, type MachineObserver, type NodeSettings } from "./sim-node.js";

/**
 * Deliberate bugs, for the tests that prove a broken system is caught: "stale-read" (clients
 * read a node's local state without ReadIndex) and "ack-before-persist" (disks that say a
 * write is durable before it is: acknowledgements then promise what a crash loses).
 */
export type SimBug = ClientBug | "ack-before-persist";

export interface SimOptions {
  readonly seed: number;
  /** Voters the cluster starts with (3..7); membership changes stay within 3..max(nodes, 4). */
  readonly nodes: number;
  readonly faults: ReadonlySet<FaultKind>;
  /** Ticks of the safety phase (faults on). */
  readonly ticks?: number;
  /** Ticks the healed cluster gets to converge and serve before liveness is declared failed. */
  readonly healTicksMax?: number;
  readonly checkTimeBudgetMs?: number;
  readonly bug?: SimBug;
  /**
   * The state machine survives crashes with what it applied (src/kv on a file does), rather
   * than being rebuilt from the disk's snapshot and log. Default: drawn from the seed.
   */
  readonly durableStateMachine?: boolean;
  /** Return the client history in the result (tests and tools; large). */
  readonly keepHistory?: boolean;
}

export interface SimResult {
  readonly seed: number;
  readonly nodes: number;
  readonly faults: string;
  /** Whether this run's state machines kept what they applied across crashes. */
  readonly durableStateMachine: boolean;
  /** Ticks simulated in both phases. */
  readonly ticks: number;
  readonly ops: OpCounts;
  readonly violations: readonly string[];
  readonly violationCount: number;
  readonly checker: { readonly verdict: Verdict; readonly opsChecked: number; readonly elapsedMs: number; readonly explanation?: string };
  /** Distinct (term, leader) pairs seen. */
  readonly elections: number;
  readonly snapshotsInstalled: number;
  readonly crashes: number;
  readonly partitions: number;
  /** Membership changes applied (the initial bootstrap not counted). */
  readonly membershipChanges: number;
  readonly transfers: number;
  /** Nodes that learned they were removed and stopped. */
  readonly removedNodes: number;
  /** Figure 8 plays the nemesis ran. */
  readonly figure8Plays: number;
  readonly messages: NetworkCounters;
  /** Ticks the healed phase needed to converge and serve; undefined if it never did. */
  readonly healedTicks: number | undefined;
  /** Digest of the whole event trace: equal for two runs of the same options. */
  readonly traceDigest: string;
  readonly history?: readonly HistoryOp[];
}

export function runSimulation(options: SimOptions): Promise<SimResult> {
  validateOptions(options);
  return new Simulation(options).run();
}

function validateOptions(options: SimOptions): void {
  if (!Number.isSafeInteger(options.seed) || options.seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${options.seed}`);
  if (!Number.isInteger(options.nodes) || options.nodes < SIM_NODES_MIN || options.nodes > SIM_NODES_MAX) {
    throw new RangeError(`nodes must be an integer in ${SIM_NODES_MIN}..${SIM_NODES_MAX}, got ${options.nodes}`);
  }
  for (const [name, value] of [
    ["ticks", options.ticks],
    ["healTicksMax", options.healTicksMax],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
}

type ProbePhase = "converge" | "write" | "read" | "confirm";

class Simulation implements NemesisTarget, ClusterView {
  readonly network: SimNetwork;
  readonly tickMs = SIM_TICK_MS;
  readonly #options: SimOptions;
  readonly #rates: FaultRates;
  readonly #settings: NodeSettings;
  readonly #scheduler = new Scheduler();
  readonly #raftRng: Rng;
  readonly #diskRng: Rng;
  /** Decides how much slower than true time each node's clock runs. */
  readonly #clockRng: Rng;
  readonly #nemesis: Nemesis;
  readonly #digest = new TraceDigest();
  readonly #invariants = new InvariantChecker();
  readonly #clients: ClientPool;
  readonly #nodes = new Map<string, SimNode>();
  /** Started but not yet members (added as learners by a change that has not applied yet). */
  readonly #spares = new Set<string>();
  /** Ids that were members once: a removed one must learn it and stop. */
  readonly #everMember = new Set<string>();
  readonly #confChangesSeen = new Set<number>();
  readonly #leaderChecks: PendingLeaderCheck[] = [];
  readonly #bootstrapEntries: number;
  #nextNodeNumber = 1;
  #tick = 0;
  #healing = false;
  readonly #counters = { crashes: 0, partitions: 0, membershipChanges: 0, membershipProposals: 0, transfers: 0, snapshotsInstalled: 0, removedNodes: 0 };

  constructor(options: SimOptions) {
    this.#options = options;
    const root = new Rng(options.seed);
    const configRng = root.fork();
    this.#raftRng = root.fork();
    this.#diskRng = root.fork();
    const networkRng = root.fork();
    const nemesisRng = root.fork();
    const clientRng = root.fork();
    this.#clockRng = root.fork();
    const { rates, settings, keys, clients } = drawRunConfig(options, configRng);
    this.#rates = rates;
    this.#settings = settings;
    this.network = new SimNetwork(this.#scheduler, networkRng, rates, this.#networkObserver(), SIM_TICK_MS);
    this.#nemesis = new Nemesis(nemesisRng, rates, {
      votersMin: SIM_NODES_MIN,
      votersMax: Math.max(options.nodes, SIM_NODES_MIN + 1),
      membersMax: Math.max(options.nodes, SIM_NODES_MIN + 1) + 1,
    });
    const clientBug = options.bug === "stale-read" ? options.bug : undefined;
    this.#clients = new ClientPool(
      clientRng,
      new LogicalClock(),
      this.#digest,
      { clients, keys, thinkMsMax: SIM_CLIENT_THINK_MS_MAX, ...(clientBug ? { bug: clientBug } : {}) },
      (message) => this.#invariants.violation(message),
    );

    this.#digest.event("config");
    for (const value of [options.seed, options.nodes, keys, clients, settings.raft.electionTimeoutTicks ?? 0, settings.raft.heartbeatIntervalTicks ?? 0, Number(settings.durableStateMachine)]) {
      this.#digest.number(value);
    }
    const ids = Array.from({ length: options.nodes }, () => `n${this.#nextNodeNumber++}`);
    this.#bootstrapEntries = ids.length;
    // The bootstrap records each member's address; in the simulation a node's address is its id.
    const contexts = new Map(ids.map((id) => [id, encodeMemberContext({ peer: id })]));
    for (const id of ids) {
      const node = this.#newNode(id);
      bootstrapStorage(node.disk.durable, ids, contexts);
      this.#everMember.add(id);
    }
    for (const id of ids) this.#nodes.get(id)!.start();
  }

  async run(): Promise<SimResult> {
    const ticks = this.#options.ticks ?? SIM_SAFETY_TICKS_DEFAULT;
    let healedTicks: number | undefined;
    try {
      for (let i = 0; i < ticks; i++) await this.#step();
      healedTicks = await this.#heal();
    } catch (error) {
      this.#invariants.violation(`exception: ${describeError(error)}`);
    } finally {
      for (const node of this.#nodes.values()) node.close();
    }
    const check = checkKvHistory(this.#clients.history, { timeBudgetMs: this.#options.checkTimeBudgetMs ?? SIM_CHECK_TIME_BUDGET_MS });
    if (check.verdict === "illegal") this.#invariants.violation(`linearizability: the history is not linearizable:\n${check.explanation ?? ""}`);
    this.#digest.event("verdict");
    this.#digest.string(check.verdict);
    return {
      seed: this.#options.seed,
      nodes: this.#options.nodes,
      faults: formatFaults(this.#options.faults),
      durableStateMachine: this.#settings.durableStateMachine,
      ticks: this.#tick,
      ops: this.#clients.counts(),
      violations: this.#invariants.violations,
      violationCount: this.#invariants.violationCount,
      checker: { verdict: check.verdict, opsChecked: check.opsChecked, elapsedMs: check.elapsedMs, ...(check.explanation ? { explanation: check.explanation } : {}) },
      elections: this.#invariants.elections,
      snapshotsInstalled: this.#counters.snapshotsInstalled,
      crashes: this.#counters.crashes,
      partitions: this.#counters.partitions,
      membershipChanges: this.#counters.membershipChanges,
      transfers: this.#counters.transfers,
      removedNodes: this.#counters.removedNodes,
      figure8Plays: this.#nemesis.figure8Plays,
      messages: { ...this.network.counters },
      healedTicks,
      traceDigest: this.#digest.hex(),
      ...(this.#options.keepHistory ? { history: this.#clients.history } : {}),
    };
  }

  // ---------------------------------------------------------------------------------------
  // The tick

  async #step(): Promise<void> {
    this.#tick++;
    this.#invariants.setTick(this.#tick);
    await this.#scheduler.runUntil(this.#tick * SIM_TICK_MS);
    const now = this.#scheduler.now;
    this.#clients.step(now, this);
    if (!this.#healing) this.#nemesis.step(now, this);
    this.#observeLeaders();
  }

  #observeLeaders(): void {
    for (const node of this.#nodes.values()) {
      if (!node.up) continue;
      const status = node.replica.raftStatus;
      if (status.role === Role.Leader) this.#noteLeader(node, status.term);
    }
    for (let i = this.#leaderChecks.length - 1; i >= 0; i--) {
      const check = this.#leaderChecks[i]!;
      const node = this.#nodes.get(check.node)!;
      if (node.up) {
        const status = node.replica.raftStatus;
        const stillLeading = status.role === Role.Leader && status.term === check.term;
        if (stillLeading && !node.settled) continue; // its log is not all on its disk yet
        if (stillLeading) this.#invariants.checkLeaderCompleteness(check, logView(node));
      }
      this.#leaderChecks.splice(i, 1);
    }
  }

  #noteLeader(node: SimNode, term: number): void {
    if (!this.#invariants.leaderSeen(node.id, term)) return;
    this.#leaderChecks.push({ node: node.id, term, electedTick: this.#tick });
    this.#digest.event("leader");
    this.#digest.string(node.id);
    this.#digest.number(term);
  }

  // ---------------------------------------------------------------------------------------
  // The healed phase: no faults, every node up, a reliable network. The cluster must converge
  // (removed nodes learning it and stopping), then commit a write and serve a linearizable
  // read, within the bound.

  async #heal(): Promise<number | undefined> {
    this.#healing = true;
    this.network.makeReliable();
    this.#clients.stopIssuing();
    for (const node of this.#nodes.values()) if (node.life === "down") this.restart(node);
    const healTicksMax = this.#options.healTicksMax ?? SIM_HEAL_TICKS_MAX;
    let phase: ProbePhase = "converge";
    let probe: number | undefined;
    let attempts = 0;
    for (let tick = 1; tick <= healTicksMax; tick++) {
      await this.#step();
      switch (phase) {
        case "converge":
          if (this.#converged()) phase = "write";
          break;
        case "write":
        case "read": {
          if (probe !== undefined && this.#clients.isPending(probe)) break;
          const outcome = probe === undefined ? undefined : this.#clients.outcome(probe).outcome;
          if (outcome === "ok") {
            phase = phase === "write" ? "read" : "confirm";
            probe = undefined;
            break;
          }
          const target = this.#randomMember();
          if (target === undefined) break;
          attempts++;
          probe = this.#clients.probe(target, "k0", phase === "write" ? { kind: "write", value: `probe.${attempts}` } : { kind: "read" });
          break;
        }
        case "confirm":
          if (this.#converged()) return tick;
          break;
      }
    }
    this.#invariants.violation(`liveness: the healed cluster did not ${LIVENESS_GOAL[phase]} within ${healTicksMax} ticks; ${this.#describeCluster()}`);
    return undefined;
  }

  /**
   * One leader; every member up, settled, applied to the leader's commit index, with the same
   * state; every node removed from the cluster stopped (it learned it).
   */
  #converged(): boolean {
    const leader = this.leader();
    if (leader === undefined) return false;
    const status = leader.replica.raftStatus;
    const members = new Set([...status.confState.voters, ...status.confState.learners]);
    const digest = stateDigest(leader);
    for (const id of members) {
      const node = this.#nodes.get(id);
      if (node === undefined || !node.settled) return false;
      if (node.kv.appliedIndex() !== status.commit || stateDigest(node) !== digest) return false;
    }
    for (const id of this.#everMember) {
      if (!members.has(id) && this.#nodes.get(id)?.life !== "removed") return false;
    }
    return true;
  }

  #randomMember(): SimNode | undefined {
    const up = this.addressable().filter((node) => node.up);
    return up.length === 0 ? undefined : up[this.#tick % up.length];
  }

  #describeCluster(): string {
    const parts = [...this.#nodes.values()].map((node) => {
      if (!node.up) return `${node.id} ${node.life}`;
      const status = node.replica.raftStatus;
      return `${node.id} ${status.role} term ${status.term} commit ${status.commit} applied ${node.kv.appliedIndex()} voters [${status.confState.voters.join(",")}] learners [${status.confState.learners.join(",")}]`;
    });
    return parts.join("; ");
  }

  // ---------------------------------------------------------------------------------------
  // NemesisTarget and ClusterView

  members(): readonly SimNode[] {
    return [...this.#nodes.values()].filter((node) => node.life !== "removed");
  }

  addressable(): readonly SimNode[] {
    return [...this.#nodes.values()].filter((node) => node.life !== "removed" && !this.#spares.has(node.id));
  }

  node(id: string): SimNode | undefined {
    const node = this.#nodes.get(id);
    return node?.life === "removed" ? undefined : node;
  }

  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    let bestTerm = -1;
    for (const node of this.#nodes.values()) {
      if (!node.up) continue;
      const status = node.replica.raftStatus;
      if (status.role === Role.Leader && status.term > bestTerm) {
        best = node;
        bestTerm = status.term;
      }
    }
    return best;
  }

  crash(node: SimNode, keepRecords: number): void {
    this.#clients.onNodeLost(node);
    node.crash(keepRecords);
    this.#counters.crashes++;
    this.#digest.event("crash");
    this.#digest.string(node.id);
    this.#digest.number(keepRecords);
  }

  restart(node: SimNode): void {
    // A node that never held a log (a spare) knows the members only from its join.
    node.start(this.#spares.has(node.id) || node.disk.durable.lastIndex() === 0 ? this.#memberAddresses() : {});
    this.#digest.event("restart");
    this.#digest.string(node.id);
  }

  joiningNode(): SimNode | undefined {
    for (const id of this.#spares) {
      const spare = this.#nodes.get(id)!;
      if (spare.up) return spare;
    }
    if (this.#nextNodeNumber > SIM_NODE_IDS_MAX) return undefined;
    const node = this.#newNode(`n${this.#nextNodeNumber++}`);
    this.#spares.add(node.id);
    node.start(this.#memberAddresses());
    return node;
  }

  noteTransfer(): void {
    this.#counters.transfers++;
    this.#digest.event("transfer");
  }

  notePartition(): void {
    this.#counters.partitions++;
    this.#digest.event("partition");
  }

  noteMembershipProposal(): void {
    this.#counters.membershipProposals++;
    this.#digest.event("membership-proposal");
  }

  /** What a joining node learns from the cluster: every member's address (here, its id). */
  #memberAddresses(): Record<string, string> {
    const addresses: Record<string, string> = {};
    for (const node of this.addressable()) addresses[node.id] = node.id;
    return addresses;
  }

  // ---------------------------------------------------------------------------------------
  // What nodes report as they run

  #newNode(id: string): SimNode {
    const clockRate = this.#options.faults.size > 0 ? 1 + this.#clockRng.float() * CLOCK_SLOWDOWN_MAX : 1;
    const node = new SimNode({
      id,
      scheduler: this.#scheduler,
      network: this.network,
      rng: this.#raftRng.fork(),
      settings: this.#settings,
      clockRate,
      syncMs: () => this.#syncMs(),
      lyingDisk: this.#options.bug === "ack-before-persist",
      disk: this.#diskObserver(id),
      machine: this.#machineObserver(),
    });
    this.#nodes.set(id, node);
    return node;
  }

  #syncMs(): number {
    if (this.#healing || !this.#diskRng.chance(this.#rates.slowSyncRate)) return 1 + this.#diskRng.int(0, 2);
    return this.#diskRng.int(1, SIM_SYNC_TICKS_MAX + 1) * SIM_TICK_MS;
  }

  #diskObserver(id: string): DiskObserver {
    const invariants = this.#invariants;
    return {
      persistingEntries: (durable, entries) => {
        invariants.persistingEntries(id, durableView(durable), entries);
        this.#digest.event("persist-entries");
        this.#digest.string(id);
        this.#digest.number(entries[0]!.index);
        this.#digest.number(entries.length);
      },
      persistingHardState: (durable, previous: HardState, next: HardState) => {
        invariants.persistingHardState(id, previous, next);
        invariants.persistedHardState(id, { ...durableView(durable), lastIndex: () => durable.lastIndex() }, next);
        this.#digest.event("persist-hard-state");
        this.#digest.number(next.term);
        this.#digest.number(next.commit);
      },
      persistingSnapshot: (snapshot: Snapshot) => {
        invariants.persistingSnapshot(id, snapshot);
        this.#digest.event("persist-snapshot");
        this.#digest.number(snapshot.meta.index);
      },
    };
  }

  #machineObserver(): MachineObserver {
    const invariants = this.#invariants;
    return {
      applied: (node, inputs, previousApplied) => {
        const state = stateDigest(node);
        let previous = previousApplied;
        inputs.forEach((input, i) => {
          invariants.applied(node.id, input.index, input.term, inputHash(input), previous, i === inputs.length - 1 ? state : undefined);
          previous = input.index;
          if (input.kind === "membership") this.#membershipApplied(input);
        });
      },
      restored: (node, index) => {
        this.#counters.snapshotsInstalled++;
        invariants.restored(node.id, index, stateDigest(node));
      },
      fatal: (node, error) => {
        invariants.violation(`${node.id} stopped on a fatal error: ${describeError(error)}`);
        this.#clients.onNodeLost(node);
      },
      removed: (node, detail) => {
        this.#counters.removedNodes++;
        this.#clients.onNodeLost(node);
        if (!this.#everMember.has(node.id)) invariants.violation(`${node.id} stopped as removed but was never a member: ${detail}`);
        this.#digest.event("removed");
        this.#digest.string(node.id);
      },
    };
  }

  #membershipApplied(input: Extract<ApplyInput, { kind: "membership" }>): void {
    if (input.index <= this.#bootstrapEntries || this.#confChangesSeen.has(input.index)) return;
    this.#confChangesSeen.add(input.index);
    this.#counters.membershipChanges++;
    const member = input.membership.voters.includes(input.node) || input.membership.learners.includes(input.node);
    if (member) {
      this.#spares.delete(input.node);
      this.#everMember.add(input.node);
    }
  }

  #networkObserver(): NetworkObserver {
    return {
      sending: (message: Message) => {
        const sender = this.#nodes.get(message.from);
        if (sender !== undefined) this.#invariants.durablePromise(message, sender.disk.durable.hardState(), durableView(sender.disk.durable));
        this.#digestMessage("send", message);
      },
      delivering: (message: Message) => this.#digestMessage("deliver", message),
    };
  }

  #digestMessage(kind: string, message: Message): void {
    const digest = this.#digest;
    digest.event(kind);
    digest.string(message.type);
    digest.string(message.from);
    digest.string(message.to);
    digest.number(message.term);
    digest.number(message.index);
    digest.number(message.logTerm);
    digest.number(message.commit);
    digest.number(message.entries.length);
    digest.number(message.reject ? 1 : 0);
  }
}

/** Most a node's clock runs slower than true time (under any fault set but none). */
const CLOCK_SLOWDOWN_MAX = 0.25;

const LIVENESS_GOAL: Record<ProbePhase, string> = {
  converge: "converge (one leader; every member up, settled and applied to its commit index, with the same state; every removed node stopped)",
  write: "commit a write",
  read: "serve a linearizable read",
  confirm: "converge again after the write",
};

interface RunConfig {
  readonly rates: FaultRates;
  readonly settings: NodeSettings;
  readonly keys: number;
  readonly clients: number;
}

/** Everything about a run that the seed decides up front (always drawn in the same order). */
function drawRunConfig(options: SimOptions, rng: Rng): RunConfig {
  const rates = drawFaultRates(options.faults, rng);
  const raft: RaftTuning = {
    electionTimeoutTicks: rng.int(10, 21),
    heartbeatIntervalTicks: rng.int(1, 3),
    preVote: rng.chance(0.75),
    checkQuorum: rng.chance(0.75),
  };
  const keys = rng.int(3, 6);
  const clients = rng.int(3, 7);
  const limits = drawTightLimits(rng);
  const tight = rng.chance(0.5);
  const durableStateMachine = options.durableStateMachine ?? rng.chance(0.5);
  // A Figure 8 play needs a leader's old entries to travel without its new ones: one entry per append.
  const oneEntryPerAppend = rates.figure8Rate > 0 ? { appendBytesMax: 1 } : {};
  return {
    rates,
    settings: {
      tickMs: SIM_TICK_MS,
      requestTimeoutMs: SIM_CLIENT_OP_TIMEOUT_TICKS * SIM_TICK_MS,
      raft: { ...raft, ...(tight ? limits : {}), ...oneEntryPerAppend },
      snapshotEntries: rates.snapshotThresholdEntries,
      snapshotCatchupEntries: Math.min(rates.snapshotKeepEntries, NODE_SNAPSHOT_CATCHUP_ENTRIES),
      durableStateMachine,
    },
    keys,
    clients,
  };
}

/** Core limits a few client commands (about 100 bytes each with framing) already reach. */
function drawTightLimits(rng: Rng): RaftTuning {
  const appendBytesMax = rng.int(100, 2_000);
  return {
    appendBytesMax,
    inflightAppendsMax: rng.int(1, 33),
    inflightBytesMax: appendBytesMax * rng.int(1, 17),
    applyBytesMax: rng.int(100, 4_000),
    uncommittedBytesMax: rng.int(300, 20_000),
    pendingReadsMax: rng.int(4, 65),
  };
}

function durableView(durable: { snapshot(): Snapshot; lastIndex(): number; term(index: number): number | undefined }): LogView {
  return {
    snapshotIndex: () => durable.snapshot().meta.index,
    lastIndex: () => durable.lastIndex(),
    term: (index) => durable.term(index),
  };
}

function logView(node: SimNode): LogView {
  return durableView(node.disk.durable);
}

/** A node's replicated state, comparable across nodes: revision, keys and membership. */
function stateDigest(node: SimNode): string {
  const kv = node.kv;
  const keys = kv.range("").kvs.map((item) => [item.key, Buffer.from(item.value).toString("base64"), item.createRevision, item.modRevision, item.version]);
  const conf = kv.confState();
  return JSON.stringify([kv.revision(), keys, [...conf.voters].sort(), [...conf.learners].sort(), kv.members().map((member) => [member.id, member.peer, member.client])]);
}

const utf8 = new TextEncoder();

/** Identifies what an applied input carries (a command's bytes, or a membership change's outcome). */
function inputHash(input: ApplyInput): number {
  if (input.kind === "command") return hashBytes(input.data);
  const context = input.context === undefined ? "" : Buffer.from(input.context).toString("base64");
  const ids = (list: readonly string[]): string => [...list].sort().join(",");
  return hashBytes(utf8.encode(`membership ${input.node} ${ids(input.membership.voters)} / ${ids(input.membership.learners)} ${context}`));
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const frame = error.stack?.split("\n").find((line) => line.includes("at ")) ?? "";
  return `${error.name}: ${error.message} ${frame.trim()}`;
}

