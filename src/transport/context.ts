/**
 * What the parts of a Transport share: identity, limits, logger and the callbacks into the
 * node. Kept in one object so links, snapshot streams and inbound connections stay small.
 */
import type { Message, NodeId } from "../raft/types.js";
import { assert } from "../util/assert.js";
import {
  PEER_CONNECT_TIMEOUT_MS,
  PEER_FRAME_BYTES_MAX,
  PEER_HANDSHAKE_BYTES_MAX,
  PEER_INBOUND_CONNECTIONS_MAX,
  PEER_KEEPALIVE_DELAY_MS,
  PEER_QUEUE_BYTES_MAX,
  PEER_QUEUE_MESSAGES_MAX,
  PEER_REFUSED_IDS_MAX,
  PEER_RECONNECT_BACKOFF_MAX_MS,
  PEER_RECONNECT_BACKOFF_MIN_MS,
  PEER_WRITE_BATCH_BYTES_MAX,
  PEER_WRITE_COPY_BYTES_MAX,
  SNAPSHOT_BYTES_MAX,
  SNAPSHOT_CHUNK_BYTES,
  SNAPSHOT_IDLE_TIMEOUT_MS,
  SNAPSHOT_INBOUND_STREAMS_MAX,
} from "../util/limits.js";
import type { Rng } from "../util/rng.js";
import type { Faults } from "./faults.js";
import type { TransportLogger } from "./logger.js";


/** Every limit a Transport enforces; the defaults are the named limits of src/util/limits.ts. */
export interface TransportLimits {
  readonly frameBytesMax: number;
  readonly handshakeBytesMax: number;
  readonly queueMessagesMax: number;
  readonly queueBytesMax: number;
  readonly writeBatchBytesMax: number;
  readonly writeCopyBytesMax: number;
  readonly reconnectBackoffMinMs: number;
  readonly reconnectBackoffMaxMs: number;
  readonly connectTimeoutMs: number;
  readonly keepAliveDelayMs: number;
  readonly inboundConnectionsMax: number;
  readonly snapshotChunkBytes: number;
  readonly snapshotBytesMax: number;
  readonly snapshotInboundStreamsMax: number;
  readonly snapshotIdleTimeoutMs: number;
  readonly refusedPeersMax: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = Object.freeze({
  frameBytesMax: PEER_FRAME_BYTES_MAX,
  handshakeBytesMax: PEER_HANDSHAKE_BYTES_MAX,
  queueMessagesMax: PEER_QUEUE_MESSAGES_MAX,
  queueBytesMax: PEER_QUEUE_BYTES_MAX,
  writeBatchBytesMax: PEER_WRITE_BATCH_BYTES_MAX,
  writeCopyBytesMax: PEER_WRITE_COPY_BYTES_MAX,
  reconnectBackoffMinMs: PEER_RECONNECT_BACKOFF_MIN_MS,
  reconnectBackoffMaxMs: PEER_RECONNECT_BACKOFF_MAX_MS,
  connectTimeoutMs: PEER_CONNECT_TIMEOUT_MS,
  keepAliveDelayMs: PEER_KEEPALIVE_DELAY_MS,
  inboundConnectionsMax: PEER_INBOUND_CONNECTIONS_MAX,
  snapshotChunkBytes: SNAPSHOT_CHUNK_BYTES,
  snapshotBytesMax: SNAPSHOT_BYTES_MAX,
  snapshotInboundStreamsMax: SNAPSHOT_INBOUND_STREAMS_MAX,
  snapshotIdleTimeoutMs: SNAPSHOT_IDLE_TIMEOUT_MS,
  refusedPeersMax: PEER_REFUSED_IDS_MAX,
});

export function resolveLimits(overrides: Partial<TransportLimits> | undefined): TransportLimits {
  const given = Object.entries(overrides ?? {}).filter(([, value]) => value !== undefined);
  const limits: TransportLimits = { ...DEFAULT_TRANSPORT_LIMITS, ...Object.fromEntries(given) };
  for (const [name, value] of Object.entries(limits)) {
    assert(Number.isSafeInteger(value) && value > 0, `transport limit ${name} must be a positive integer, got ${value}`);
  }
  assert(limits.handshakeBytesMax <= limits.frameBytesMax, "handshakeBytesMax must not exceed frameBytesMax");
  assert(limits.snapshotChunkBytes + 64 <= limits.frameBytesMax, "a snapshot chunk must fit in a frame");
  assert(limits.reconnectBackoffMinMs <= limits.reconnectBackoffMaxMs, "reconnect backoff min must not exceed max");
  assert(limits.snapshotBytesMax <= 2 ** 32 - 1, "snapshotBytesMax must fit in one Buffer");
  return Object.freeze(limits);
}

export interface TransportContext {
  readonly nodeId: NodeId;
  /**
   * The cluster this node is in, read live (setClusterId may set it after the listener is
   * bound); null until then: inbound handshakes are refused and nothing is dialed.
   */
  readonly clusterId: string | null;
  readonly limits: TransportLimits;
  readonly logger: TransportLogger;
  readonly faults: Faults;
  /** Reconnection jitter; separate from the fault Rng so fault decisions replay exactly. */
  readonly backoffRng: Rng;
  /** Hands a validated inbound message to the node; false if the fault hook dropped it. */
  deliver(peer: NodeId, message: Message): boolean;
  /** Hands an app frame's bytes (a view into the received frame) to the node. */
  deliverApp(peer: NodeId, payload: Uint8Array): void;
  unreachable(peer: NodeId): void;
  snapshotSent(peer: NodeId, ok: boolean): void;
  /** A handshake to `peer` was refused because it removed this node from the cluster. */
  refusedAsRemoved(peer: NodeId): void;
}
