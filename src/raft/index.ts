/**
 * The public surface of the consensus core. See README.md for how a driver uses it.
 */
export { RaftNode, ProposalDroppedError, bootstrapStorage } from "./raft.js";
export type { RaftConfig, RaftLogger } from "./config.js";
export { MemoryStorage, emptySnapshot, EMPTY_CONF_STATE, type LogStorage, type InitialState } from "./log-storage.js";
export { encodeConfChange, decodeConfChange, applyChange, isMember, ConfChangeDecodeError } from "./confchange.js";
export { majority, committedIndex, voteResult, hasQuorum, VoteResult } from "./quorum.js";
export * from "./types.js";
