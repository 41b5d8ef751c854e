/**
 * The replicated state machine (design.md, "kv"): commands in log entries, applied into SQLite.
 */
export { KvStore, MEMORY_PATH, DEFAULT_RETENTION } from "./store.js";
export type { KvStoreOptions, RetentionLimits, RangeOptions } from "./store.js";
export type { ApplyInput, CommandInput, MembershipInput, Membership, StateImage } from "./input.js";
export { encodeCommand, decodeCommand, parseCommand, requestHash, COMMAND_FORMAT_VERSION } from "./command.js";
export type {
  Command,
  CommandBody,
  CommandType,
  PutPayload,
  DeletePayload,
  DeleteRangePayload,
  TxnPayload,
  TxnOp,
  Compare,
  CompareOp,
  CompareTarget,
  KeyOrPrefix,
} from "./command.js";
export type {
  KeyValue,
  CommandResult,
  EntryResult,
  ApplyResult,
  PutResult,
  DeleteResult,
  TxnResult,
  TxnOpResult,
  PreconditionFailedResult,
  NoopResult,
  ConfChangeResult,
  AlreadyAppliedResult,
  RangeAnswer,
  RangeResult,
  ChangeEvent,
  EventsPage,
} from "./results.js";
export { encodeMemberContext, decodeMemberContext } from "./membership.js";
export type { Member, MemberAddresses } from "./membership.js";
export { KvError, MalformedCommandError, KvInputError, CompactedError, InvalidSnapshotError, IncompatibleDatabaseError } from "./errors.js";
export type { KvErrorCode } from "./errors.js";
export { keyProblem } from "./keys.js";
