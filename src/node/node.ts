/**
 * FlotillaNode: one running peer, a small facade over its parts. boot.ts opens the data
 * directory, the write-ahead log, the state machine and the peer port, and joins or founds a
 * cluster; replica.ts runs the driver and serves; this file ties them to real time, metrics
 * and the embedder's handlers, and closes them in order.
 */
import { randomBytes, randomInt } from "node:crypto";
import type { Logger } from "pino";
import type { CommandBody, CommandResult, RangeResult } from "../kv/index.js";
import {
  NODE_REQUEST_TIMEOUT_MS_DEFAULT,
  NODE_SNAPSHOT_CATCHUP_ENTRIES,
  NODE_SNAPSHOT_ENTRIES_DEFAULT,
  NODE_TICK_MS_DEFAULT,
} from "../util/limits.js";
import { Rng } from "../util/rng.js";
import type { AddMemberRequest, GetResult, MemberStatus, NodeApi, NodeStatus, RangeRequest, ReadOptions, WriteOptions } from "./api.js";
import { boot, type Booted } from "./boot.js";
import { NodeMetrics } from "./metrics.js";
import { realClock, type PeerEvents } from "./ports.js";
import { Replica } from "./replica.js";

export interface NodeOptions {
  readonly id: string;
  readonly dataDir: string;
  /** Peer listen address, host:port (port 0 picks one: tests). */
  readonly peerListen: string;
  /** The peer address other nodes are told (default: the bound peer address). */
  readonly advertisePeer?: string;
  /** The client URL other nodes and clients are told (http://host:port). */
  readonly clientUrl: string;
  /** Form a new cluster of exactly these voters: id → peer host:port (must include this node). */
  readonly bootstrap?: Readonly<Record<string, string>>;
  /** Join an existing cluster through any of these client addresses (host:port or URL). */
  readonly join?: readonly string[];
  /** The cluster's shared join token: sent when this node joins or records its addresses. */
  readonly joinToken?: string;
  readonly logger: Logger;
  readonly tickMs?: number;
  readonly electionTimeoutTicks?: number;
  readonly heartbeatIntervalTicks?: number;
  readonly requestTimeoutMs?: number;
  /** Applied entries between snapshots (small values in tests make InstallSnapshot happen). */
  readonly snapshotEntries?: number;
  /** Entries kept behind a snapshot for followers slightly behind. */
  readonly snapshotCatchupEntries?: number;
  /**
   * SQLite's checkpoints on a worker thread (default true): no pause of the event loop for
   * them, for ~9–12 MiB of memory (the thread's isolate). false: the node's own connection
   * checkpoints every KV_WAL_AUTOCHECKPOINT_PAGES pages, inside a commit.
   */
  readonly backgroundCheckpoints?: boolean;
  /**
   * A failed fsync or a broken invariant stopped the node (it closes itself; continuing could
   * acknowledge what is not durable). The library never exits the process: `flotilla start`
   * logs and exits 70. Default: nothing more than the closing.
   */
  readonly onFatal?: (error: Error) => void;
  /**
   * This node learned it was removed from the cluster (a peer refused it as removed, or its
   * removal applied here); it closes itself. `flotilla start` then exits.
   */
  readonly onRemoved?: (detail: string) => void;
}

export interface RunningNode extends NodeApi {
  readonly clientUrl: string;
  readonly peerAddress: string;
  readonly clusterId: string;
}

export async function openNode(options: NodeOptions): Promise<RunningNode> {
  return FlotillaNode.open(options);
}

export class FlotillaNode implements RunningNode {
  readonly id: string;
  readonly clientUrl: string;
  readonly peerAddress: string;
  readonly clusterId: string;
  readonly #options: NodeOptions;
  readonly #log: Logger;
  readonly #booted: Booted;
  readonly #replica: Replica;
  readonly #metrics: NodeMetrics;
  #closing: Promise<void> | undefined;

  static async open(options: NodeOptions): Promise<FlotillaNode> {
    const settings = checkSettings(options);
    const log = options.logger.child({ node: options.id });
    // The transport reports to the replica, which exists only once the node has booted.
    let replica: Replica | undefined;
    let metrics: NodeMetrics | undefined;
    const events: PeerEvents = {
      message: (message) => replica?.message(message),
      app: (peer, payload) => replica?.app(peer, payload),
      unreachable: (peer) => replica?.unreachable(peer),
      snapshotSent: (peer, ok) => replica?.snapshotSent(peer, ok),
      refusedAsRemoved: (peer) => replica?.refusedAsRemoved(peer),
    };
    const booted = await boot({
      id: options.id,
      dataDir: options.dataDir,
      peerListen: options.peerListen,
      ...(options.advertisePeer === undefined ? {} : { advertisePeer: options.advertisePeer }),
      clientUrl: options.clientUrl,
      ...(options.bootstrap === undefined ? {} : { bootstrap: options.bootstrap }),
      ...(options.join === undefined ? {} : { join: options.join }),
      ...(options.joinToken === undefined ? {} : { joinToken: options.joinToken }),
      ...(options.backgroundCheckpoints === undefined ? {} : { backgroundCheckpoints: options.backgroundCheckpoints }),
      logger: log,
      events,
      onCheckpoint: (seconds) => metrics?.kvCheckpointSeconds.observe(seconds),
    });
    const node = new FlotillaNode(options, log, booted, settings, (built) => {
      replica = built.replica;
      metrics = built.metrics;
    });
    node.#replica.start();
    log.info({ clusterId: booted.clusterId, peer: booted.peerAddress, client: options.clientUrl, applied: booted.kv.appliedIndex() }, "node started");
    return node;
  }

  private constructor(options: NodeOptions, log: Logger, booted: Booted, settings: Settings, expose: (built: { replica: Replica; metrics: NodeMetrics }) => void) {
    this.id = options.id;
    this.clientUrl = options.clientUrl;
    this.peerAddress = booted.peerAddress;
    this.clusterId = booted.clusterId;
    this.#options = options;
    this.#log = log;
    this.#booted = booted;
    const metrics = new NodeMetrics(options.id, () => this.#metricsSnapshot());
    this.#metrics = metrics;
    this.#replica = new Replica({
      id: options.id,
      bootId: randomBytes(6).toString("base64url"),
      storage: booted.storage,
      log: booted.wal,
      machine: booted.kv,
      network: booted.transport,
      clock: realClock,
      rng: new Rng(randomInt(2 ** 31)),
      logger: log,
      peerAddress: booted.peerAddress,
      clientUrl: options.clientUrl,
      tickMs: settings.tickMs,
      requestTimeoutMs: settings.requestTimeoutMs,
      raft: {
        ...(options.electionTimeoutTicks === undefined ? {} : { electionTimeoutTicks: options.electionTimeoutTicks }),
        ...(options.heartbeatIntervalTicks === undefined ? {} : { heartbeatIntervalTicks: options.heartbeatIntervalTicks }),
      },
      snapshotEntries: settings.snapshotEntries,
      snapshotCatchupEntries: settings.snapshotCatchupEntries,
      extraPeers: booted.extraPeers,
      observer: {
        logAppended: (seconds) => metrics.walAppendSeconds.observe(seconds),
        batchApplied: (seconds, entries) => {
          metrics.applySeconds.observe(seconds);
          metrics.appliedEntries.inc(entries);
        },
        snapshotTaken: () => metrics.snapshotsTaken.inc(),
        snapshotInstalled: () => metrics.snapshotsInstalled.inc(),
        leaderChanged: () => metrics.leaderChanges.inc(),
        proposed: () => metrics.proposals.inc(),
        forwardedWrite: () => metrics.forwardedWrites.inc(),
        linearizableRead: () => metrics.linearizableReads.inc(),
      },
      onFatal: (error) => void this.close().finally(() => this.#options.onFatal?.(error)),
      onRemoved: (detail) => void this.close().finally(() => this.#options.onRemoved?.(detail)),
    });
    expose({ replica: this.#replica, metrics });
  }

  write(command: CommandBody, options?: WriteOptions): Promise<CommandResult> {
    return this.#replica.write(command, options);
  }

  get(key: string, options?: ReadOptions): Promise<GetResult> {
    return this.#replica.get(key, options);
  }

  range(request: RangeRequest, options?: ReadOptions): Promise<RangeResult> {
    return this.#replica.range(request, options);
  }

  status(): NodeStatus {
    return { ...this.#replica.status(), clusterId: this.clusterId };
  }

  members(): readonly MemberStatus[] {
    return this.#replica.members();
  }

  leaderMembers(): Promise<readonly MemberStatus[]> {
    return this.#replica.leaderMembers();
  }

  addMember(request: AddMemberRequest): Promise<readonly MemberStatus[]> {
    return this.#replica.addMember(request);
  }

  removeMember(id: string): Promise<readonly MemberStatus[]> {
    return this.#replica.removeMember(id);
  }

  promoteMember(id: string): Promise<readonly MemberStatus[]> {
    return this.#replica.promoteMember(id);
  }

  transferLeadership(to?: string): Promise<{ leader: string }> {
    return this.#replica.transferLeadership(to);
  }

  handOff(): Promise<void> {
    return this.#replica.handOff();
  }

  isReady(): boolean {
    return this.#closing === undefined && this.#replica.isReady();
  }

  async metrics(): Promise<string> {
    return this.#metrics.render();
  }

  #metricsSnapshot() {
    const raft = this.#replica.raftStatus;
    return {
      term: raft.term,
      commit: raft.commit,
      applied: this.#booted.kv.appliedIndex(),
      lastIndex: raft.lastIndex,
      isLeader: raft.leader === this.id,
      pendingWrites: this.#replica.pendingWrites,
      pendingReads: this.#replica.pendingReads,
      wal: this.#booted.wal.stats(),
      members: raft.confState.voters.length + raft.confState.learners.length,
    };
  }

  /** Hands leadership over (when leading), stops serving, then closes the network and the stores. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#replica.handOff();
      await this.#replica.stop();
      const { transport, wal, kv, lock } = this.#booted;
      await transport.close();
      await wal.close();
      kv.close();
      lock.release();
      this.#log.info({}, "node stopped");
    })();
    return this.#closing;
  }
}

interface Settings {
  readonly tickMs: number;
  readonly requestTimeoutMs: number;
  readonly snapshotEntries: number;
  readonly snapshotCatchupEntries: number;
}

function checkSettings(options: NodeOptions): Settings {
  const settings = {
    tickMs: options.tickMs ?? NODE_TICK_MS_DEFAULT,
    requestTimeoutMs: options.requestTimeoutMs ?? NODE_REQUEST_TIMEOUT_MS_DEFAULT,
    snapshotEntries: options.snapshotEntries ?? NODE_SNAPSHOT_ENTRIES_DEFAULT,
    snapshotCatchupEntries: options.snapshotCatchupEntries ?? NODE_SNAPSHOT_CATCHUP_ENTRIES,
  };
  for (const name of ["tickMs", "requestTimeoutMs", "snapshotEntries"] as const) {
    const value = settings[name];
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`node option ${name} must be a positive integer, got ${value}`);
  }
  if (!Number.isSafeInteger(settings.snapshotCatchupEntries) || settings.snapshotCatchupEntries < 0) {
    throw new RangeError(`node option snapshotCatchupEntries must be a non-negative integer`);
  }
  return settings;
}
