/**
 * Opening a connection to a peer: connect, send Hello, and check the reply names the cluster
 * and the node we meant to reach. Shared by the message stream and snapshot streams.
 */
import { connect } from "node:net";
import type { NodeId } from "../raft/types.js";
import { parsePeerAddress } from "./address.js";
import { PeerConnection } from "./connection.js";
import type { TransportContext } from "./context.js";
import { TransportError } from "./errors.js";
import { assert } from "../util/assert.js";
import { decodeHelloAccepted, decodeHelloRefused, encodeHello, FrameKind, REFUSAL_CODE_REMOVED, type ConnectionPurpose } from "./wire.js";

export interface DialHandlers {
  /** The peer accepted the handshake: frames may flow. */
  onAccepted(): void;
  /** A frame after the handshake. Throwing a TransportError closes the connection. */
  onFrame(kind: number, body: Buffer): void;
  onClose(reason: string, error: TransportError | null): void;
}

export function dialPeer(ctx: TransportContext, peer: NodeId, address: string, purpose: ConnectionPurpose, handlers: DialHandlers): PeerConnection {
  const clusterId = ctx.clusterId;
  // Peers are added only once the cluster id is known (Transport.addPeer asserts it).
  assert(clusterId !== null, () => `dialing ${peer} before this node knows its cluster id`);
  const { host, port } = parsePeerAddress(address);
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  socket.setKeepAlive(true, ctx.limits.keepAliveDelayMs);
  socket.setTimeout(ctx.limits.connectTimeoutMs);
  let accepted = false;
  const connection = new PeerConnection(socket, ctx.limits.handshakeBytesMax, ctx.logger, { peer, address, purpose }, {
    onFrame(kind, body) {
      if (accepted) return handlers.onFrame(kind, body);
      checkHandshakeReply(ctx, peer, kind, body);
      accepted = true;
      connection.setFrameBytesMax(ctx.limits.frameBytesMax);
      handlers.onAccepted();
    },
    onClose: handlers.onClose,
  });
  connection.write(encodeHello({ clusterId, from: ctx.nodeId, to: peer, purpose }));
  return connection;
}

function checkHandshakeReply(ctx: TransportContext, peer: NodeId, kind: number, body: Buffer): void {
  if (kind === FrameKind.HelloRefused) {
    const refused = decodeHelloRefused(body);
    if (refused.code === REFUSAL_CODE_REMOVED) ctx.refusedAsRemoved(peer);
    throw new TransportError("handshake-refused", `refused by the peer: ${refused.reason}`);
  }
  if (kind !== FrameKind.HelloAccepted) {
    throw new TransportError("bad-frame", `expected a handshake reply, got frame kind ${kind}`);
  }
  const accepted = decodeHelloAccepted(body);
  if (accepted.clusterId !== ctx.clusterId) {
    throw new TransportError("handshake-refused", `the peer is in cluster ${JSON.stringify(accepted.clusterId)}, this node in ${JSON.stringify(ctx.clusterId)}`);
  }
  if (accepted.nodeId !== peer) {
    throw new TransportError("handshake-refused", `the node at this address is ${JSON.stringify(accepted.nodeId)}, not ${JSON.stringify(peer)}`);
  }
}
