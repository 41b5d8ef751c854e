/**
 * The accepting side of a connection: check the Hello, then either deliver the messages of a
 * stream connection or reassemble the snapshot of a snapshot connection. Whatever arrives is
 * validated before it reaches the node; a violation closes this connection and nothing else.
 */
import type { Socket } from "node:net";
import { MessageType, type Message, type NodeId } from "../raft/types.js";
import { assert } from "../util/assert.js";
import { PeerConnection } from "./connection.js";
import type { TransportContext } from "./context.js";
import { TransportError } from "./errors.js";
import {
  decodeHello,
  decodeMessage,
  decodeSnapshotHeader,
  encodeHelloAccepted,
  encodeHelloRefused,
  encodeSnapshotAck,
  FrameKind,
  REFUSAL_CODE_NONE,
  REFUSAL_CODE_REMOVED,
  type Hello,
  type HelloRefused,
} from "./wire.js";

/** What an inbound connection needs from the transport besides the shared context. */
export interface InboundHost {
  readonly ctx: TransportContext;
  /** Snapshot streams being received right now (bounded). */
  inboundSnapshots: number;
  /** A stream connection from `peer` completed its handshake (an older one is replaced). */
  streamOpened(peer: NodeId, connection: InboundConnection): void;
  /** The connection is gone; `error` is set when it broke the protocol. */
  closed(connection: InboundConnection, error: TransportError | null): void;
  /** `peer` was removed from the cluster (Transport.refusePeer): its handshakes are refused. */
  isRefused(peer: NodeId): boolean;
  /** Counts one refused handshake of a removed peer; true for the first since its removal (the one to log). */
  countRefusedRemoved(peer: NodeId): boolean;
}

type Phase =
  | { readonly name: "hello" }
  | { readonly name: "stream"; readonly peer: NodeId }
  | { readonly name: "snapshot-header"; readonly peer: NodeId }
  | { readonly name: "snapshot-data"; readonly peer: NodeId; readonly message: Message; readonly data: Buffer; filled: number }
  | { readonly name: "done" };

export class InboundConnection {
  readonly #host: InboundHost;
  readonly #connection: PeerConnection;
  #phase: Phase = { name: "hello" };
  #holdsSnapshotSlot = false;
  #peer: NodeId | null = null;

  constructor(socket: Socket, host: InboundHost) {
    this.#host = host;
    const { limits, logger } = host.ctx;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, limits.keepAliveDelayMs);
    socket.setTimeout(limits.connectTimeoutMs);
    this.#connection = new PeerConnection(socket, limits.handshakeBytesMax, logger, { direction: "inbound" }, {
      onFrame: (kind, body) => this.#onFrame(kind, body),
      onClose: (_reason, error) => this.#onClose(error),
    });
  }

  /** The peer that shook hands, once it has. */
  get peer(): NodeId | null {
    return this.#peer;
  }

  close(reason: string): void {
    this.#connection.close(reason);
  }

  #onFrame(kind: number, body: Buffer): void {
    const phase = this.#phase;
    switch (phase.name) {
      case "hello":
        expectKind(kind, FrameKind.Hello, "a handshake");
        return this.#onHello(body);
      case "stream":
        if (kind === FrameKind.App) return this.#host.ctx.deliverApp(phase.peer, body);
        expectKind(kind, FrameKind.Message, "a message");
        return this.#onMessage(phase.peer, decodeMessage(body));
      case "snapshot-header":
        expectKind(kind, FrameKind.SnapshotHeader, "a snapshot header");
        return this.#onSnapshotHeader(phase.peer, body);
      case "snapshot-data":
        expectKind(kind, FrameKind.SnapshotChunk, "a snapshot chunk");
        return this.#onSnapshotChunk(phase, body);
      case "done":
        throw new TransportError("bad-frame", `unexpected frame kind ${kind} after the exchange was complete`);
    }
  }

  #onHello(body: Buffer): void {
    let hello: Hello;
    try {
      hello = decodeHello(body);
    } catch (error) {
      if (error instanceof TransportError && error.code === "handshake-refused") return this.#refuse({ reason: error.message, code: REFUSAL_CODE_NONE });
      throw error;
    }
    const refusal = this.#refusalOf(hello);
    if (refusal !== null) {
      // A removed member redials for as long as it runs: one line per removal, the rest only counted.
      const log = refusal.code !== REFUSAL_CODE_REMOVED || this.#host.countRefusedRemoved(hello.from);
      return this.#refuse(refusal, hello.from, log);
    }
    const { ctx } = this.#host;
    const clusterId = ctx.clusterId;
    assert(clusterId !== null, "a handshake accepted before this node knows its cluster id");
    this.#peer = hello.from;
    this.#connection.logFields = { direction: "inbound", peer: hello.from, purpose: hello.purpose };
    this.#connection.setFrameBytesMax(ctx.limits.frameBytesMax);
    this.#connection.write(encodeHelloAccepted({ clusterId, nodeId: ctx.nodeId }));
    if (hello.purpose === "stream") {
      this.#connection.socket.setTimeout(0);
      this.#phase = { name: "stream", peer: hello.from };
      this.#host.streamOpened(hello.from, this);
    } else {
      this.#connection.socket.setTimeout(ctx.limits.snapshotIdleTimeoutMs);
      this.#host.inboundSnapshots++;
      this.#holdsSnapshotSlot = true;
      this.#phase = { name: "snapshot-header", peer: hello.from };
    }
  }

  #refusalOf(hello: Hello): HelloRefused | null {
    const { ctx } = this.#host;
    const refused = (reason: string): HelloRefused => ({ reason, code: REFUSAL_CODE_NONE });
    // The listener is bound before the node joins or bootstraps; until then it belongs to no cluster.
    if (ctx.clusterId === null) return refused("this node has not joined a cluster yet");
    if (hello.clusterId !== ctx.clusterId) {
      return refused(`cluster id mismatch: the peer is in cluster ${JSON.stringify(hello.clusterId)}, this node in ${JSON.stringify(ctx.clusterId)}`);
    }
    if (hello.to !== ctx.nodeId) return refused(`this is node ${JSON.stringify(ctx.nodeId)}, not ${JSON.stringify(hello.to)}`);
    if (hello.from === ctx.nodeId) return refused(`the peer claims this node's own id ${JSON.stringify(ctx.nodeId)}`);
    if (this.#host.isRefused(hello.from)) {
      return { reason: `node ${JSON.stringify(hello.from)} was removed from the cluster; ${JSON.stringify(ctx.nodeId)} refuses its connections`, code: REFUSAL_CODE_REMOVED };
    }
    if (hello.purpose === "snapshot" && this.#host.inboundSnapshots >= ctx.limits.snapshotInboundStreamsMax) {
      return refused(`too many snapshot streams in progress (limit ${ctx.limits.snapshotInboundStreamsMax})`);
    }
    return null;
  }

  #refuse(refusal: HelloRefused, peer?: NodeId, log = true): void {
    if (log) {
      const code = refusal.code === REFUSAL_CODE_NONE ? {} : { code: refusal.code };
      this.#host.ctx.logger.warn({ remote: this.#connection.remote, peer, reason: refusal.reason, ...code }, "refused peer handshake");
    }
    this.#phase = { name: "done" };
    this.#connection.endWith(encodeHelloRefused(refusal), "handshake refused");
  }

  #onMessage(peer: NodeId, message: Message): void {
    checkAddressing(message, peer, this.#host.ctx.nodeId);
    this.#host.ctx.deliver(peer, message);
  }

  #onSnapshotHeader(peer: NodeId, body: Buffer): void {
    const { message, totalBytes } = decodeSnapshotHeader(body);
    checkAddressing(message, peer, this.#host.ctx.nodeId);
    const { snapshotBytesMax } = this.#host.ctx.limits;
    if (totalBytes > snapshotBytesMax) {
      throw new TransportError("bad-message", `snapshot of ${totalBytes} bytes exceeds the maximum of ${snapshotBytesMax}`);
    }
    // allocUnsafe: every byte is overwritten by a chunk before delivery (checked by `filled`).
    const phase = { name: "snapshot-data" as const, peer, message, data: Buffer.allocUnsafe(totalBytes), filled: 0 };
    this.#phase = phase;
    if (totalBytes === 0) this.#completeSnapshot(phase);
  }

  #onSnapshotChunk(phase: Extract<Phase, { name: "snapshot-data" }>, chunk: Buffer): void {
    if (chunk.length === 0) throw new TransportError("bad-message", "empty snapshot chunk");
    if (phase.filled + chunk.length > phase.data.length) {
      throw new TransportError("bad-message", `snapshot chunk overflows the announced size of ${phase.data.length} bytes`);
    }
    chunk.copy(phase.data, phase.filled);
    phase.filled += chunk.length;
    if (phase.filled === phase.data.length) this.#completeSnapshot(phase);
  }

  #completeSnapshot(phase: Extract<Phase, { name: "snapshot-data" }>): void {
    assert(phase.filled === phase.data.length, "snapshot delivered before every byte arrived");
    this.#phase = { name: "done" };
    this.#releaseSnapshotSlot();
    const snapshot = phase.message.snapshot!;
    const data = new Uint8Array(phase.data.buffer, phase.data.byteOffset, phase.data.byteLength);
    const delivered = this.#host.ctx.deliver(phase.peer, { ...phase.message, snapshot: { meta: snapshot.meta, data } });
    const ack = delivered ? { ok: true, reason: "" } : { ok: false, reason: "dropped by the fault hook" };
    this.#connection.endWith(encodeSnapshotAck(ack), "snapshot received");
  }

  #releaseSnapshotSlot(): void {
    if (!this.#holdsSnapshotSlot) return;
    this.#holdsSnapshotSlot = false;
    this.#host.inboundSnapshots--;
  }

  #onClose(error: TransportError | null): void {
    this.#releaseSnapshotSlot();
    this.#phase = { name: "done" };
    this.#host.closed(this, error);
  }
}

function expectKind(kind: number, expected: FrameKind, what: string): void {
  if (kind !== expected) throw new TransportError("bad-frame", `expected ${what} (frame kind ${expected}), got frame kind ${kind}`);
}

/**
 * A frame's sender must be the node that shook hands, and it must be addressed to this node.
 * TransferLeader is the exception for `from`: it names the proposed new leader, which a
 * follower forwards to the leader unchanged (etcd's semantics).
 */
function checkAddressing(message: Message, peer: NodeId, self: NodeId): void {
  if (message.from !== peer && message.type !== MessageType.TransferLeader) {
    throw new TransportError("bad-message", `message.from is ${JSON.stringify(message.from)} but the connection is from ${JSON.stringify(peer)}`);
  }
  if (message.to !== self) throw new TransportError("bad-message", `message.to is ${JSON.stringify(message.to)}, this node is ${JSON.stringify(self)}`);
}
