/**
 * The bounded queue of messages waiting for one peer's connection: a ring buffer capped by
 * count and by bytes. When a push does not fit, the oldest messages are dropped (Raft resends
 * what matters, and the newest messages carry the freshest term, commit and votes).
 */
import type { Message } from "../raft/types.js";
import { assert } from "../util/assert.js";
import type { AppFrame } from "./wire.js";

/** What waits for a peer's connection: a Raft message or an app frame, in send order. */
export type Outbound = Message | AppFrame;

export class PeerQueue {
  readonly #messagesMax: number;
  readonly #bytesMax: number;
  readonly #messages: (Outbound | undefined)[];
  readonly #bytes: Float64Array;
  /** When the fault hook delays messages: the time (performance.now()) each may leave. */
  readonly #readyAtMs: Float64Array;
  #head = 0;
  #length = 0;
  #totalBytes = 0;

  constructor(messagesMax: number, bytesMax: number) {
    assert(Number.isSafeInteger(messagesMax) && messagesMax > 0, "queue messagesMax must be a positive integer");
    assert(bytesMax > 0, "queue bytesMax must be positive");
    this.#messagesMax = messagesMax;
    this.#bytesMax = bytesMax;
    this.#messages = new Array<Outbound | undefined>(messagesMax).fill(undefined);
    this.#bytes = new Float64Array(messagesMax);
    this.#readyAtMs = new Float64Array(messagesMax);
  }

  get length(): number {
    return this.#length;
  }

  get bytes(): number {
    return this.#totalBytes;
  }

  /** Appends a message; returns how many messages were dropped to make room (or this one, if it alone is too big). */
  push(message: Outbound, bytes: number, readyAtMs: number): number {
    if (bytes > this.#bytesMax) return 1;
    let dropped = 0;
    while (this.#length === this.#messagesMax || this.#totalBytes + bytes > this.#bytesMax) {
      this.shift();
      dropped++;
    }
    const at = (this.#head + this.#length) % this.#messagesMax;
    this.#messages[at] = message;
    this.#bytes[at] = bytes;
    this.#readyAtMs[at] = readyAtMs;
    this.#length++;
    this.#totalBytes += bytes;
    return dropped;
  }

  /** When the oldest message may leave (0: now). Requires a non-empty queue. */
  headReadyAtMs(): number {
    assert(this.#length > 0, "headReadyAtMs on an empty queue");
    return this.#readyAtMs[this.#head]!;
  }

  shift(): Outbound {
    assert(this.#length > 0, "shift on an empty queue");
    const at = this.#head;
    const message = this.#messages[at]!;
    this.#messages[at] = undefined;
    this.#totalBytes -= this.#bytes[at]!;
    this.#head = (at + 1) % this.#messagesMax;
    this.#length--;
    if (this.#length === 0) this.#totalBytes = 0;
    return message;
  }

  /** Empties the queue; returns how many messages were dropped. */
  clear(): number {
    const dropped = this.#length;
    while (this.#length > 0) this.shift();
    return dropped;
  }
}
