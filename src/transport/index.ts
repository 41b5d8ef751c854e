/** Peer connections between Flotilla nodes. See README.md. */
export { Transport, type TransportOptions, type TransportStats } from "./transport.js";
export type { PeerStats } from "./peer-link.js";
export type { FaultConfig } from "./faults.js";
export type { TransportLogger } from "./logger.js";
export { DEFAULT_TRANSPORT_LIMITS, type TransportLimits } from "./context.js";
export { TransportError, type TransportErrorCode } from "./errors.js";
export { parsePeerAddress, formatPeerAddress, type HostPort } from "./address.js";
export { PROTOCOL_VERSION } from "./wire.js";
