/**
 * One seeded run of a simulated cluster: a safety phase under faults, then a healed phase in
 * which the cluster must converge and serve. Everything random comes from `seed` through
 * forked generators (one per concern), so a seed replays exactly; the trace digest proves it.
 *
 * Each tick: finish saves that are done, deliver due messages, tick every node, let the
 * clients act, let the nemesis act, run every node's Ready loop, then check the invariants.
 */
import { checkKvHistory, type HistoryOp, type Verdict } from "../check/index.js";
import {
  ConfChangeType,
  MessageType,
  Role,
  bootstrapStorage,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Snapshot,
  type SoftState,
} from "../raft/index.js";
import {
  SIM_CHECK_TIME_BUDGET_MS,
  SIM_HEAL_TICKS_MAX,
  SIM_NODE_IDS_MAX,
  SIM_NODES_MAX,
  SIM_NODES_MIN,
  SIM_SAFETY_TICKS_DEFAULT,
  SIM_SYNC_TICKS_MAX,
} from "../util/limits.js";
import { Rng } from "../util/rng.js";
import { ClientPool, LogicalClock, type ClientBug, type ClusterView, type OpCounts } from "./clients.js";
import { TraceDigest } from "./digest.js";
import { drawFaultRates, formatFaults, type FaultKind, type FaultRates } from "./faults.js";
import { InvariantChecker, type LogView, type PendingLeaderCheck } from "./invariants.js";
import { Nemesis, type NemesisTarget } from "./nemesis.js";
import { SimNetwork, type NetworkCounters } from "./network.js";
import { SimNode, type AppliedDetails, type DriverModel, type NodeBug, type NodeObserver, type RaftTuning } from "./sim-node.js";

/** Deliberate bugs, for the tests that prove a broken system is caught. */
export type SimBug = ClientBug | NodeBug;

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
   * Model a driver that keeps stepping messages, ticks and requests while a save is in flight
   * (group commit), instead of one blocked on its disk. Default: drawn from the seed (half each).
   */
  readonly stepWhileSaving?: boolean;
  /**
   * The state machine survives crashes with its applied index (as src/kv's does), and a
   * restart passes that index to the core. Default: drawn from the seed (half each).
   */
  readonly durableStateMachine?: boolean;
  /** Return the client history in the result (tests and tools; large). */
  readonly keepHistory?: boolean;
}

export interface SimResult {
  readonly seed: number;
  readonly nodes: number;
  readonly faults: string;
  /** Whether this run's drivers kept stepping their cores while a save was in flight. */
  readonly stepWhileSaving: boolean;
  /** Whether this run's state machines were durable (restarts passed their applied index). */
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
  readonly snapshotsTaken: number;
  readonly crashes: number;
  readonly partitions: number;
  /** Membership changes applied (the initial bootstrap not counted). */
  readonly membershipChanges: number;
  readonly transfers: number;
  readonly messages: NetworkCounters;
  /** Ticks the healed phase needed to converge and serve; undefined if it never did. */
  readonly healedTicks: number | undefined;
  /** Digest of the whole event trace: equal for two runs of the same options. */
  readonly traceDigest: string;
  readonly history?: readonly HistoryOp[];
}

export function runSimulation(options: SimOptions): SimResult {
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
  readonly #options: SimOptions;
  readonly #rates: FaultRates;
  readonly #tuning: RaftTuning;
  readonly #raftRng: Rng;
  readonly #diskRng: Rng;
  /** Decides which ticks each node misses: nodes' clocks run at different, wobbly rates. */
  readonly #clockRng: Rng;
  readonly #tickSkipRate = new Map<NodeId, number>();
  readonly #driver: Required<DriverModel>;
  readonly #nemesis: Nemesis;
  readonly #digest = new TraceDigest();
  readonly #invariants = new InvariantChecker();
  readonly #clients: ClientPool;
  readonly #nodes = new Map<NodeId, SimNode>();
  /** Started but not yet members (added as learners by a change that has not applied yet). */
  readonly #spares = new Set<NodeId>();
  readonly #removals: NodeId[] = [];
  readonly #confChangesSeen = new Set<number>();
  readonly #leaderChecks: PendingLeaderCheck[] = [];
  readonly #bootstrapEntries: number;
  readonly #observer: NodeObserver;
  #nextNodeNumber = 1;
  #tick = 0;
  #healing = false;
  readonly #counters = { crashes: 0, partitions: 0, membershipChanges: 0, membershipProposals: 0, transfers: 0, snapshotsInstalled: 0, snapshotsTaken: 0 };

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
    const { rates, tuning, keys, clients, stepWhileSaving, durableStateMachine } = drawRunConfig(options, configRng);
    this.#rates = rates;
    this.#tuning = tuning;
    this.#driver = { stepWhileSaving, durableStateMachine };
    this.network = new SimNetwork(networkRng, this.#rates);
    this.#nemesis = new Nemesis(nemesisRng, this.#rates, {
      votersMin: SIM_NODES_MIN,
      votersMax: Math.max(options.nodes, SIM_NODES_MIN + 1),
      membersMax: Math.max(options.nodes, SIM_NODES_MIN + 1) + 1,
    });
    const clientBug = options.bug === "stale-read" ? options.bug : undefined;
    this.#clients = new ClientPool(clientRng, new LogicalClock(), this.#digest, { clients, keys, ...(clientBug ? { bug: clientBug } : {}) });
    this.#observer = this.#makeObserver();

    this.#digest.event("config");
    for (const value of [options.seed, options.nodes, keys, clients, this.#tuning.electionTimeoutTicks, this.#tuning.heartbeatIntervalTicks, Number(this.#driver.stepWhileSaving), Number(this.#driver.durableStateMachine)]) {
      this.#digest.number(value);
    }
    const ids = Array.from({ length: options.nodes }, () => `n${this.#nextNodeNumber++}`);
    this.#bootstrapEntries = ids.length;
    for (const id of ids) {
      const node = this.#newNode(id);
      bootstrapStorage(node.storage, ids);
      node.start();
    }
  }

  run(): SimResult {
    const ticks = this.#options.ticks ?? SIM_SAFETY_TICKS_DEFAULT;
    let healedTicks: number | undefined;
    try {
      for (let i = 0; i < ticks; i++) this.#step();
      healedTicks = this.#heal();
    } catch (error) {
      this.#invariants.violation(`exception: ${describeError(error)}`);
    }
    const check = checkKvHistory(this.#clients.history, { timeBudgetMs: this.#options.checkTimeBudgetMs ?? SIM_CHECK_TIME_BUDGET_MS });
    if (check.verdict === "illegal") this.#invariants.violation(`linearizability: the history is not linearizable:\n${check.explanation ?? ""}`);
    this.#digest.event("verdict");
    this.#digest.string(check.verdict);
    return {
      seed: this.#options.seed,
      nodes: this.#options.nodes,
      faults: formatFaults(this.#options.faults),
      stepWhileSaving: this.#driver.stepWhileSaving,
      durableStateMachine: this.#driver.durableStateMachine,
      ticks: this.#tick,
      ops: this.#clients.counts(),
      violations: this.#invariants.violations,
      violationCount: this.#invariants.violationCount,
      checker: { verdict: check.verdict, opsChecked: check.opsChecked, elapsedMs: check.elapsedMs, ...(check.explanation ? { explanation: check.explanation } : {}) },
      elections: this.#invariants.elections,
      snapshotsInstalled: this.#counters.snapshotsInstalled,
      snapshotsTaken: this.#counters.snapshotsTaken,
      crashes: this.#counters.crashes,
      partitions: this.#counters.partitions,
      membershipChanges: this.#counters.membershipChanges,
      transfers: this.#counters.transfers,
      messages: { ...this.network.counters },
      healedTicks,
      traceDigest: this.#digest.hex(),
      ...(this.#options.keepHistory ? { history: this.#clients.history } : {}),
    };
  }

  // ---------------------------------------------------------------------------------------
  // The tick

  #step(): void {
    this.#tick++;
    this.#invariants.setTick(this.#tick);
    for (const node of this.#nodes.values()) node.finishSave(this.#tick, this.#observer);
    this.#deliver();
    for (const node of this.#nodes.values()) if (node.accepting && !this.#missesTick(node)) node.raft.tick();
    this.#clients.step(this.#tick, this);
    if (!this.#healing) this.#nemesis.step(this.#tick, this);
    const syncTicks = (): number => this.#syncTicks();
    for (const node of this.#nodes.values()) node.handleReadies(this.#tick, this.#observer, syncTicks);
    for (const node of this.#nodes.values()) if (node.up) this.#clients.serveReads(node);
    this.#stopRemoved();
    this.#observeLeaders();
  }

  #deliver(): void {
    const deferred = [];
    for (const delivery of this.network.takeDue(this.#tick)) {
      const node = this.#nodes.get(delivery.to);
      if (node === undefined || !node.up) {
        if (delivery.kind === "message") this.network.reportDropped(delivery.message, this.#tick);
        continue;
      }
      if (!node.accepting) {
        deferred.push(delivery);
        continue;
      }
      switch (delivery.kind) {
        case "message": {
          const message = delivery.message;
          if (this.network.isBlocked(message.from, message.to)) {
            this.network.reportDropped(message, this.#tick);
            continue;
          }
          this.#digestMessage("deliver", message);
          node.raft.step(message);
          if (message.type === MessageType.Snapshot) this.network.reportSnapshotDelivered(message, this.#tick);
          break;
        }
        case "snapshot-status":
          node.raft.reportSnapshot(delivery.peer, delivery.ok);
          break;
        case "unreachable":
          node.raft.reportUnreachable(delivery.peer);
          break;
      }
    }
    this.network.defer(deferred, this.#tick);
  }

  #missesTick(node: SimNode): boolean {
    const rate = this.#tickSkipRate.get(node.id) ?? 0;
    return !this.#healing && rate > 0 && this.#clockRng.chance(rate);
  }

  #syncTicks(): number {
    if (this.#healing || this.#rates.slowSyncRate === 0) return 0;
    return this.#diskRng.chance(this.#rates.slowSyncRate) ? this.#diskRng.int(1, SIM_SYNC_TICKS_MAX + 1) : 0;
  }

  #stopRemoved(): void {
    while (this.#removals.length > 0) {
      const node = this.#nodes.get(this.#removals.shift()!);
      if (node === undefined || node.life === "removed") continue;
      this.#clients.onNodeLost(node.id);
      node.stop();
      this.#digest.event("removed");
      this.#digest.string(node.id);
    }
  }

  #observeLeaders(): void {
    for (const node of this.#nodes.values()) {
      if (!node.up) continue;
      const status = node.raft.status();
      if (status.role === Role.Leader) this.#noteLeader(node, status.term);
    }
    for (let i = this.#leaderChecks.length - 1; i >= 0; i--) {
      const check = this.#leaderChecks[i]!;
      const node = this.#nodes.get(check.node)!;
      if (node.up) {
        const status = node.raft.status();
        const stillLeading = status.role === Role.Leader && status.term === check.term;
        if (stillLeading && (node.saving || node.raft.hasReady())) continue; // its log is not all on disk yet
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
  // The healed phase: no faults, every member up, a reliable network. The cluster must
  // converge, then commit a write and serve a linearizable read, within the bound.

  #heal(): number | undefined {
    this.#healing = true;
    this.network.makeReliable();
    this.#clients.stopIssuing();
    for (const node of this.members()) if (node.life === "down") this.restart(node);
    const healTicksMax = this.#options.healTicksMax ?? SIM_HEAL_TICKS_MAX;
    let phase: ProbePhase = "converge";
    let probe: number | undefined;
    let attempts = 0;
    for (let tick = 1; tick <= healTicksMax; tick++) {
      this.#step();
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
          const target = phase === "write" ? this.leader() : this.#randomMember();
          if (target === undefined) break;
          attempts++;
          probe = this.#clients.probe(this.#tick, target, "k0", phase === "write" ? { kind: "write", value: `probe.${attempts}` } : { kind: "read" });
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

  /** One leader; every member up, applied to the leader's commit index, with the same state. */
  #converged(): boolean {
    const leader = this.leader();
    if (leader === undefined) return false;
    const status = leader.raft.status();
    const digest = leader.machine.digest();
    for (const id of [...status.confState.voters, ...status.confState.learners]) {
      const node = this.#nodes.get(id);
      if (node === undefined || !node.idle) return false;
      if (node.applied !== status.commit || node.machine.digest() !== digest) return false;
    }
    return true;
  }

  #randomMember(): SimNode | undefined {
    const idle = this.addressable().filter((node) => node.idle);
    return idle.length === 0 ? undefined : idle[this.#tick % idle.length];
  }

  #describeCluster(): string {
    const parts = [...this.#nodes.values()].map((node) => {
      if (!node.up) return `${node.id} ${node.life}`;
      const status = node.raft.status();
      return `${node.id} ${status.role} term ${status.term} commit ${status.commit} applied ${node.applied} voters [${status.confState.voters.join(",")}] learners [${status.confState.learners.join(",")}]`;
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

  node(id: NodeId): SimNode | undefined {
    const node = this.#nodes.get(id);
    return node?.life === "removed" ? undefined : node;
  }

  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    let bestTerm = -1;
    for (const node of this.#nodes.values()) {
      if (!node.accepting) continue;
      const status = node.raft.status();
      if (status.role === Role.Leader && status.term > bestTerm) {
        best = node;
        bestTerm = status.term;
      }
    }
    return best;
  }

  crash(node: SimNode, tornRecords: number): void {
    this.#clients.onNodeLost(node.id);
    node.crash(tornRecords, this.#observer);
    this.#counters.crashes++;
    this.#digest.event("crash");
    this.#digest.string(node.id);
    this.#digest.number(tornRecords);
  }

  restart(node: SimNode): void {
    node.start();
    this.#digest.event("restart");
    this.#digest.string(node.id);
  }

  joiningNode(): SimNode | undefined {
    for (const id of this.#spares) return this.#nodes.get(id);
    if (this.#nextNodeNumber > SIM_NODE_IDS_MAX) return undefined;
    const node = this.#newNode(`n${this.#nextNodeNumber++}`);
    node.start();
    this.#spares.add(node.id);
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

  // ---------------------------------------------------------------------------------------
  // What nodes report as their drivers run

  #newNode(id: NodeId): SimNode {
    const bug = this.#options.bug === "stale-read" ? undefined : this.#options.bug;
    const node = new SimNode(id, this.#tuning, this.#raftRng.fork(), bug, this.#driver);
    this.#nodes.set(id, node);
    const skipRate = this.#clockRng.float() * CLOCK_SKIP_RATE_MAX;
    if (this.#options.faults.size > 0) this.#tickSkipRate.set(id, skipRate);
    return node;
  }

  #makeObserver(): NodeObserver {
    const invariants = this.#invariants;
    return {
      send: (message: Message) => {
        const sender = this.#nodes.get(message.from);
        if (sender !== undefined) invariants.durablePromise(message, sender.storage.hardState(), logView(sender));
        this.#digestMessage("send", message);
        this.network.send(message, this.#tick);
      },
      softState: (node: SimNode, softState: SoftState) => {
        if (softState.role === Role.Leader) this.#noteLeader(node, node.raft.status().term);
      },
      persistingEntries: (node: SimNode, entries: readonly Entry[]) => {
        invariants.persistingEntries(node.id, logView(node), entries);
        this.#digest.event("persist-entries");
        this.#digest.string(node.id);
        this.#digest.number(entries[0]!.index);
        this.#digest.number(entries.length);
      },
      persistingHardState: (node: SimNode, previous: HardState, next: HardState) => {
        invariants.persistingHardState(node.id, previous, next);
        invariants.persistedHardState(node.id, logView(node), next);
        this.#digest.event("persist-hard-state");
        this.#digest.number(next.term);
        this.#digest.number(next.commit);
      },
      persistingSnapshot: (node: SimNode, snapshot: Snapshot) => {
        invariants.persistingSnapshot(node.id, snapshot);
        this.#digest.event("persist-snapshot");
        this.#digest.number(snapshot.meta.index);
      },
      restoredSnapshot: (node: SimNode, snapshot: Snapshot) => {
        this.#counters.snapshotsInstalled++;
        invariants.restored(node.id, snapshot.meta.index, node.machine.digest());
        this.#clients.onSnapshotRestored(node, snapshot.meta.index);
      },
      applied: (node: SimNode, entry: Entry, details: AppliedDetails) => {
        invariants.applied(node.id, entry, details.previousApplied, node.machine.digest());
        this.#clients.onApplied(node, entry, details.command, details.output, (message) => invariants.violation(message));
        if (details.change !== undefined) this.#membershipApplied(entry, details.change.type, details.change.node);
      },
      readStates: (node: SimNode, readStates: readonly ReadState[]) => this.#clients.onReadStates(node, readStates),
      snapshotTaken: () => {
        this.#counters.snapshotsTaken++;
      },
    };
  }

  #membershipApplied(entry: Entry, type: ConfChangeType, id: NodeId): void {
    if (entry.index <= this.#bootstrapEntries || this.#confChangesSeen.has(entry.index)) return;
    this.#confChangesSeen.add(entry.index);
    this.#counters.membershipChanges++;
    if (type === ConfChangeType.Remove) this.#removals.push(id);
    else this.#spares.delete(id);
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

/** Largest fraction of ticks a node's clock may miss (under any fault set but none). */
const CLOCK_SKIP_RATE_MAX = 0.25;

const LIVENESS_GOAL: Record<ProbePhase, string> = {
  converge: "converge (one leader, every member up and applied to its commit index, same state)",
  write: "commit a write",
  read: "serve a linearizable read",
  confirm: "converge again after the write",
};

interface RunConfig {
  readonly rates: FaultRates;
  readonly tuning: RaftTuning;
  readonly keys: number;
  readonly clients: number;
  readonly stepWhileSaving: boolean;
  readonly durableStateMachine: boolean;
}

/** Everything about a run that the seed decides up front (always drawn in the same order). */
function drawRunConfig(options: SimOptions, rng: Rng): RunConfig {
  const rates = drawFaultRates(options.faults, rng);
  const tuning: RaftTuning = {
    electionTimeoutTicks: rng.int(10, 21),
    heartbeatIntervalTicks: rng.int(1, 3),
    preVote: rng.chance(0.75),
    checkQuorum: rng.chance(0.75),
    snapshotThresholdEntries: rates.snapshotThresholdEntries,
    snapshotKeepEntries: rates.snapshotKeepEntries,
  };
  const keys = rng.int(3, 6);
  const clients = rng.int(3, 7);
  const stepWhileSaving = rng.chance(0.5);
  const limits = drawTightLimits(rng);
  const tight = rng.chance(0.5);
  const durableStateMachine = rng.chance(0.5);
  return {
    rates,
    tuning: tight ? { ...tuning, limits } : tuning,
    keys,
    clients,
    stepWhileSaving: options.stepWhileSaving ?? stepWhileSaving,
    durableStateMachine: options.durableStateMachine ?? durableStateMachine,
  };
}

/** Core limits a few client commands (about 80 bytes each with framing) already reach. */
function drawTightLimits(rng: Rng): NonNullable<RaftTuning["limits"]> {
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

function logView(node: SimNode): LogView {
  const storage = node.storage;
  return {
    snapshotIndex: () => storage.snapshot().meta.index,
    lastIndex: () => storage.lastIndex(),
    term: (index) => storage.term(index),
  };
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const frame = error.stack?.split("\n").find((line) => line.includes("at ")) ?? "";
  return `${error.name}: ${error.message} ${frame.trim()}`;
}
