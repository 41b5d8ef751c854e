/**
 * Streams one snapshot to a peer on its own connection: header, then the data in chunk
 * frames written straight from the snapshot's bytes (no copy), waiting for 'drain' whenever
 * the socket is full, then waits for the receiver's acknowledgement. The result goes to Raft
 * (reportSnapshot) through onSnapshotSent.
 *
 * Its own connection keeps heartbeats and appends to other peers, and to this peer, flowing
 * on the stream connection while megabytes of snapshot are in transit.
 */
import { performance } from "node:perf_hooks";
import type { Message, NodeId } from "../raft/types.js";
import { assert } from "../util/assert.js";
import type { PeerConnection } from "./connection.js";
import type { TransportContext } from "./context.js";
import { dialPeer } from "./dial.js";
import { TransportError } from "./errors.js";
import { decodeSnapshotAck, encodeFrameHeader, encodeSnapshotHeader, FrameKind } from "./wire.js";

export interface SnapshotSenderEvents {
  onChunk(): void;
  /** Called once, unless the sender is aborted. */
  onDone(ok: boolean): void;
}

type Phase = "handshake" | "streaming" | "awaiting-ack" | "done";

export class SnapshotSender {
  readonly #ctx: TransportContext;
  readonly #peer: NodeId;
  readonly #message: Message;
  readonly #data: Uint8Array;
  readonly #events: SnapshotSenderEvents;
  readonly #connection: PeerConnection;
  readonly #startedMs = performance.now();
  #phase: Phase = "handshake";

  constructor(ctx: TransportContext, peer: NodeId, address: string, message: Message, events: SnapshotSenderEvents) {
    assert(message.snapshot !== undefined, "a snapshot message without a snapshot");
    this.#ctx = ctx;
    this.#peer = peer;
    this.#message = message;
    this.#data = message.snapshot.data;
    this.#events = events;
    this.#connection = dialPeer(ctx, peer, address, "snapshot", {
      onAccepted: () => void this.#stream(),
      onFrame: (kind, body) => this.#onFrame(kind, body),
      onClose: (reason) => this.#finish(false, reason),
    });
  }

  /** The transport is closing: stop without reporting. */
  abort(): void {
    this.#phase = "done";
    this.#connection.close("transport closed");
  }

  async #stream(): Promise<void> {
    const socket = this.#connection.socket;
    socket.setTimeout(this.#ctx.limits.snapshotIdleTimeoutMs);
    this.#phase = "streaming";
    this.#connection.write(encodeSnapshotHeader(this.#message));
    const chunkBytes = this.#ctx.limits.snapshotChunkBytes;
    for (let offset = 0; offset < this.#data.byteLength; offset += chunkBytes) {
      const chunk = this.#data.subarray(offset, Math.min(offset + chunkBytes, this.#data.byteLength));
      socket.cork();
      this.#connection.write(encodeFrameHeader(FrameKind.SnapshotChunk, chunk.byteLength));
      const accepted = this.#connection.write(chunk);
      socket.uncork();
      this.#events.onChunk();
      if (!accepted) await this.#drained();
      if (this.#phase !== "streaming") return;
    }
    this.#phase = "awaiting-ack";
  }

  /** Resolves when the socket wants more, or when the connection is gone. */
  #drained(): Promise<void> {
    const socket = this.#connection.socket;
    return new Promise((resolve) => {
      const done = (): void => {
        socket.off("drain", done);
        socket.off("close", done);
        resolve();
      };
      socket.on("drain", done);
      socket.on("close", done);
    });
  }

  #onFrame(kind: number, body: Buffer): void {
    if (kind !== FrameKind.SnapshotAck) {
      throw new TransportError("bad-frame", `unexpected frame kind ${kind} on a snapshot connection`);
    }
    if (this.#phase !== "awaiting-ack" && this.#phase !== "streaming") {
      throw new TransportError("bad-frame", "snapshot acknowledgement before the snapshot was sent");
    }
    const ack = decodeSnapshotAck(body);
    // The receiver may refuse early (streaming) but can only accept once it has every byte.
    if (ack.ok && this.#phase !== "awaiting-ack") throw new TransportError("bad-message", "snapshot accepted before it was fully sent");
    this.#finish(ack.ok, ack.ok ? "acknowledged" : `refused by the peer: ${ack.reason}`);
  }

  #finish(ok: boolean, reason: string): void {
    if (this.#phase === "done") return;
    this.#phase = "done";
    this.#connection.close(reason);
    const fields = { peer: this.#peer, index: this.#message.snapshot!.meta.index, bytes: this.#data.byteLength, ms: Math.round(performance.now() - this.#startedMs) };
    if (ok) this.#ctx.logger.info(fields, "snapshot sent");
    else this.#ctx.logger.warn({ ...fields, reason }, "snapshot send failed");
    this.#events.onDone(ok);
  }
}
