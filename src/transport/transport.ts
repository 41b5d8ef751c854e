/**
 * One node's peer transport: a listener on the node's peer address, one persistent outbound
 * connection per peer, bounded queues, snapshot streams, and the fault hook. See README.md.
 */
import { createServer, type Server, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { MessageType, type Message, type NodeId } from "../raft/types.js";
import { assert, InvariantError } from "../util/assert.js";
import { PEER_ID_LENGTH_MAX } from "../util/limits.js";
import type { Rng } from "../util/rng.js";
import { formatPeerAddress, parsePeerAddress } from "./address.js";
import { resolveLimits, type TransportContext, type TransportLimits } from "./context.js";
import { TransportError } from "./errors.js";
import { Faults, type FaultConfig } from "./faults.js";
import { InboundConnection, type InboundHost } from "./inbound.js";
import type { TransportLogger } from "./logger.js";
import { PeerLink, type PeerStats } from "./peer-link.js";
import type { Outbound } from "./peer-queue.js";
import { estimateMessageBytes, isNetworkMessageType } from "./wire.js";

export interface TransportOptions {
  readonly nodeId: NodeId;
  /**
   * Connections from nodes of another cluster are refused. Absent while the node is not in a
   * cluster yet (it binds its peer port before it joins or bootstraps): every inbound handshake
   * is then refused and no peer may be added, until setClusterId.
   */
  readonly clusterId?: string;
  /** "host:port" to listen on; port 0 picks a free port (see start()). */
  readonly listenAddress: string;
  /** Initial peers, id → "host:port". The node's own id is ignored. */
  readonly peers?: ReadonlyMap<NodeId, string> | Readonly<Record<NodeId, string>>;
  /** Structured logger (pino-compatible), ideally a child already bound to the node id. */
  readonly logger: TransportLogger;
  /** Seeds the fault hook and the reconnection jitter. */
  readonly rng: Rng;
  /** Every validated inbound message, including complete snapshots. Must not throw. */
  readonly onMessage: (message: Message) => void;
  /**
   * An app frame's bytes from `peer` (sendApp on its side), a view into the received frame:
   * decode or copy before returning. Must not throw.
   */
  readonly onApp?: (peer: NodeId, payload: Uint8Array) => void;
  /** A peer could not be reached or its queue overflowed (Raft: reportUnreachable). */
  readonly onUnreachable?: (peer: NodeId) => void;
  /** The outcome of a snapshot sent to a peer (Raft: reportSnapshot). */
  readonly onSnapshotSent?: (peer: NodeId, ok: boolean) => void;
  /**
   * `peer` refused a handshake because it removed this node from the cluster (its refusePeer):
   * called at every such refusal (each redial), so the node may act on the first or wait for more.
   */
  readonly onRefusedAsRemoved?: (peer: NodeId) => void;
  /** Overrides of the named limits of src/util/limits.ts, for tests and tuning. */
  readonly limits?: Partial<TransportLimits>;
}

export interface TransportStats {
  /** The bound listen address, or null before start(). */
  readonly address: string | null;
  readonly peers: Readonly<Record<NodeId, PeerStats>>;
  readonly inboundConnections: number;
  readonly inboundSnapshots: number;
  /** Inbound connections closed for breaking the protocol (garbage, bad frames, invalid messages). */
  readonly inboundProtocolErrors: number;
  /** Inbound connections closed at accept because too many were open. */
  readonly inboundRefused: number;
  /** Handshakes refused because the dialer was removed from the cluster (refusePeer). */
  readonly handshakesRefusedRemoved: number;
  /** Messages received from nodes that are not in the peer map. */
  readonly receivedFromUnknown: number;
  /** Messages sent to ids that are not in the peer map. */
  readonly unknownPeerDrops: number;
}

const UNKNOWN_PEERS_LOGGED_MAX = 1024;
/** Frame header and queue bookkeeping counted with an app frame's payload against the queue's byte bound. */
const APP_FRAME_OVERHEAD_BYTES = 16;

/** Queues one item once, or twice when the fault hook duplicates it; false if anything was dropped to stay in bounds. */
function enqueueCopies(link: PeerLink, item: Outbound, bytes: number, copies: number, readyAtMs: number): boolean {
  let kept = link.enqueue(item, bytes, readyAtMs);
  if (copies === 2) kept = link.enqueue(item, bytes, readyAtMs) && kept;
  return kept;
}

export class Transport {
  readonly nodeId: NodeId;
  readonly limits: TransportLimits;
  readonly #ctx: TransportContext;
  readonly #options: TransportOptions;
  readonly #faults: Faults;
  readonly #server: Server;
  readonly #links = new Map<NodeId, PeerLink>();
  readonly #inbound = new Set<InboundConnection>();
  /** The newest stream connection per sending node: a reconnect replaces a half-dead one. */
  readonly #streams = new Map<NodeId, InboundConnection>();
  readonly #inboundHost: InboundHost;
  readonly #dirty = new Set<PeerLink>();
  readonly #unknownLogged = new Set<NodeId>();
  /**
   * Removed members whose handshakes are refused (refusePeer), oldest first, each with whether
   * its refusal was logged yet. Bounded by limits.refusedPeersMax.
   */
  readonly #refused = new Map<NodeId, boolean>();
  #clusterId: string | null;
  #flushScheduled = false;
  #boundAddress: string | null = null;
  #started = false;
  #closed = false;
  #inboundProtocolErrors = 0;
  #inboundRefused = 0;
  #handshakesRefusedRemoved = 0;
  #flushImmediate: NodeJS.Immediate | null = null;
  #receivedFromUnknown = 0;
  #unknownPeerDrops = 0;

  constructor(options: TransportOptions) {
    assert(isValidId(options.nodeId), `nodeId must be a non-empty string of at most ${PEER_ID_LENGTH_MAX} characters`);
    assert(options.clusterId === undefined || isValidId(options.clusterId), `clusterId must be a non-empty string of at most ${PEER_ID_LENGTH_MAX} characters`);
    parsePeerAddress(options.listenAddress);
    this.nodeId = options.nodeId;
    this.#clusterId = options.clusterId ?? null;
    this.limits = resolveLimits(options.limits);
    this.#options = options;
    this.#faults = new Faults(options.rng.fork());
    const currentClusterId = (): string | null => this.#clusterId;
    this.#ctx = {
      nodeId: options.nodeId,
      // A getter: links and inbound connections read the id set by setClusterId, not a copy.
      get clusterId() {
        return currentClusterId();
      },
      limits: this.limits,
      logger: options.logger,
      faults: this.#faults,
      backoffRng: options.rng.fork(),
      deliver: (peer, message) => this.#deliver(peer, message),
      deliverApp: (peer, payload) => this.#deliverApp(peer, payload),
      unreachable: (peer) => this.#defer(() => this.#options.onUnreachable?.(peer)),
      snapshotSent: (peer, ok) => this.#defer(() => this.#options.onSnapshotSent?.(peer, ok)),
      refusedAsRemoved: (peer) => this.#refusedAsRemoved(peer),
    };
    this.#inboundHost = this.#makeInboundHost();
    this.#server = createServer((socket) => this.#accept(socket));
    const peers = options.peers instanceof Map ? options.peers : new Map(Object.entries(options.peers ?? {}));
    for (const [id, address] of peers) this.addPeer(id, address);
  }

  /** Starts listening; resolves with the bound "host:port" (the real port when 0 was asked). */
  start(): Promise<string> {
    assert(!this.#started, "Transport.start called twice");
    assert(!this.#closed, "Transport.start after close");
    this.#started = true;
    const { host, port } = parsePeerAddress(this.#options.listenAddress);
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => {
        reject(new TransportError("listen-failed", `cannot listen on ${this.#options.listenAddress}: ${error.message}`, { cause: error }));
      };
      this.#server.once("error", onError);
      this.#server.listen({ host, port }, () => {
        this.#server.off("error", onError);
        this.#server.on("error", (error) => this.#options.logger.error({ err: error }, "peer listener error"));
        const bound = this.#server.address();
        assert(bound !== null && typeof bound === "object", "a TCP listener has an address");
        this.#boundAddress = formatPeerAddress(bound.address, bound.port);
        this.#options.logger.info({ address: this.#boundAddress, clusterId: this.#clusterId }, "peer transport listening");
        resolve(this.#boundAddress);
      });
    });
  }

  /** The bound listen address; requires start() to have resolved. */
  get address(): string {
    assert(this.#boundAddress !== null, "Transport.address before start() resolved");
    return this.#boundAddress;
  }

  /** The cluster this node is in; null until it is known (see setClusterId). */
  get clusterId(): string | null {
    return this.#clusterId;
  }

  /**
   * Sets the cluster id once it is known (after the join or the bootstrap, the listener being
   * bound already): from now on handshakes of that cluster are accepted and peers may be added.
   * Setting the same id again is a no-op; another one is a bug (InvariantError).
   */
  setClusterId(clusterId: string): void {
    assert(isValidId(clusterId), () => `clusterId must be a non-empty string of at most ${PEER_ID_LENGTH_MAX} characters, got ${JSON.stringify(clusterId)}`);
    assert(this.#clusterId === null || this.#clusterId === clusterId, () => `the cluster id is ${JSON.stringify(this.#clusterId)} already; it cannot become ${JSON.stringify(clusterId)}`);
    if (this.#clusterId === clusterId) return;
    this.#clusterId = clusterId;
    this.#options.logger.info({ clusterId }, "peer transport joined a cluster");
  }

  /**
   * Adds a peer and dials it (or moves it, if known). Throws TransportError on a malformed
   * address, and InvariantError before setClusterId: a Hello names the cluster, so nothing can
   * be dialed without one (the caller sets the id first; queuing dials would hide that bug).
   */
  addPeer(id: NodeId, address: string): void {
    assert(isValidId(id), () => `peer id must be a non-empty string of at most ${PEER_ID_LENGTH_MAX} characters, got ${JSON.stringify(id)}`);
    parsePeerAddress(address);
    if (this.#closed) return;
    assert(this.#clusterId !== null, () => `peer ${JSON.stringify(id)} added before the cluster id is set (setClusterId first)`);
    if (id === this.nodeId) return;
    const link = this.#links.get(id);
    if (link !== undefined) return link.updateAddress(address);
    this.#links.set(id, new PeerLink(id, address, this.#ctx));
    this.#unknownLogged.delete(id);
  }

  /** Same as addPeer: the peer moved (its queue is kept, its connection is redialed now). */
  updatePeer(id: NodeId, address: string): void {
    this.addPeer(id, address);
  }

  /** Forgets a peer: closes its connection; its queued messages are dropped. */
  removePeer(id: NodeId): void {
    const link = this.#links.get(id);
    if (link === undefined) return;
    link.close();
    this.#links.delete(id);
    this.#dirty.delete(link);
  }

  /**
   * Refuses a member removed from the cluster, as etcd's peers do, so that it learns it was
   * removed: closes every connection from it (stream and snapshots) and its outbound link (as
   * removePeer), and from now on answers its handshakes with a refusal coded "removed", which
   * makes its transport call onRefusedAsRemoved. acceptPeer undoes it.
   */
  refusePeer(id: NodeId): void {
    assert(isValidId(id), () => `peer id must be a non-empty string of at most ${PEER_ID_LENGTH_MAX} characters, got ${JSON.stringify(id)}`);
    assert(id !== this.nodeId, "a node cannot refuse its own id");
    if (this.#closed) return;
    if (!this.#refused.has(id)) {
      this.#forgetOldestRefusalIfFull();
      this.#refused.set(id, false);
      this.#options.logger.info({ peer: id }, "refusing the connections of a peer removed from the cluster");
    }
    this.removePeer(id);
    for (const connection of [...this.#inbound]) {
      if (connection.peer === id) connection.close("the peer was removed from the cluster");
    }
  }

  /**
   * Accepts the handshakes of a peer refused by refusePeer again (it was added back to the
   * cluster). It does not dial it: addPeer does, as for any peer.
   */
  acceptPeer(id: NodeId): void {
    assert(isValidId(id), () => `peer id must be a non-empty string of at most ${PEER_ID_LENGTH_MAX} characters, got ${JSON.stringify(id)}`);
    if (this.#refused.delete(id)) this.#options.logger.info({ peer: id }, "accepting the connections of a peer again");
  }

  peers(): ReadonlyMap<NodeId, string> {
    return new Map([...this.#links].map(([id, link]) => [id, link.address]));
  }

  /**
   * Queues messages for their peers and returns at once; they leave together at the end of
   * the current tick. Never throws for a peer that is unknown or down: the message is dropped
   * and onUnreachable (or onSnapshotSent(peer, false)) reports it.
   */
  send(messages: readonly Message[]): void {
    if (this.#closed) return;
    const faults = this.#faults.active ? this.#faults : null;
    const readyAtMs = faults !== null && faults.delayMs > 0 ? performance.now() + faults.delayMs : 0;
    let overflowed: Set<PeerLink> | null = null;
    for (const message of messages) {
      this.#checkOutgoing(message);
      const link = this.#links.get(message.to);
      if (link === undefined) {
        this.#dropForUnknownPeer(message);
        continue;
      }
      const copies = faults === null ? 1 : faults.copiesToSend(message.to);
      if (copies === 0) {
        link.faultDropped++;
        if (message.type === MessageType.Snapshot) link.snapshotFailed();
        continue;
      }
      if (message.type === MessageType.Snapshot) {
        link.sendSnapshot(message);
        continue;
      }
      if (!enqueueCopies(link, message, estimateMessageBytes(message), copies, readyAtMs)) (overflowed ??= new Set()).add(link);
      this.#dirty.add(link);
    }
    if (overflowed !== null) for (const link of overflowed) this.#ctx.unreachable(link.id);
    this.#scheduleFlush();
  }

  /**
   * Writes everything queued so far now, rather than at the end of the current task: for
   * messages that must not wait behind the caller's next piece of synchronous work (a
   * follower's append acknowledgement ahead of its apply).
   */
  flush(): void {
    if (this.#closed || this.#dirty.size === 0) return;
    this.#flush();
  }

  /**
   * Queues an app frame (the node's own protocol, e.g. a forwarded write) for `to`, in order
   * with the Raft messages sent to it. Returns false, sending nothing, when the peer is unknown,
   * not connected right now, or the payload exceeds the frame limit: the caller then knows for
   * certain it was not delivered. true means queued: it may still be lost with the connection.
   */
  sendApp(to: NodeId, payload: Uint8Array): boolean {
    if (this.#closed) return false;
    const link = this.#links.get(to);
    if (link === undefined || !link.connected || payload.byteLength + 1 > this.limits.frameBytesMax) return false;
    const faults = this.#faults.active ? this.#faults : null;
    const copies = faults === null ? 1 : faults.copiesToSend(to);
    if (copies === 0) {
      link.faultDropped++;
      return true; // lost "in the network": the sender must not learn it from the return value
    }
    const readyAtMs = faults !== null && faults.delayMs > 0 ? performance.now() + faults.delayMs : 0;
    if (!enqueueCopies(link, { appPayload: payload }, payload.byteLength + APP_FRAME_OVERHEAD_BYTES, copies, readyAtMs)) this.#ctx.unreachable(to);
    this.#dirty.add(link);
    // After the current I/O phase rather than at the end of this task: app frames come one per
    // client request, and all the requests read in one phase then leave in one write per peer.
    this.#scheduleFlush(true);
    return true;
  }

  /** Installs (or with null, clears) the fault hook. Applies to messages sent from now on. */
  setFaults(faults: FaultConfig | null): void {
    this.#faults.set(faults);
  }

  stats(): TransportStats {
    const peers: Record<NodeId, PeerStats> = {};
    for (const [id, link] of this.#links) peers[id] = link.stats();
    return {
      address: this.#boundAddress,
      peers,
      inboundConnections: this.#inbound.size,
      inboundSnapshots: this.#inboundHost.inboundSnapshots,
      inboundProtocolErrors: this.#inboundProtocolErrors,
      inboundRefused: this.#inboundRefused,
      handshakesRefusedRemoved: this.#handshakesRefusedRemoved,
      receivedFromUnknown: this.#receivedFromUnknown,
      unknownPeerDrops: this.#unknownPeerDrops,
    };
  }

  /** Closes the listener and every connection; queued messages and snapshots in flight are dropped, with no callbacks. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#flushImmediate !== null) clearImmediate(this.#flushImmediate);
    this.#flushImmediate = null;
    for (const link of this.#links.values()) link.close();
    this.#links.clear();
    this.#dirty.clear();
    for (const connection of [...this.#inbound]) connection.close("transport closed");
    this.#streams.clear();
    if (this.#server.listening) {
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    }
    this.#options.logger.info({ address: this.#boundAddress }, "peer transport closed");
  }

  /** Bugs in the caller, checked per message without allocating (this is the hot path). */
  #checkOutgoing(message: Message): void {
    if (!isNetworkMessageType(message.type)) {
      throw new InvariantError(`a local ${message.type} message cannot be sent to a peer`);
    }
    if (message.from !== this.nodeId && message.type !== MessageType.TransferLeader) {
      throw new InvariantError(`a ${message.type} message from ${message.from} sent by ${this.nodeId}`);
    }
    if ((message.type === MessageType.Snapshot) !== (message.snapshot !== undefined)) {
      throw new InvariantError(`a ${message.type} message with${message.snapshot === undefined ? "out" : ""} a snapshot`);
    }
  }

  #dropForUnknownPeer(message: Message): void {
    this.#unknownPeerDrops++;
    if (!this.#unknownLogged.has(message.to)) {
      if (this.#unknownLogged.size >= UNKNOWN_PEERS_LOGGED_MAX) this.#unknownLogged.clear();
      this.#unknownLogged.add(message.to);
      this.#options.logger.warn({ peer: message.to, type: message.type }, "message to an unknown peer dropped (logged once per peer)");
    }
    if (message.type === MessageType.Snapshot) this.#ctx.snapshotSent(message.to, false);
    this.#ctx.unreachable(message.to);
  }

  #scheduleFlush(afterIo = false): void {
    if (this.#dirty.size === 0) return;
    if (afterIo) {
      if (this.#flushScheduled || this.#flushImmediate !== null) return;
      this.#flushImmediate = setImmediate(() => this.#flush());
      return;
    }
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // A microtask: everything sent in this tick leaves in one write per peer, with no timer delay.
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#flushImmediate !== null) clearImmediate(this.#flushImmediate);
    this.#flushImmediate = null;
    for (const link of this.#dirty) link.flush();
    this.#dirty.clear();
  }

  #deliver(peer: NodeId, message: Message): boolean {
    const link = this.#links.get(peer);
    if (this.#faults.active && this.#faults.blocksReceiveFrom(peer)) {
      if (link !== undefined) link.faultDropped++;
      return false;
    }
    if (link !== undefined) link.received++;
    else this.#receivedFromUnknown++;
    this.#options.onMessage(message);
    return true;
  }

  #deliverApp(peer: NodeId, payload: Uint8Array): void {
    const link = this.#links.get(peer);
    if (this.#faults.active && this.#faults.blocksReceiveFrom(peer)) {
      if (link !== undefined) link.faultDropped++;
      return;
    }
    if (link !== undefined) link.received++;
    else this.#receivedFromUnknown++;
    this.#options.onApp?.(peer, payload);
  }

  /** A peer refused this node as removed (from dial.ts, inside a socket callback). */
  #refusedAsRemoved(peer: NodeId): void {
    const link = this.#links.get(peer);
    if (link === undefined || link.firstRefusalAsRemoved()) {
      this.#options.logger.warn({ peer, clusterId: this.#clusterId }, "peer refuses this node: it removed this node from the cluster (logged once until it accepts this node again)");
    }
    this.#defer(() => this.#options.onRefusedAsRemoved?.(peer));
  }

  #forgetOldestRefusalIfFull(): void {
    if (this.#refused.size < this.limits.refusedPeersMax) return;
    const oldest = this.#refused.keys().next();
    assert(oldest.done !== true, "a full refusal map has an oldest entry");
    this.#refused.delete(oldest.value);
    this.#options.logger.warn({ peer: oldest.value, limit: this.limits.refusedPeersMax }, "forgot the oldest refused peer: too many refused peers; its handshakes are accepted again");
  }

  #defer(callback: () => void): void {
    queueMicrotask(() => {
      if (!this.#closed) callback();
    });
  }

  #accept(socket: Socket): void {
    if (this.#closed || this.#inbound.size >= this.limits.inboundConnectionsMax) {
      this.#inboundRefused++;
      if (!this.#closed) this.#options.logger.warn({ remote: socket.remoteAddress, limit: this.limits.inboundConnectionsMax }, "inbound peer connection refused: too many open");
      socket.destroy();
      return;
    }
    this.#inbound.add(new InboundConnection(socket, this.#inboundHost));
  }

  #makeInboundHost(): InboundHost {
    return {
      ctx: this.#ctx,
      inboundSnapshots: 0,
      streamOpened: (peer, connection) => {
        const previous = this.#streams.get(peer);
        this.#streams.set(peer, connection);
        previous?.close("replaced by a newer connection from the same peer");
      },
      closed: (connection, error) => {
        this.#inbound.delete(connection);
        const peer = connection.peer;
        if (peer !== null && this.#streams.get(peer) === connection) this.#streams.delete(peer);
        if (error !== null) this.#inboundProtocolErrors++;
      },
      isRefused: (peer) => this.#refused.has(peer),
      countRefusedRemoved: (peer) => {
        this.#handshakesRefusedRemoved++;
        if (this.#refused.get(peer) !== false) return false;
        this.#refused.set(peer, true);
        return true;
      },
    };
  }
}

function isValidId(id: unknown): id is string {
  return typeof id === "string" && id.length > 0 && id.length <= PEER_ID_LENGTH_MAX;
}
