/**
 * Booting a node from its data directory: lock it, recover the write-ahead log and the state
 * machine, bind the peer port, and only then join or bootstrap a cluster (a start that fails
 * on a taken port must change nothing in any cluster). What comes out is the replica's ports,
 * ready to run; everything opened is closed again if a step fails.
 */
import fs from "node:fs";
import path from "node:path";
import { randomInt } from "node:crypto";
import { bootstrapStorage, type MemoryStorage } from "../raft/index.js";
import { openStorage, type Wal } from "../storage/index.js";
import { Transport } from "../transport/index.js";
import { KvStore, encodeMemberContext } from "../kv/index.js";
import { KV_DEFERRED_COMMIT_ENTRIES_MAX } from "../util/limits.js";
import { Rng } from "../util/rng.js";
import { NodeError } from "./api.js";
import { bootstrapClusterId, randomClusterId, readIdentity, writeIdentity } from "./identity.js";
import { joinCluster, memberPeers, type JoinRequest } from "./join.js";
import { DataDirLock } from "./lock.js";
import type { NodeOptions } from "./node.js";
import type { PeerEvents } from "./ports.js";
import { peersInUnappliedLog, recoverStateMachine } from "./recovery.js";

/** The node's options that concern its data directory, ports and cluster, and where the network's events go. */
export interface BootOptions
  extends Pick<NodeOptions, "id" | "dataDir" | "peerListen" | "advertisePeer" | "clientUrl" | "bootstrap" | "join" | "joinToken" | "backgroundCheckpoints" | "logger"> {
  /** Where the peer network's events go (the replica, once it exists). */
  readonly events: PeerEvents;
  /** Each of SQLite's background checkpoints, in seconds (metrics). */
  readonly onCheckpoint: (seconds: number) => void;
}

export interface Booted {
  readonly clusterId: string;
  readonly lock: DataDirLock;
  readonly wal: Wal;
  readonly storage: MemoryStorage;
  readonly kv: KvStore;
  readonly transport: Transport;
  /** The peer address other nodes are told. */
  readonly peerAddress: string;
  /** Peers to dial besides the applied membership's: learned when joining, or named in the unapplied log. */
  readonly extraPeers: Record<string, string>;
}

export async function boot(options: BootOptions): Promise<Booted> {
  const { dataDir, logger } = options;
  fs.mkdirSync(dataDir, { recursive: true });
  const lock = DataDirLock.acquire(dataDir);
  const opened: { wal?: Wal; kv?: KvStore; transport?: Transport } = {};
  try {
    const recovered = await openStorage(path.join(dataDir, "wal"));
    opened.wal = recovered.wal;
    const tail = recovered.report.tornTail;
    if (tail?.kind === "zero-fill") {
      // What the WAL writes ahead of its records, left by a stop without a clean close: no record lost.
      logger.info({ file: tail.file, bytes: tail.bytesTruncated }, "recovered the write-ahead log: cut the zeros after its last record");
    } else if (tail !== undefined) {
      logger.warn({ report: recovered.report }, "recovered the write-ahead log: cut a torn record at its end");
    }
    const kv = KvStore.open({
      path: path.join(dataDir, "state.db"),
      deferredCommitEntriesMax: KV_DEFERRED_COMMIT_ENTRIES_MAX,
      ...(options.backgroundCheckpoints === false
        ? {}
        : {
            backgroundCheckpoints: {
              onCheckpoint: (report) => options.onCheckpoint(report.seconds),
              onFailure: (error) => logger.error({ err: error.message }, "SQLite checkpoints fall back to the event loop"),
            },
          }),
    });
    opened.kv = kv;
    const identity = readIdentity(dataDir);
    if (identity && identity.nodeId !== options.id) {
      throw new NodeError("bad_request", `the data in ${dataDir} belongs to node ${identity.nodeId}, not ${options.id}`);
    }
    // The peer port is bound before this node joins or founds anything.
    const transport = openTransport(options, identity?.clusterId);
    opened.transport = transport;
    const bound = await transport.start();
    const peerAddress = options.advertisePeer ?? bound;
    const storage = recovered.storage;
    const fresh = storage.lastIndex() === 0 && storage.hardState().term === 0;
    let clusterId: string;
    let extraPeers: Record<string, string> = {};
    if (identity) {
      clusterId = identity.clusterId;
      if (fresh) {
        logger.warn({}, "identity found but the log is empty: waiting for the leader to send it");
        // It knows no peer to answer the leader through (membership comes from the log): ask the cluster.
        if (options.join?.length) extraPeers = await memberPeers(joinRequest(options, peerAddress));
      }
    } else if (!fresh) {
      throw new NodeError("bad_request", `${dataDir} holds a log but no identity.json: the data directory is damaged`);
    } else {
      ({ clusterId, peers: extraPeers } = await initialize(options, recovered.wal, storage, peerAddress));
    }
    transport.setClusterId(clusterId);
    recoverStateMachine(kv, storage, logger);
    Object.assign(extraPeers, peersInUnappliedLog(storage, kv, options.id));
    return { clusterId, lock, wal: recovered.wal, storage, kv, transport, peerAddress, extraPeers };
  } catch (error) {
    await opened.transport?.close();
    opened.kv?.close();
    await opened.wal?.close();
    lock.release();
    throw error;
  }
}

function openTransport(options: BootOptions, clusterId: string | undefined): Transport {
  const { events } = options;
  return new Transport({
    nodeId: options.id,
    ...(clusterId === undefined ? {} : { clusterId }),
    listenAddress: options.peerListen,
    logger: options.logger,
    rng: new Rng(randomInt(2 ** 31)),
    onMessage: (message) => events.message(message),
    onApp: (peer, payload) => events.app(peer, payload),
    onUnreachable: (peer) => events.unreachable(peer),
    onSnapshotSent: (peer, ok) => events.snapshotSent(peer, ok),
    onRefusedAsRemoved: (peer) => events.refusedAsRemoved(peer),
  });
}

function joinRequest(options: BootOptions, peerAddress: string): JoinRequest {
  return {
    endpoints: options.join ?? [],
    id: options.id,
    peer: peerAddress,
    client: options.clientUrl,
    logger: options.logger,
    ...(options.joinToken === undefined ? {} : { joinToken: options.joinToken }),
  };
}

/** A brand-new data directory: join, bootstrap, or start a single-node cluster. */
async function initialize(options: BootOptions, wal: Wal, storage: MemoryStorage, peerAddress: string): Promise<{ clusterId: string; peers: Record<string, string> }> {
  const { bootstrap, join, dataDir, id, logger } = options;
  if (join && join.length > 0) {
    const joined = await joinCluster(joinRequest(options, peerAddress));
    writeIdentity(dataDir, { clusterId: joined.clusterId, nodeId: id });
    return { clusterId: joined.clusterId, peers: joined.peers };
  }
  const members = bootstrap ?? { [id]: peerAddress };
  if (!(id in members)) throw new NodeError("bad_request", `--bootstrap must include this node (${id})`);
  const clusterId = bootstrap ? bootstrapClusterId(bootstrap) : randomClusterId();
  // Every initial member must write identical entries, so only what all of them know goes in:
  // peer addresses. Each leader records its own client URL later (the chores).
  const contexts = new Map<string, Uint8Array>();
  for (const [member, peer] of Object.entries(members)) contexts.set(member, encodeMemberContext({ peer }));
  const voters = Object.keys(members).sort();
  const entries = bootstrapStorage(storage, voters, contexts);
  await wal.append(entries, storage.hardState());
  writeIdentity(dataDir, { clusterId, nodeId: id });
  logger.info({ clusterId, voters }, "bootstrapped a new cluster");
  return { clusterId, peers: Object.fromEntries(Object.entries(members).filter(([member]) => member !== id)) };
}

