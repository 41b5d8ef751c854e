/**
 * The outbound side of one peer: a persistent "stream" connection, the bounded queue of
 * messages waiting for it, reconnection with exponential backoff and jitter, and the
 * snapshot stream in flight to that peer (at most one).
 */
import { performance } from "node:perf_hooks";
import { MessageType, type Message, type NodeId } from "../raft/types.js";
import { assert } from "../util/assert.js";
import type { PeerConnection } from "./connection.js";
import type { TransportContext } from "./context.js";
import { dialPeer } from "./dial.js";
import { TransportError } from "./errors.js";
import { PeerQueue, type Outbound } from "./peer-queue.js";
import { SnapshotSender } from "./snapshot-sender.js";
import { encodeAppFrame, encodeMessage, isAppFrame, LENGTH_PREFIX_BYTES } from "./wire.js";

export interface PeerStats {
  readonly address: string;
  /** The stream connection is up (handshake accepted). */
  readonly connected: boolean;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  /** Messages handed to the socket. */
  readonly sent: number;
  /** Messages from this peer delivered to onMessage. */
  readonly received: number;
  /** Messages lost to a full queue, an encoding over the frame limit, or removal/close. */
  readonly dropped: number;
  /** Messages lost to the fault hook (both directions). */
  readonly faultDropped: number;
  /** Connection attempts after a failed or lost one. */
  readonly reconnects: number;
  readonly snapshotsSent: number;
  readonly snapshotsFailed: number;
  readonly snapshotChunksSent: number;
}

type LinkState = "connecting" | "ready" | "backoff" | "closed";

export class PeerLink {
  readonly id: NodeId;
  #address: string;
  readonly #ctx: TransportContext;
  readonly #queue: PeerQueue;
  #state: LinkState = "connecting";
  #connection: PeerConnection | null = null;
  #failures = 0;
  #timer: NodeJS.Timeout | null = null;
  #delayTimer: NodeJS.Timeout | null = null;
  #snapshot: SnapshotSender | null = null;
  #quietFailures = false;
  /** This peer's refusal as a removed member was logged; cleared when it accepts again. */
  #refusedAsRemovedLogged = false;
  #sent = 0;
  #dropped = 0;
  #reconnects = 0;
  #snapshotsSent = 0;
  #snapshotsFailed = 0;
  #snapshotChunksSent = 0;
  received = 0;
  faultDropped = 0;

  constructor(id: NodeId, address: string, ctx: TransportContext) {
    this.id = id;
    this.#address = address;
    this.#ctx = ctx;
    this.#queue = new PeerQueue(ctx.limits.queueMessagesMax, ctx.limits.queueBytesMax);
    this.#connect();
  }

  get address(): string {
    return this.#address;
  }

  /** The stream connection is up (handshake accepted): what is queued now leaves at the next flush. */
  get connected(): boolean {
    return this.#state === "ready";
  }

  /** Queues a message; returns false if it or older ones were dropped to stay in bounds. */
  enqueue(message: Outbound, bytes: number, readyAtMs: number): boolean {
    assert(this.#state !== "closed", "enqueue on a closed link");
    const dropped = this.#queue.push(message, bytes, readyAtMs);
    this.#dropped += dropped;
    return dropped === 0;
  }

  /** Writes queued messages while the socket accepts them, in bursts of one write each. */
  flush(): void {
    const connection = this.#connection;
    if (this.#state !== "ready" || connection === null) return;
    const now = this.#ctx.faults.delayMs > 0 ? performance.now() : Infinity;
    const { writeBatchBytesMax, writeCopyBytesMax, frameBytesMax } = this.#ctx.limits;
    while (this.#queue.length > 0 && !connection.socket.writableNeedDrain && !connection.closed) {
      const frames: Buffer[] = [];
      let bytes = 0;
      while (this.#queue.length > 0 && bytes < writeBatchBytesMax) {
        if (this.#queue.headReadyAtMs() > now) break;
        const next = this.#queue.shift();
        const frame = isAppFrame(next) ? encodeAppFrame(next.appPayload) : encodeMessage(next);
        if (frame.length - LENGTH_PREFIX_BYTES > frameBytesMax) {
          this.#dropOversized(frame.length);
          continue;
        }
        frames.push(frame);
        bytes += frame.length;
      }
      connection.writeFrames(frames, bytes, writeCopyBytesMax);
      this.#sent += frames.length;
      if (frames.length === 0) break;
    }
    this.#scheduleDelayed(now);
  }

  sendSnapshot(message: Message): void {
    assert(message.type === MessageType.Snapshot && message.snapshot !== undefined, "sendSnapshot needs a snapshot message");
    if (this.#snapshot !== null) {
      this.#ctx.logger.warn({ peer: this.id, index: message.snapshot.meta.index }, "snapshot not sent: another snapshot to this peer is in flight");
      this.snapshotFailed();
      return;
    }
    this.#snapshot = new SnapshotSender(this.#ctx, this.id, this.#address, message, {
      onChunk: () => this.#snapshotChunksSent++,
      onDone: (ok) => {
        this.#snapshot = null;
        this.#snapshotDone(ok);
      },
    });
  }

  /** The peer moved: drop the connection and dial the new address now (the queue is kept). */
  updateAddress(address: string): void {
    if (address === this.#address || this.#state === "closed") return;
    this.#address = address;
    this.#failures = 0;
    this.#quietFailures = false;
    this.#clearTimer();
    const connection = this.#connection;
    this.#connection = null;
    connection?.close("peer address changed");
    this.#connect();
  }

  /** Stops for good: closes the connection and the snapshot stream; queued messages are dropped. */
  close(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#clearTimer();
    if (this.#delayTimer !== null) clearTimeout(this.#delayTimer);
    this.#dropped += this.#queue.clear();
    this.#snapshot?.abort();
    this.#snapshot = null;
    const connection = this.#connection;
    this.#connection = null;
    connection?.close("transport closed");
  }

  stats(): PeerStats {
    return {
      address: this.#address,
      connected: this.#state === "ready",
      queuedMessages: this.#queue.length,
      queuedBytes: this.#queue.bytes,
      sent: this.#sent,
      received: this.received,
      dropped: this.#dropped,
      faultDropped: this.faultDropped,
      reconnects: this.#reconnects,
      snapshotsSent: this.#snapshotsSent,
      snapshotsFailed: this.#snapshotsFailed,
      snapshotChunksSent: this.#snapshotChunksSent,
    };
  }

  #connect(): void {
    this.#state = "connecting";
    const connection = dialPeer(this.#ctx, this.id, this.#address, "stream", {
      onAccepted: () => this.#onAccepted(connection),
      onFrame: (kind) => {
        throw new TransportError("bad-frame", `unexpected frame kind ${kind} from the acceptor of a stream connection`);
      },
      onClose: (reason) => this.#onClosed(connection, reason),
    });
    this.#connection = connection;
  }

  #onAccepted(connection: PeerConnection): void {
    if (connection !== this.#connection) return;
    connection.socket.setTimeout(0);
    connection.socket.on("drain", () => this.flush());
    this.#state = "ready";
    this.#failures = 0;
    this.#quietFailures = false;
    this.#refusedAsRemovedLogged = false;
    this.#ctx.logger.info({ peer: this.id, address: this.#address }, "connected to peer");
    this.flush();
  }

  #onClosed(connection: PeerConnection, reason: string): void {
    if (connection !== this.#connection || this.#state === "closed") return;
    this.#connection = null;
    const wasReady = this.#state === "ready";
    this.#failures++;
    const delayMs = this.#backoffMs();
    if (wasReady || !this.#quietFailures) {
      // Logged once per outage, not per attempt: a peer that is down for an hour is one line.
      this.#ctx.logger.warn({ peer: this.id, address: this.#address, reason, retryInMs: Math.round(delayMs) }, wasReady ? "lost connection to peer" : "cannot connect to peer");
      this.#quietFailures = true;
    }
    this.#state = "backoff";
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#reconnects++;
      this.#connect();
    }, delayMs);
    this.#ctx.unreachable(this.id);
  }

  /** Exponential backoff with "equal jitter": half the step is fixed, half is random. */
  #backoffMs(): number {
    const { reconnectBackoffMinMs: min, reconnectBackoffMaxMs: max } = this.#ctx.limits;
    const step = Math.min(max, min * 2 ** Math.min(this.#failures - 1, 30));
    return step / 2 + this.#ctx.backoffRng.float() * (step / 2);
  }

  #scheduleDelayed(now: number): void {
    if (this.#queue.length === 0 || this.#delayTimer !== null || now === Infinity) return;
    const waitMs = this.#queue.headReadyAtMs() - now;
    if (waitMs <= 0) return; // backpressure stopped the flush; 'drain' resumes it
    this.#delayTimer = setTimeout(() => {
      this.#delayTimer = null;
      this.flush();
    }, Math.ceil(waitMs));
  }

  #dropOversized(frameBytes: number): void {
    this.#dropped++;
    this.#ctx.logger.error({ peer: this.id, frameBytes, frameBytesMax: this.#ctx.limits.frameBytesMax }, "message dropped: its frame exceeds the frame limit (append size limits are misconfigured)");
  }

  /**
   * The peer refused a handshake because it removed this node: true the first time since the
   * last accepted handshake (the refusal repeats at every redial; the log says it once).
   */
  firstRefusalAsRemoved(): boolean {
    if (this.#refusedAsRemovedLogged) return false;
    this.#refusedAsRemovedLogged = true;
    return true;
  }

  /** A snapshot to this peer could not even start (busy, or lost to the fault hook). */
  snapshotFailed(): void {
    this.#snapshotDone(false);
  }

  #snapshotDone(ok: boolean): void {
    if (ok) this.#snapshotsSent++;
    else this.#snapshotsFailed++;
    this.#ctx.snapshotSent(this.id, ok);
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

