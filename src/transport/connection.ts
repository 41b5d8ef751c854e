/**
 * One TCP connection to or from a peer, speaking frames. It turns protocol violations (bad
 * frames, invalid messages, truncation) into a logged close of this connection only, and
 * reports every close exactly once to its owner, with the reason.
 */
import type { Socket } from "node:net";
import { TransportError } from "./errors.js";
import { FrameReader } from "./frame-reader.js";
import type { TransportLogger } from "./logger.js";
import { formatPeerAddress } from "./address.js";

export interface ConnectionHandlers {
  /** One frame. Throwing a TransportError closes this connection with that reason. */
  onFrame(kind: number, body: Buffer): void;
  /** The connection is gone (closed by either side or by an error); called once. */
  onClose(reason: string, error: TransportError | null): void;
}

export class PeerConnection {
  readonly socket: Socket;
  readonly remote: string;
  readonly #reader: FrameReader;
  readonly #logger: TransportLogger;
  readonly #handlers: ConnectionHandlers;
  /** Fields every log line of this connection carries (peer, remote, purpose). */
  logFields: Record<string, unknown>;
  #closed = false;

  constructor(socket: Socket, frameBytesMax: number, logger: TransportLogger, logFields: Record<string, unknown>, handlers: ConnectionHandlers) {
    this.socket = socket;
    this.remote = socket.remoteAddress === undefined ? "unknown" : formatPeerAddress(socket.remoteAddress, socket.remotePort ?? 0);
    this.#reader = new FrameReader(frameBytesMax);
    this.#logger = logger;
    this.#handlers = handlers;
    this.logFields = logFields;
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("end", () => this.#onEnd());
    socket.on("error", (error: NodeJS.ErrnoException) => this.close(`socket error: ${error.code ?? error.message}`));
    socket.on("close", () => this.close("connection closed"));
    socket.on("timeout", () => this.close("timed out"));
  }

  get closed(): boolean {
    return this.#closed;
  }

  setFrameBytesMax(frameBytesMax: number): void {
    this.#reader.setFrameBytesMax(frameBytesMax);
  }

  write(frame: Uint8Array): boolean {
    return !this.#closed && this.socket.write(frame);
  }

  /**
   * Writes a burst of frames as one socket write: small bursts are copied into one buffer,
   * large ones go out corked (one writev, no copy).
   */
  writeFrames(frames: readonly Buffer[], totalBytes: number, copyBytesMax: number): void {
    if (this.#closed || frames.length === 0) return;
    if (frames.length === 1) {
      this.socket.write(frames[0]!);
    } else if (totalBytes <= copyBytesMax) {
      this.socket.write(Buffer.concat(frames, totalBytes));
    } else {
      this.socket.cork();
      for (const frame of frames) this.socket.write(frame);
      this.socket.uncork();
    }
  }

  /** Sends a last frame, then closes once it is flushed (handshake refusals, snapshot acks). */
  endWith(frame: Buffer, reason: string): void {
    if (this.#closed) return;
    this.socket.end(frame, () => this.close(reason));
  }

  /** Closes the connection (idempotent). A TransportError other than a refusal is a protocol violation: logged here. */
  close(reason: string, error: TransportError | null = null): void {
    if (this.#closed) return;
    this.#closed = true;
    // A refused handshake is an answer, not a violation: the owner logs it (once per outage).
    if (error !== null && error.code !== "handshake-refused") {
      this.#logger.warn({ ...this.logFields, remote: this.remote, code: error.code, reason: error.message }, "closing peer connection: protocol violation");
    }
    this.socket.destroy();
    this.#handlers.onClose(reason, error);
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    try {
      this.#reader.push(chunk, (kind, body) => {
        this.#handlers.onFrame(kind, body);
        return !this.#closed;
      });
    } catch (error) {
      if (!(error instanceof TransportError)) throw error;
      this.close(error.message, error);
    }
  }

  #onEnd(): void {
    if (this.#reader.midFrame) {
      this.close("truncated frame", new TransportError("bad-frame", "truncated frame: the connection ended in the middle of a frame"));
    } else {
      this.close("closed by peer");
    }
  }
}
