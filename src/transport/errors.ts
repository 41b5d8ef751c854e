/**
 * Operating errors of the transport: a bad address, a port in use, or a peer that broke the
 * protocol. They name what is wrong; bugs in Flotilla itself are InvariantErrors instead.
 */
export type TransportErrorCode =
  /** A peer address is not "host:port" with a port in 0..65535. */
  | "invalid-address"
  /** The listener could not bind its address. */
  | "listen-failed"
  /** A peer sent bytes that are not a valid frame (garbage, oversized, truncated). */
  | "bad-frame"
  /** A frame decoded, but its content is not a valid handshake or message. */
  | "bad-message"
  /** The handshake was refused (other cluster, other node, unsupported version, no cluster yet, a removed member). */
  | "handshake-refused";

export class TransportError extends Error {
  override name = "TransportError";
  readonly code: TransportErrorCode;

  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
