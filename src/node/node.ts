/**
 * FlotillaNode drives one Raft core with real time (a tick timer), a real disk (the WAL and
 * the SQLite state machine) and a real network (the peer transport). The loop is etcd's:
 * save → send → apply → advance, with the leader's appends sent before its own save.
 */
import { randomBytes, randomInt, randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import {
  ProposalDroppedError,
  RaftNode,
  Role,
  ConfChangeType,
  EntryType,
  bootstrapStorage,
  decodeConfChange,
  majority,
  type ConfChange,
  type Entry,
  type MemoryStorage,
  type Message,
  type Ready,
  type Snapshot,
  type SoftState,
} from "../raft/index.js";
import { openStorage, type Wal } from "../storage/index.js";
import { Transport } from "../transport/index.js";
import { KvStore, MalformedCommandError, decodeCommandToPropose, decodeMemberContext, encodeCommand, encodeMemberContext, type ApplyResult, type Member, type Command, type CommandBody, type CommandResult, type RangeResult } from "../kv/index.js";
import { Rng } from "../util/rng.js";
import { assert } from "../util/assert.js";
import { afterPromiseChains } from "../util/microtasks.js";
import {
  ELECTION_TIMEOUT_TICKS_DEFAULT,
  KV_DEFERRED_COMMIT_ENTRIES_MAX,
  NODE_CHORES_INTERVAL_MS,
  NODE_PENDING_READS_MAX,
  NODE_PEER_HTTP_RESPONSE_BYTES_MAX,
  NODE_PENDING_WRITES_MAX,
  NODE_PROMOTE_LAG_ENTRIES_MAX,
  NODE_PEER_LOOKUP_INTERVAL_MS,
  NODE_PROPOSE_ATTEMPTS_MAX,
  NODE_REQUEST_TIMEOUT_MS_DEFAULT,
  NODE_SNAPSHOT_CATCHUP_ENTRIES,
  NODE_SNAPSHOT_ENTRIES_DEFAULT,
  NODE_TICK_MS_DEFAULT,
} from "../util/limits.js";
import {
  NodeError,
  type AddMemberRequest,
  type GetResult,
  type MemberStatus,
  type NodeApi,
  type NodeRole,
  type NodeStatus,
  type RangeRequest,
  type ReadOptions,
  type WriteOptions,
} from "./api.js";
import { bootstrapClusterId, randomClusterId, readIdentity, writeIdentity } from "./identity.js";
import { joinCluster, joinHeaders, memberPeers, type JoinRequest } from "./join.js";
import { decodeForwardFrame, encodeForwardFrame, ForwardProtocolError, type ForwardFrame } from "./forwarding.js";
import { httpCall } from "./http-call.js";
import { DataDirLock } from "./lock.js";
import { NodeMetrics } from "./metrics.js";
import { PendingReads, PendingWrites } from "./waiters.js";

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
}

export interface RunningNode extends NodeApi {
  readonly clientUrl: string;
  readonly peerAddress: string;
  readonly clusterId: string;
}

export async function openNode(options: NodeOptions): Promise<RunningNode> {
  const node = new FlotillaNode(options);
  await node.start();
  return node;
}

/** A membership change refused because another one is still in flight: worth waiting for. */
class ChangeInFlightError extends NodeError {
  constructor(message: string) {
    super("conflict", message);
  }
}

export class FlotillaNode implements RunningNode {
  readonly id: string;
  readonly clientUrl: string;
  readonly #options: NodeOptions;
  readonly #log: Logger;
  readonly #tickMs: number;
  readonly #requestTimeoutMs: number;
  readonly #snapshotEntries: number;
  readonly #snapshotCatchupEntries: number;
  readonly #writes = new PendingWrites(NODE_PENDING_WRITES_MAX);
  readonly #reads = new PendingReads(NODE_PENDING_READS_MAX, randomUUID());
  readonly #leaderWaiters = new Set<() => void>();
  #metrics!: NodeMetrics;

  #clusterId = "";
  #wal!: Wal;
  #memory!: MemoryStorage;
  #kv!: KvStore;
  #raft!: RaftNode;
  #transport!: Transport;
  #peerAddress = "";

  #soft: SoftState = { leader: "", role: Role.Follower };
  #tickTimer: NodeJS.Timeout | undefined;
  #choresTimer: NodeJS.Timeout | undefined;
  #loopScheduled = false;
  #loopRunning: Promise<void> | undefined;
  #closed = false;
  #fatal: Error | undefined;
  /** Request ids are unique across this node's lives: a forwarded write is settled by its id. */
  readonly #bootId = randomBytes(6).toString("base64url");
  #requestSeq = 0;
  /** The last snapshot this node installed from the leader: entries up to it were not applied one by one. */
  #installedSnapshotIndex = 0;
  /** Peers whose address came from another member's list, not (yet) from this node's state machine. */
  readonly #learnedPeers = new Set<string>();
  #peerLookupAt = 0;
  /** The snapshot being saved in the background (#maybeSnapshot), if any. */
  #snapshotSaving: Promise<void> | undefined;
  #lock: DataDirLock | undefined;
  #choresRunning = false;
  #membersCache: readonly Member[] | undefined;

  constructor(options: NodeOptions) {
    this.id = options.id;
    this.clientUrl = options.clientUrl;
    this.#options = options;
    this.#log = options.logger.child({ node: options.id });
    this.#tickMs = options.tickMs ?? NODE_TICK_MS_DEFAULT;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? NODE_REQUEST_TIMEOUT_MS_DEFAULT;
    this.#snapshotEntries = options.snapshotEntries ?? NODE_SNAPSHOT_ENTRIES_DEFAULT;
    this.#snapshotCatchupEntries = options.snapshotCatchupEntries ?? NODE_SNAPSHOT_CATCHUP_ENTRIES;
    for (const [name, value] of [
      ["tickMs", this.#tickMs],
      ["requestTimeoutMs", this.#requestTimeoutMs],
      ["snapshotEntries", this.#snapshotEntries],
    ] as const) {
      if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`node option ${name} must be a positive integer, got ${value}`);
    }
    if (!Number.isSafeInteger(this.#snapshotCatchupEntries) || this.#snapshotCatchupEntries < 0) {
      throw new RangeError(`node option snapshotCatchupEntries must be a non-negative integer`);
    }
  }

  get peerAddress(): string {
    return this.#peerAddress;
  }

  get clusterId(): string {
    return this.#clusterId;
  }

  // ---------------------------------------------------------------------------------------
  // Start and stop

  async start(): Promise<void> {
    const { dataDir } = this.#options;
    fs.mkdirSync(dataDir, { recursive: true });
    this.#lock = DataDirLock.acquire(dataDir);
    const opened = await openStorage(path.join(dataDir, "wal"));
    this.#wal = opened.wal;
    this.#memory = opened.storage;
    const tail = opened.report.tornTail;
    if (tail?.kind === "zero-fill") {
      // What the WAL writes ahead of its records, left by a stop without a clean close: no record lost.
      this.#log.info({ file: tail.file, bytes: tail.bytesTruncated }, "recovered the write-ahead log: cut the zeros after its last record");
    } else if (tail !== undefined) {
      this.#log.warn({ report: opened.report }, "recovered the write-ahead log: cut a torn record at its end");
    }
    this.#kv = KvStore.open({
      path: path.join(dataDir, "state.db"),
      deferredCommitEntriesMax: KV_DEFERRED_COMMIT_ENTRIES_MAX,
      ...(this.#options.backgroundCheckpoints === false
        ? {}
        : {
            backgroundCheckpoints: {
              onCheckpoint: (report) => this.#metrics.kvCheckpointSeconds.observe(report.seconds),
              onFailure: (error) => this.#log.error({ err: error.message }, "SQLite checkpoints fall back to the event loop"),
            },
          }),
    });

    const fresh = this.#memory.lastIndex() === 0 && this.#memory.hardState().term === 0;
    const identity = readIdentity(dataDir);
    let peers: Record<string, string> = {};
    if (identity) {
      if (identity.nodeId !== this.id) {
        throw new NodeError("bad_request", `the data in ${dataDir} belongs to node ${identity.nodeId}, not ${this.id}`);
      }
      this.#clusterId = identity.clusterId;
      if (fresh) {
        this.#log.warn({}, "identity found but the log is empty: waiting for the leader to send it");
        // It knows no peer to answer the leader through (membership comes from the log): ask the cluster.
        if (this.#options.join?.length) peers = await memberPeers(this.#joinRequest());
      }
    } else if (!fresh) {
      throw new NodeError("bad_request", `${dataDir} holds a log but no identity.json: the data directory is damaged`);
    } else {
      peers = await this.#initialize();
    }
    this.#recoverStateMachine();

    this.#raft = new RaftNode({
      id: this.id,
      storage: this.#memory,
      rng: new Rng(randomInt(2 ** 31)),
      applied: this.#kv.appliedIndex(),
      ...(this.#options.electionTimeoutTicks ? { electionTimeoutTicks: this.#options.electionTimeoutTicks } : {}),
      ...(this.#options.heartbeatIntervalTicks ? { heartbeatIntervalTicks: this.#options.heartbeatIntervalTicks } : {}),
      logger: this.#log,
    });
    this.#metrics = new NodeMetrics(this.id, () => this.#metricsSnapshot());

    for (const member of this.#members()) if (member.id !== this.id && member.peer) peers[member.id] = member.peer;
    Object.assign(peers, this.#peersInUnappliedLog());
    this.#transport = new Transport({
      nodeId: this.id,
      clusterId: this.#clusterId,
      listenAddress: this.#options.peerListen,
      peers,
      logger: this.#log,
      rng: new Rng(randomInt(2 ** 31)),
      onMessage: (message) => this.#onPeerMessage(message),
      onApp: (peer, payload) => this.#onForwardFrame(peer, payload),
      onUnreachable: (peer) => {
        this.#raft.reportUnreachable(peer);
        this.#scheduleLoop();
        if (!this.#transport.peers().has(peer)) this.#lookUpPeers();
      },
      onSnapshotSent: (peer, ok) => {
        this.#raft.reportSnapshot(peer, ok);
        this.#scheduleLoop();
      },
    });
    const bound = await this.#transport.start();
    this.#peerAddress = this.#options.advertisePeer ?? bound;
    this.#tickTimer = setInterval(() => this.#tick(), this.#tickMs);
    this.#choresTimer = setInterval(() => void this.#chores(), NODE_CHORES_INTERVAL_MS);
    this.#tickTimer.unref?.();
    this.#choresTimer.unref?.();
    this.#log.info({ clusterId: this.#clusterId, peer: this.#peerAddress, client: this.clientUrl, applied: this.#kv.appliedIndex() }, "node started");
    this.#scheduleLoop();
  }

  /** A brand-new data directory: bootstrap, join, or start a single-node cluster. */
  async #initialize(): Promise<Record<string, string>> {
    const { bootstrap, join, dataDir } = this.#options;
    if (join && join.length > 0) {
      const joined = await joinCluster(this.#joinRequest());
      this.#clusterId = joined.clusterId;
      writeIdentity(dataDir, { clusterId: this.#clusterId, nodeId: this.id });
      return joined.peers;
    }
    const members = bootstrap ?? { [this.id]: this.#options.advertisePeer ?? this.#options.peerListen };
    if (!(this.id in members)) throw new NodeError("bad_request", `--bootstrap must include this node (${this.id})`);
    this.#clusterId = bootstrap ? bootstrapClusterId(bootstrap) : randomClusterId();
    // Every initial member must write identical entries, so only what all of them know goes in:
    // peer addresses. Each leader records its own client URL later (#chores).
    const contexts = new Map<string, Uint8Array>();
    for (const [id, peer] of Object.entries(members)) contexts.set(id, encodeMemberContext({ peer }));
    const voters = Object.keys(members).sort();
    const entries = bootstrapStorage(this.#memory, voters, contexts);
    await this.#wal.append(entries, this.#memory.hardState());
    writeIdentity(dataDir, { clusterId: this.#clusterId, nodeId: this.id });
    this.#log.info({ clusterId: this.#clusterId, voters }, "bootstrapped a new cluster");
    return Object.fromEntries(Object.entries(members).filter(([id]) => id !== this.id));
  }

  #joinRequest(): JoinRequest {
    return {
      endpoints: this.#options.join ?? [],
      id: this.id,
      peer: this.#options.advertisePeer ?? this.#options.peerListen,
      client: this.clientUrl,
      logger: this.#log,
      ...(this.#options.joinToken === undefined ? {} : { joinToken: this.#options.joinToken }),
    };
  }

  /**
   * Addresses in membership changes this node logged but has not applied (a crash between the
   * two): the state machine does not know them yet, but the transport must, or this node could
   * not answer the leader that is about to send it the commit index.
   */
  #peersInUnappliedLog(): Record<string, string> {
    const peers: Record<string, string> = {};
    for (const entry of this.#memory.allEntries()) {
      if (entry.index <= this.#kv.appliedIndex() || entry.type !== EntryType.ConfChange) continue;
      const change = decodeConfChange(entry.data);
      if (change.node !== this.id && change.context !== undefined && change.context.byteLength > 0) peers[change.node] = decodeMemberContext(change.context).peer;
    }
    return peers;
  }

  /**
   * The state machine may be behind the log's snapshot (a crash while installing one) and the
   * durable commit index may be behind what the state machine applied (commit-only changes are
   * not fsync'd): bring both in line before the core starts.
   */
  #recoverStateMachine(): void {
    const snapshot = this.#memory.snapshot();
    if (snapshot.meta.index > this.#kv.appliedIndex()) {
      this.#log.warn({ snapshot: snapshot.meta.index, applied: this.#kv.appliedIndex() }, "restoring the state machine from the last snapshot");
      this.#kv.restore(snapshot);
    }
    const applied = this.#kv.appliedIndex();
    const hardState = this.#memory.hardState();
    if (applied > this.#memory.lastIndex()) {
      throw new NodeError(
        "bad_request",
        `the state machine applied entry ${applied} but the write-ahead log ends at ${this.#memory.lastIndex()}: the log lost acknowledged entries`,
      );
    }
    if (applied > hardState.commit) this.#memory.setHardState({ ...hardState, commit: applied });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#handOffLeadership();
    this.#closed = true;
    clearInterval(this.#tickTimer);
    clearInterval(this.#choresTimer);
    const error = new NodeError("shutting_down", "the node is shutting down");
    this.#writes.failAll(error);
    this.#reads.failAll(error);
    await this.#transport?.close();
    await this.#loopRunning;
    await this.#snapshotSaving;
    await this.#wal?.close();
    this.#kv?.close();
    this.#lock?.release();
    this.#log.info({}, "node stopped");
  }

  // ---------------------------------------------------------------------------------------
  // The driver loop

  #onPeerMessage(message: Message): void {
    if (this.#closed) return;
    try {
      this.#raft.step(message);
    } catch (error) {
      this.#die(error as Error);
      return;
    }
    this.#scheduleLoop();
  }

  #tick(): void {
    if (this.#closed) return;
    this.#kv.commitApplied(); // what was applied since the last tick reaches SQLite's own log
    this.#raft.tick();
    const now = Date.now();
    this.#writes.expire(now);
    this.#reads.expire(now);
    this.#scheduleLoop();
  }

  #scheduleLoop(): void {
    if (this.#loopScheduled || this.#closed) return;
    this.#loopScheduled = true;
    setImmediate(() => {
      this.#loopScheduled = false;
      if (this.#loopRunning) return; // the running loop picks up new work before it ends
      this.#loopRunning = this.#runLoop().finally(() => {
        this.#loopRunning = undefined;
        if (this.#raft.hasReady() && !this.#closed) this.#scheduleLoop();
      });
    });
  }

  async #runLoop(): Promise<void> {
    try {
      while (!this.#closed && this.#raft.hasReady()) await this.#handleReady(this.#raft.ready());
    } catch (error) {
      this.#die(error as Error);
    }
  }

  async #handleReady(ready: Ready): Promise<void> {
    if (ready.softState) this.#onSoftState(ready.softState);
    // Entries to write: replicate them first, while this node writes them (thesis 10.2.1). A
    // Ready that only commits: apply first, so the answers to its writes leave before the
    // messages (commit notices, heartbeats): each socket write to a local peer costs tens of µs.
    const sendFirst = ready.entries.length > 0 || ready.snapshot !== undefined || ready.committedEntries.length === 0;
    if (sendFirst) this.#transport.send(ready.messages as Message[]);
    if (ready.snapshot) {
      await this.#wal.saveSnapshot(ready.snapshot);
      this.#memory.applySnapshot(ready.snapshot);
    }
    if (ready.entries.length > 0 || (ready.hardState && ready.mustSync)) {
      const started = performance.now();
      await this.#wal.append(ready.entries, ready.hardState ?? this.#memory.hardState());
      this.#metrics.walAppendSeconds.observe((performance.now() - started) / 1000);
    }
    this.#memory.append(ready.entries);
    if (ready.hardState) this.#memory.setHardState(ready.hardState);
    if (ready.messagesAfterPersist.length > 0) {
      // Acknowledgements leave now, not behind this Ready's apply: the leader waits for them.
      this.#transport.send(ready.messagesAfterPersist as Message[]);
      this.#transport.flush();
    }
    if (ready.snapshot) this.#installSnapshot(ready);
    if (ready.committedEntries.length > 0) {
      const started = performance.now();
      this.#apply(ready.committedEntries);
      this.#metrics.applySeconds.observe((performance.now() - started) / 1000);
    }
    if (!sendFirst) {
      // The answers to the writes just applied go out before the commit notices.
      if (ready.committedEntries.length > 0) await afterPromiseChains();
      this.#transport.send(ready.messages as Message[]);
    }
    for (const state of ready.readStates) this.#reads.confirm(state.context, state.index, this.#kv.appliedIndex());
    this.#raft.advance();
    this.#reads.applied(this.#kv.appliedIndex());
    this.#maybeSnapshot();
  }

  #installSnapshot(ready: Ready): void {
    const snapshot = ready.snapshot!;
    this.#kv.restore(snapshot);
    this.#membersCache = undefined;
    this.#writes.failUpTo(snapshot.meta.index);
    this.#installedSnapshotIndex = snapshot.meta.index;
    this.#syncPeers();
    this.#metrics.snapshotsInstalled.inc();
    this.#log.info({ index: snapshot.meta.index, term: snapshot.meta.term }, "installed a snapshot from the leader");
  }

  #apply(entries: readonly Entry[]): void {
    let membershipChanged = false;
    let wasMember = false;
    const results = this.#kv.applyBatch(entries, (entry) => {
      const change = decodeConfChange(entry.data);
      if (!membershipChanged) wasMember = this.#isMember();
      membershipChanged = true;
      return { change, confState: this.#raft.applyConfChange(change) };
    });
    for (const applied of results) this.#settleWrite(applied);
    this.#metrics.appliedEntries.inc(entries.length);
    if (membershipChanged) {
      this.#membersCache = undefined;
      this.#syncPeers();
      // Not while a joining node replays the changes from before it was added.
      if (wasMember && !this.#isMember()) this.#log.warn({}, "this node was removed from the cluster");
    }
  }

  #isMember(): boolean {
    const conf = this.#kv.confState();
    return conf.voters.includes(this.id) || conf.learners.includes(this.id);
  }

  #settleWrite(applied: ApplyResult): void {
    this.#writes.settle(applied.index, applied.term, applied.requestId, () => {
      const result = applied.result;
      if (result.kind === "conf_change") return { kind: "noop", revision: result.revision };
      return result;
    });
  }

  /**
   * Every snapshotEntries applied entries: the state machine's image becomes the log's
   * snapshot at once (in memory: the core may send it), and is saved and the log compacted in
   * the background. The loop does not wait for the file and its fsyncs: replication and
   * commits go on meanwhile (awaiting it here stalled every write for the whole save).
   */
  #maybeSnapshot(): void {
    const applied = this.#kv.appliedIndex();
    if (this.#snapshotSaving !== undefined || applied - this.#memory.snapshot().meta.index < this.#snapshotEntries) return;
    const image = this.#kv.snapshot();
    assert(image.meta.index === applied, "the state machine's snapshot is at its applied index");
    const snapshot = this.#memory.createSnapshot(image.meta.index, image.meta.confState, image.data);
    this.#snapshotSaving = this.#saveSnapshot(snapshot)
      .catch((error: unknown) => this.#die(error as Error))
      .finally(() => (this.#snapshotSaving = undefined));
  }

  async #saveSnapshot(snapshot: Snapshot): Promise<void> {
    await this.#wal.saveSnapshot(snapshot);
    // Compacted only once the snapshot is durable: the entries it replaces stay until then.
    const compactTo = snapshot.meta.index - this.#snapshotCatchupEntries;
    if (compactTo >= this.#memory.firstIndex()) {
      this.#memory.compact(compactTo);
      await this.#wal.compact(compactTo);
    }
    this.#metrics.snapshotsTaken.inc();
    this.#log.info({ index: snapshot.meta.index, bytes: snapshot.data.byteLength }, "took a snapshot and compacted the log");
  }

  /** The membership with addresses, cached: it is read on hot paths (forwarding) and changes rarely. */
  #members(): readonly Member[] {
    this.#membersCache ??= this.#kv.members();
    return this.#membersCache;
  }

  #onSoftState(soft: SoftState): void {
    const previous = this.#soft;
    this.#soft = soft;
    if (soft.leader !== previous.leader) {
      this.#metrics.leaderChanges.inc();
      this.#log.info({ term: this.#raft.status().term, leader: soft.leader, role: soft.role }, "leader changed");
      if (soft.leader !== "") {
        for (const wake of this.#leaderWaiters) wake();
        this.#leaderWaiters.clear();
        // Reads asked while no leader was known (or of a leader that went away) are asked again.
        for (const context of this.#reads.unconfirmed()) this.#raft.readIndex(context);
        // A new leader records its client address at once (followers forward to it); a
        // follower tells the new leader its own. Not a second later, on the chores timer.
        // (A new leader cannot change membership before its first entry commits: try again soon.)
        for (const delayMs of [0, this.#tickMs, 3 * this.#tickMs]) setTimeout(() => void this.#chores(), delayMs).unref();
      }
    }
  }

  #die(error: Error): void {
    if (this.#fatal) return;
    this.#fatal = error;
    // A failed fsync or a broken invariant: continuing could acknowledge what is not durable.
    this.#log.fatal({ err: error }, "stopping the node: a durability or invariant failure");
    void this.close().finally(() => {
      process.exitCode = 70;
      setImmediate(() => process.exit(70));
    });
  }

  #syncPeers(): void {
    const members = this.#members();
    const known = new Set<string>();
    for (const member of members) {
      if (member.id === this.id || !member.peer) continue;
      known.add(member.id);
      this.#learnedPeers.delete(member.id);
      this.#transport.addPeer(member.id, member.peer);
    }
    for (const id of Object.keys(this.#transport.stats().peers)) if (!known.has(id) && !this.#learnedPeers.has(id)) this.#transport.removePeer(id);
  }

  /**
   * A node that lagged behind a membership change cannot answer a member added meanwhile (it
   * has no address for it) — and if that member now leads, the node cannot catch up to learn
   * it from the log: its rejections of the leader's appends never arrive. So it asks the peers
   * it knows for their member lists (over the peer connections: its state machine may hold no
   * client address for them) and keeps the addresses it lacked until its own state machine
   * lists them. At most one round per NODE_PEER_LOOKUP_INTERVAL_MS.
   */
  #lookUpPeers(): void {
    const now = Date.now();
    if (this.#closed || now - this.#peerLookupAt < NODE_PEER_LOOKUP_INTERVAL_MS) return;
    this.#peerLookupAt = now;
    const request = encodeForwardFrame({ kind: "peers?", requestId: `${this.id}.${this.#bootId}.peers` });
    for (const peer of this.#transport.peers().keys()) this.#transport.sendApp(peer, request);
  }

  #answerPeerLookup(peer: string, requestId: string): void {
    const peers = new Map<string, string>();
    for (const member of this.#members()) if (member.peer) peers.set(member.id, member.peer);
    if (!peers.has(this.id)) peers.set(this.id, this.#peerAddress);
    this.#transport.sendApp(peer, encodeForwardFrame({ kind: "peers", requestId, peers }));
  }

  #learnPeers(from: string, peers: ReadonlyMap<string, string>): void {
    const known = this.#transport.peers();
    for (const [id, address] of peers) {
      if (id === this.id || address === "" || known.has(id)) continue;
      this.#learnedPeers.add(id);
      this.#transport.addPeer(id, address);
      this.#log.info({ peer: id, address, from }, "learned the address of a member added while this node lagged");
    }
  }

  // ---------------------------------------------------------------------------------------
  // Writes

  /**
   * Replicates a write. On the leader it is proposed here; on a follower it is forwarded to the
   * leader over the peer connection and answered from this node's own state machine once its
   * entry applies here. A write that certainly was not proposed (the leader moved) goes again.
   */
  async write(command: CommandBody, options: WriteOptions = {}): Promise<CommandResult> {
    const deadline = Date.now() + (options.timeoutMs ?? this.#requestTimeoutMs);
    const requestId = `${this.id}.${this.#bootId}.${++this.#requestSeq}`;
    // A literal, not a spread of `command` (V8 clones a spread through a slow generic path).
    const { type, payload } = command;
    const { idempotencyKey } = options;
    const data = encodeCommand((idempotencyKey === undefined ? { type, payload, requestId } : { type, payload, requestId, idempotencyKey }) as Command);
    for (let attempt = 1; ; attempt++) {
      this.#checkOpen();
      if (this.#soft.leader === "") await this.#waitForLeader(deadline);
      const leader = this.#soft.leader;
      try {
        if (leader === this.id) return await this.#propose(deadline, requestId, () => this.#raft.propose(data));
        if (options.forward === false) throw this.#notLeader();
        return await this.#forwardWrite(leader, requestId, data, deadline);
      } catch (error) {
        const moved = error instanceof NodeError && error.code === "not_leader";
        if (!moved || options.forward === false || attempt >= NODE_PROPOSE_ATTEMPTS_MAX) throw error;
        await this.#leaderChangedFrom(leader, deadline);
      }
    }
  }

  /** A follower's write: the leader proposes it; this node waits for its entry to apply here. */
  #forwardWrite(leader: string, requestId: string, data: Uint8Array, deadline: number): Promise<CommandResult> {
    if (!this.#writes.hasRoom()) throw new NodeError("overloaded", "too many writes in flight; retry shortly");
    return new Promise<CommandResult>((resolve, reject) => {
      this.#writes.addForwarded(requestId, { resolve, reject, deadline });
      const frame = encodeForwardFrame({ kind: "write", requestId, timeoutMs: Math.max(1, deadline - Date.now()), command: data });
      if (this.#transport.sendApp(leader, frame)) {
        this.#metrics.forwardedWrites.inc();
      } else {
        this.#writes.refuse(requestId, new NodeError("no_leader", `the leader ${leader} cannot be reached from ${this.id} right now; retry shortly`));
      }
    });
  }

  /** Waits (at most until the deadline) for this node to learn of a leader other than `previous`. */
  async #leaderChangedFrom(previous: string, deadline: number): Promise<void> {
    while (this.#soft.leader === previous && Date.now() < deadline && !this.#closed) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(10, this.#tickMs)));
    }
  }

  #onForwardFrame(peer: string, payload: Uint8Array): void {
    if (this.#closed) return;
    let frame: ForwardFrame;
    try {
      frame = decodeForwardFrame(payload);
    } catch (error) {
      this.#log.warn({ peer, err: (error as Error).message }, "ignored an invalid forwarded-write frame");
      return;
    }
    switch (frame.kind) {
      case "write":
        this.#proposeForwarded(peer, frame);
        return;
      case "accepted":
        this.#writes.bind(frame.requestId, frame.index, frame.term, this.#kv.appliedIndex(), this.#installedSnapshotIndex);
        return;
      case "refused":
        this.#writes.refuse(frame.requestId, new NodeError(frame.code, frame.message));
        return;
      case "peers?":
        this.#answerPeerLookup(peer, frame.requestId);
        return;
      case "peers":
        this.#learnPeers(peer, frame.peers);
        return;
    }
  }

  /** The leader's side of a forwarded write: propose it, answer where it went or why not. */
  #proposeForwarded(peer: string, frame: Extract<ForwardFrame, { kind: "write" }>): void {
    const { requestId } = frame;
    const answer = (reply: ForwardFrame): void => void this.#transport.sendApp(peer, encodeForwardFrame(reply));
    const refuse = (error: unknown): void => {
      if (error instanceof NodeError) {
        // Not leading any more (whether or not a successor is known yet): the follower tries the next leader.
        const moved = this.#soft.leader !== this.id && (error.code === "not_leader" || error.code === "no_leader");
        return answer({ kind: "refused", requestId, code: moved ? "not_leader" : error.code, message: error.message });
      }
      if (error instanceof MalformedCommandError || error instanceof ForwardProtocolError) {
        this.#log.warn({ peer, err: error.message }, "refused an invalid forwarded write");
        return answer({ kind: "refused", requestId, code: "bad_request", message: error.message });
      }
      this.#die(error as Error);
    };
    const accepted = (position: { index: number; term: number }): void => {
      this.#metrics.proposals.inc();
      this.#scheduleLoop();
      answer({ kind: "accepted", requestId, index: position.index, term: position.term });
    };
    let data: Uint8Array;
    try {
      if (this.#soft.leader !== this.id) throw this.#notLeader();
      data = frame.command.slice(); // its own bytes: the entry outlives the received frame
      // Checked before it is proposed (a command every replica cannot apply would stop them
      // all); the decode is kept for this node's own apply of the entry.
      if (decodeCommandToPropose(data).requestId !== requestId) throw new ForwardProtocolError(`the command's requestId is not ${requestId}`);
      // The usual case, synchronously: the answers to a burst of frames leave together.
      return accepted(this.#raft.propose(data));
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) return refuse(error);
    }
    const deadline = Date.now() + Math.min(frame.timeoutMs, this.#requestTimeoutMs);
    this.#proposeHere(deadline, () => this.#raft.propose(data)).then(accepted, refuse);
  }

  /** Proposes on this node; returns the entry's position once it is in the log. */
  async #propose(deadline: number, requestId: string | null, propose: () => { index: number; term: number }): Promise<CommandResult> {
    if (!this.#writes.hasRoom()) throw new NodeError("overloaded", "too many writes in flight; retry shortly");
    const position = await this.#proposeHere(deadline, propose);
    this.#metrics.proposals.inc();
    this.#scheduleLoop();
    return new Promise<CommandResult>((resolve, reject) => {
      this.#writes.add(position.index, { resolve, reject, deadline, term: position.term, requestId });
    });
  }

  /**
   * Proposes here, riding out a leadership transfer (a hand-off takes a round trip or two):
   * once it has settled, proposes again if this node still leads, else throws not_leader.
   */
  async #proposeHere(deadline: number, propose: () => { index: number; term: number }, attempt = 1): Promise<{ index: number; term: number }> {
    try {
      return propose();
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
      const moving = error.reason === "transfer_in_progress" || (error.reason === "not_leader" && (this.#soft.leader === "" || this.#soft.leader === this.id));
      if (!moving || attempt >= NODE_PROPOSE_ATTEMPTS_MAX) throw this.#dropped(error);
      await this.#leadershipSettled(deadline);
      await this.#requireLeader(deadline);
      return this.#proposeHere(deadline, propose, attempt + 1);
    }
  }

  /**
   * Resolves once no leadership transfer is in progress here (the core abandons one after an
   * election timeout) and this node's view of the leader caught up with the core's.
   */
  async #leadershipSettled(deadline: number): Promise<void> {
    for (;;) {
      const raft = this.#raft.status();
      if (raft.leadTransferee === "" && !(this.#soft.leader === this.id && raft.leader !== this.id)) return;
      if (Date.now() >= deadline) throw new NodeError("no_leader", "leadership is being transferred; retry shortly");
      await new Promise((resolve) => setTimeout(resolve, Math.min(10, this.#tickMs)));
    }
  }

  #dropped(error: ProposalDroppedError): NodeError {
    switch (error.reason) {
      case "not_leader":
      case "removed":
        return this.#notLeader();
      case "transfer_in_progress":
        return new NodeError("no_leader", "leadership is being transferred; retry shortly");
      case "too_many_uncommitted":
        return new NodeError("overloaded", "too many uncommitted writes; retry shortly");
      case "conf_change_pending":
        return new ChangeInFlightError(error.message);
    }
  }

  /** Resolves once this node leads; throws not_leader (with the leader's URL) or no_leader. */
  async #requireLeader(deadline: number): Promise<void> {
    this.#checkOpen();
    if (this.#soft.leader === "") await this.#waitForLeader(deadline);
    if (this.#soft.leader !== this.id) throw this.#notLeader();
  }

  #notLeader(): NodeError {
    const leader = this.#soft.leader;
    if (leader === "" || leader === this.id) return new NodeError("no_leader", "no leader is known; retry shortly");
    const url = this.#members().find((m) => m.id === leader)?.client;
    return new NodeError("not_leader", `node ${this.id} is not the leader (${leader} is)`, url ? { leaderClientUrl: url } : {});
  }

  #waitForLeader(deadline: number): Promise<void> {
    if (this.#soft.leader !== "") return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#leaderWaiters.delete(wake);
        reject(new NodeError("no_leader", "no leader was elected within the deadline"));
      }, Math.max(0, deadline - Date.now()));
      this.#leaderWaiters.add(wake);
    });
  }

  // ---------------------------------------------------------------------------------------
  // Reads

  async get(key: string, options: ReadOptions = {}): Promise<GetResult> {
    await this.#readBarrier(options);
    return { kv: this.#kv.get(key), revision: this.#kv.revision() };
  }

  async range(request: RangeRequest, options: ReadOptions = {}): Promise<RangeResult> {
    await this.#readBarrier(options);
    return this.#kv.range(request.prefix, {
      ...(request.after !== undefined ? { after: request.after } : {}),
      ...(request.limit !== undefined ? { limit: request.limit } : {}),
    });
  }

  /** Linearizable: wait until this node has applied the leader-confirmed read index. */
  async #readBarrier(options: ReadOptions): Promise<void> {
    this.#checkOpen();
    if (options.consistency === "stale") return;
    if (!this.#reads.hasRoom()) throw new NodeError("overloaded", "too many reads in flight; retry shortly");
    const { context, ready } = this.#reads.add(Date.now() + (options.timeoutMs ?? this.#requestTimeoutMs));
    this.#raft.readIndex(context);
    this.#scheduleLoop();
    await ready;
    this.#metrics.linearizableReads.inc();
  }

  // ---------------------------------------------------------------------------------------
  // Membership and leadership

  status(): NodeStatus {
    const raft = this.#raft.status();
    return {
      id: this.id,
      role: this.#role(),
      term: raft.term,
      leader: raft.leader,
      commitIndex: raft.commit,
      appliedIndex: this.#kv.appliedIndex(),
      members: this.members(),
      clusterId: this.#clusterId,
    };
  }

  #role(): NodeRole {
    const raft = this.#raft.status();
    if (raft.isLearner) return "learner";
    if (raft.role === Role.Leader) return "leader";
    if (raft.role === Role.Candidate || raft.role === Role.PreCandidate) return "candidate";
    return "follower";
  }

  members(): readonly MemberStatus[] {
    const raft = this.#raft.status();
    const progress = new Map(raft.peers.map((peer) => [peer.id, peer]));
    const conf = this.#kv.confState();
    return this.#members().map((member) => {
      const voter = conf.voters.includes(member.id);
      const role = !voter ? "learner" : member.id === raft.leader ? "leader" : "follower";
      const base = { id: member.id, peer: member.peer, client: member.client, voter, role } as const;
      const peer = progress.get(member.id);
      if (!peer) return base;
      return {
        ...base,
        matchIndex: peer.match,
        lag: Math.max(0, raft.lastIndex - peer.match),
        lastContactMs: member.id === this.id ? 0 : peer.ticksSinceContact * this.#tickMs,
      };
    });
  }

  /**
   * One membership change at a time: a request that finds another one in flight (a joining
   * node, a chore recording addresses) waits for it to apply, then runs its checks again, until
   * its deadline; only then is it answered 409.
   */
  async #oneChangeAtATime<T>(change: (deadline: number) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#requestTimeoutMs;
    for (;;) {
      try {
        return await change(deadline);
      } catch (error) {
        if (!(error instanceof ChangeInFlightError) || Date.now() + this.#tickMs >= deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, this.#tickMs));
      }
    }
  }

  async addMember(request: AddMemberRequest): Promise<readonly MemberStatus[]> {
    return this.#oneChangeAtATime((deadline) => this.#addMember(request, deadline));
  }

  async removeMember(id: string): Promise<readonly MemberStatus[]> {
    return this.#oneChangeAtATime((deadline) => this.#removeMember(id, deadline));
  }

  async promoteMember(id: string): Promise<readonly MemberStatus[]> {
    return this.#oneChangeAtATime((deadline) => this.#promoteMember(id, deadline));
  }

  async #addMember(request: AddMemberRequest, deadline: number): Promise<readonly MemberStatus[]> {
    await this.#requireLeader(deadline);
    const existing = this.#members().find((m) => m.id === request.id);
    const conf = this.#kv.confState();
    const isVoter = conf.voters.includes(request.id);
    const wantsVoter = request.learner !== true;
    const client = request.client ?? existing?.client ?? "";
    if (existing && existing.peer === request.peer && existing.client === client && (isVoter || !wantsVoter)) {
      return this.members(); // already a member at this address: joining again is harmless
    }
    if (wantsVoter && !isVoter) this.#checkQuorumAfter(conf.voters.length + 1, conf.voters);
    const type = wantsVoter || isVoter ? ConfChangeType.AddVoter : ConfChangeType.AddLearner;
    const autoPromote = type === ConfChangeType.AddLearner && (request.autoPromote ?? existing?.autoPromote ?? false);
    await this.#changeMembership(deadline, { type, node: request.id, context: encodeMemberContext({ peer: request.peer, client, autoPromote }) });
    return this.members();
  }

  async #removeMember(id: string, deadline: number): Promise<readonly MemberStatus[]> {
    await this.#requireLeader(deadline);
    const conf = this.#kv.confState();
    if (!conf.voters.includes(id) && !conf.learners.includes(id)) throw new NodeError("not_found", `${id} is not a member of the cluster`);
    if (conf.voters.includes(id)) {
      const remaining = conf.voters.filter((voter) => voter !== id);
      if (remaining.length === 0) throw new NodeError("conflict", `cannot remove ${id}: it is the last voter`);
      this.#checkQuorumAfter(remaining.length, remaining);
    }
    await this.#changeMembership(deadline, { type: ConfChangeType.Remove, node: id });
    return this.members();
  }

  async #promoteMember(id: string, deadline: number): Promise<readonly MemberStatus[]> {
    await this.#requireLeader(deadline);
    const conf = this.#kv.confState();
    if (conf.voters.includes(id)) throw new NodeError("conflict", `${id} is already a voter`);
    if (!conf.learners.includes(id)) throw new NodeError("not_found", `${id} is not a member of the cluster`);
    const lag = this.#lagOf(id);
    if (lag > NODE_PROMOTE_LAG_ENTRIES_MAX) throw new NodeError("conflict", `${id} is not caught up yet (${lag} entries behind); retry later`);
    // In a short log a learner that holds nothing lags little; it must at least hold its own
    // addition, or after a restart it would know no member to answer.
    const addedAt = this.#addedAt(id);
    if (this.#matchOf(id) < addedAt) throw new NodeError("conflict", `${id} is not caught up yet (it does not hold entry ${addedAt}, which added it); retry later`);
    this.#checkQuorumAfter(conf.voters.length + 1, [...conf.voters, id]);
    const member = this.#members().find((m) => m.id === id)!;
    // Only the addresses travel: a voter needs no automatic promotion any more.
    await this.#changeMembership(deadline, { type: ConfChangeType.AddVoter, node: id, context: encodeMemberContext({ peer: member.peer, client: member.client }) });
    return this.members();
  }

  #matchOf(id: string): number {
    return this.#raft.status().peers.find((p) => p.id === id)?.match ?? 0;
  }

  /** Index of the last membership change about `id` in the log (the snapshot's index if compacted away). */
  #addedAt(id: string): number {
    const entries = this.#memory.allEntries();
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i]!;
      if (entry.type === EntryType.ConfChange && decodeConfChange(entry.data).node === id) return entry.index;
    }
    return this.#memory.snapshot().meta.index;
  }

  #lagOf(id: string): number {
    const raft = this.#raft.status();
    const peer = raft.peers.find((p) => p.id === id);
    return peer ? raft.lastIndex - peer.match : Number.MAX_SAFE_INTEGER;
  }

  /**
   * etcd's strict reconfiguration check: refuse a change after which the voters that are
   * reachable now would not form a quorum of the new configuration.
   */
  #checkQuorumAfter(voterCount: number, candidates: readonly string[]): void {
    const raft = this.#raft.status();
    const active = new Set(raft.peers.filter((p) => p.id === this.id || p.ticksSinceContact < 2 * (this.#options.electionTimeoutTicks ?? ELECTION_TIMEOUT_TICKS_DEFAULT)).map((p) => p.id));
    const reachable = candidates.filter((id) => active.has(id)).length;
    if (reachable < majority(voterCount)) {
      throw new NodeError("conflict", `refused: after this change only ${reachable} of ${voterCount} voters would be reachable, fewer than a quorum (${majority(voterCount)})`);
    }
  }

  async #changeMembership(deadline: number, change: ConfChange): Promise<void> {
    await this.#propose(deadline, null, () => this.#raft.proposeConfChange(change));
    this.#log.info({ change: { type: ConfChangeType[change.type], node: change.node } }, "membership changed");
  }

  async transferLeadership(to?: string): Promise<{ leader: string }> {
    const deadline = Date.now() + this.#requestTimeoutMs;
    await this.#requireLeader(deadline);
    const raft = this.#raft.status();
    const voters = raft.confState.voters.filter((id) => id !== this.id);
    const target = to ?? voters.map((id) => ({ id, lag: this.#lagOf(id) })).sort((a, b) => a.lag - b.lag)[0]?.id;
    if (!target) throw new NodeError("conflict", "there is no other voter to hand leadership to");
    if (target === this.id) return { leader: this.id };
    if (!voters.includes(target)) throw new NodeError("conflict", `${target} is not a voter`);
    this.#raft.transferLeadership(target);
    this.#scheduleLoop();
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, this.#tickMs));
      const leader = this.#raft.status().leader;
      if (leader === target) return { leader };
      if (this.#raft.status().leadTransferee === "" && leader === this.id) break;
    }
    throw new NodeError("no_leader", `leadership did not move to ${target} in time; ${this.#raft.status().leader || "no node"} leads`);
  }

  /**
   * A leader that stops hands leadership to a caught-up voter first, so a rolling restart
   * never waits out an election timeout (clients see one short pause, not a failover).
   */
  async #handOffLeadership(): Promise<void> {
    if (!this.#raft || this.#soft.leader !== this.id || this.#fatal) return;
    const voters = this.#raft.status().confState.voters.filter((id) => id !== this.id);
    // The most caught-up voter that is close enough to finish catching up within the transfer.
    const target = voters
      .map((id) => ({ id, lag: this.#lagOf(id) }))
      .filter((v) => v.lag <= NODE_PROMOTE_LAG_ENTRIES_MAX)
      .sort((a, b) => a.lag - b.lag)[0];
    if (!target) return;
    try {
      const { leader } = await this.transferLeadership(target.id);
      this.#log.info({ to: leader }, "handed leadership over before stopping");
    } catch (error) {
      this.#log.warn({ err: (error as Error).message }, "could not hand leadership over before stopping");
    }
  }

  isReady(): boolean {
    if (this.#closed) return false;
    const raft = this.#raft.status();
    if (raft.leader === "" || this.#kv.appliedIndex() < raft.commit) return false;
    // Ready to serve means able to forward too: a just-bootstrapped leader records its client URL first.
    return raft.leader === this.id || this.#kv.members().some((m) => m.id === raft.leader && m.client !== "");
  }

  async metrics(): Promise<string> {
    return this.#metrics.render();
  }

  #metricsSnapshot() {
    const raft = this.#raft.status();
    return {
      term: raft.term,
      commit: raft.commit,
      applied: this.#kv.appliedIndex(),
      lastIndex: raft.lastIndex,
      isLeader: raft.role === Role.Leader,
      pendingWrites: this.#writes.size,
      pendingReads: this.#reads.size,
      wal: this.#wal.stats(),
      members: raft.confState.voters.length + raft.confState.learners.length,
    };
  }

  // ---------------------------------------------------------------------------------------
  // Background chores

  /**
   * The leader's housekeeping, one membership change at a time: record its own advertised
   * addresses (followers forward to them), then promote learners that joined on their own
   * once they have caught up.
   */
  async #chores(): Promise<void> {
    if (this.#closed || this.#soft.leader === "" || this.#choresRunning) return;
    this.#choresRunning = true;
    try {
      if (this.#soft.leader !== this.id) {
        await this.#registerWithLeader();
        return;
      }
      const self = this.#members().find((m) => m.id === this.id);
      if (self && (self.peer !== this.#peerAddress || self.client !== this.clientUrl)) {
        const isVoter = this.#kv.confState().voters.includes(this.id);
        await this.#changeMembership(Date.now() + this.#requestTimeoutMs, {
          type: isVoter ? ConfChangeType.AddVoter : ConfChangeType.AddLearner,
          node: this.id,
          context: encodeMemberContext({ peer: this.#peerAddress, client: this.clientUrl }),
        });
        return;
      }
      const learner = this.#members().find((m) => !m.voter && m.autoPromote && this.#lagOf(m.id) <= NODE_PROMOTE_LAG_ENTRIES_MAX);
      if (learner) {
        await this.promoteMember(learner.id);
        this.#log.info({ member: learner.id }, "promoted a caught-up learner to voter");
      }
    } catch (error) {
      this.#log.debug({ err: error }, "a membership chore did not complete; it is retried");
    } finally {
      this.#choresRunning = false;
    }
  }

  /**
   * A follower whose advertised addresses the membership does not know yet (bootstrap lists
   * only peer addresses) tells the leader, through the same request a joining node makes.
   */
  async #registerWithLeader(): Promise<void> {
    const members = this.#members();
    const self = members.find((m) => m.id === this.id);
    const leaderUrl = members.find((m) => m.id === this.#soft.leader)?.client;
    if (!self || !leaderUrl || (self.peer === this.#peerAddress && self.client === this.clientUrl)) return;
    const body = JSON.stringify({ id: this.id, peer: this.#peerAddress, client: this.clientUrl, learner: !self.voter });
    const response = await httpCall(`${leaderUrl}/v1/members`, {
      method: "POST",
      body,
      headers: joinHeaders(this.#options.joinToken),
      timeoutMs: this.#requestTimeoutMs,
      responseBytesMax: NODE_PEER_HTTP_RESPONSE_BYTES_MAX,
    });
    if (response.status >= 200 && response.status <= 299) this.#log.info({ leader: this.#soft.leader }, "recorded this node's addresses with the leader");
    else if (response.status === 403) this.#log.warn({ leader: this.#soft.leader }, "the leader refused this node's join token: give every node the same --join-token");
  }

  #checkOpen(): void {
    if (this.#closed) throw new NodeError("shutting_down", "the node is shutting down");
  }
}
