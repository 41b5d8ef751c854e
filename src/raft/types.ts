/**
 * The vocabulary of the consensus core: log entries, persistent state, messages and the
 * Ready batch. These shapes are what storage persists and what transport carries, so they
 * are plain data (no classes, no functions) and stable.
 */

/** A node's name in the cluster ("n1"). Unique, never reused for another machine's data. */
export type NodeId = string;

/** The id used where a message has no sender or receiver yet, or no leader is known. */
export const NO_NODE: NodeId = "";

export enum EntryType {
  /** Application data (or empty: the no-op a new leader appends at the start of its term). */
  Normal = 0,
  /** A membership change: `data` holds an encoded ConfChange (see confchange.ts). */
  ConfChange = 1,
}

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must survive a crash besides the log: Raft's currentTerm, votedFor and commit index. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: NO_NODE, commit: 0 });

/** Cluster membership: voters count for elections and commit; learners only replicate. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export enum ConfChangeType {
  AddVoter = 0,
  AddLearner = 1,
  Remove = 2,
}

/** One server at a time: add a voter (or promote a learner), add a learner, or remove. */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly node: NodeId;
  /** Opaque to Raft: the node layer keeps addresses here so every member learns them. */
  readonly context?: Uint8Array;
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The state machine's image as of meta.index; opaque to Raft. */
  readonly data: Uint8Array;
}

export enum Role {
  Follower = "follower",
  PreCandidate = "pre-candidate",
  Candidate = "candidate",
  Leader = "leader",
}

/** Volatile state that the application may want to observe; not persisted. */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
}

export enum MessageType {
  // Local messages: produced by the node's own API and never sent on the network.
  Hup = "hup", // start an election (tick or campaign())
  Beat = "beat", // leader: send heartbeats (tick)
  Propose = "propose", // append entries to the leader's log
  CheckQuorum = "check-quorum", // leader: step down unless a quorum was heard from recently
  SnapshotStatus = "snapshot-status", // the application reports a snapshot send result
  Unreachable = "unreachable", // the application reports a peer it cannot reach

  // Network messages.
  Append = "append",
  AppendResponse = "append-response",
  Vote = "vote",
  VoteResponse = "vote-response",
  PreVote = "pre-vote",
  PreVoteResponse = "pre-vote-response",
  Snapshot = "snapshot",
  Heartbeat = "heartbeat",
  HeartbeatResponse = "heartbeat-response",
  TransferLeader = "transfer-leader",
  TimeoutNow = "timeout-now",
  ReadIndex = "read-index",
  ReadIndexResponse = "read-index-response",
}

/**
 * One message. Which fields mean something depends on `type`; unused ones are left at their
 * zero value. The field names follow the Raft paper and etcd's raft:
 * - Append: `index`/`logTerm` identify the entry before `entries`; `commit` is the leader's.
 * - AppendResponse: `index` is the last index the follower now matches (or, on `reject`,
 *   the rejected index) and `rejectHint`/`logTerm` the conflict hint for fast backtracking.
 * - Vote/PreVote: `index`/`logTerm` describe the candidate's last entry.
 * - Heartbeat: `commit` and `context` (the ReadIndex round this heartbeat serves, if any).
 * - ReadIndex/ReadIndexResponse: `context` names the request, `index` is the read index.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly snapshot?: Snapshot;
  readonly context?: string;
}

/** A ReadIndex request that the leader has confirmed: reads may be served once applied ≥ index. */
export interface ReadState {
  readonly index: number;
  readonly context: string;
}

/**
 * What the driver must do next, in this order: persist `hardState`, `entries` and `snapshot`
 * (fsync when `mustSync`); send `messages` (they may go before the save completes: the
 * leader writes its log in parallel with replicating it, Raft thesis 10.2.1); once durable,
 * send `messagesAfterPersist` (votes and append acknowledgements, which promise durability);
 * apply `snapshot` then `committedEntries` to the state machine; then call `advance()`.
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly readStates: readonly ReadState[];
  readonly mustSync: boolean;
}

/** Where a follower's replication stands, as the leader sees it. */
export enum ProgressState {
  /** Unknown match: send one append at a time and wait for the answer. */
  Probe = "probe",
  /** Known match: pipeline appends up to the in-flight window. */
  Replicate = "replicate",
  /** The follower needs a snapshot; appends are paused until it is installed. */
  Snapshot = "snapshot",
}

export interface PeerStatus {
  readonly id: NodeId;
  readonly voter: boolean;
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly recentActive: boolean;
  /** Ticks since this peer's last message reached the leader. */
  readonly ticksSinceContact: number;
}

export interface Status {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly role: Role;
  readonly leader: NodeId;
  readonly isLearner: boolean;
  readonly confState: ConfState;
  readonly leadTransferee: NodeId;
  /** The last membership change this node proposed as leader: no other may be proposed until it is applied. */
  readonly pendingConfIndex: number;
  /** Only on the leader. */
  readonly peers: readonly PeerStatus[];
}

export function makeMessage(fields: Partial<Message> & Pick<Message, "type">): Message {
  return withOptionalParts(
    {
      type: fields.type,
      from: fields.from ?? NO_NODE,
      to: fields.to ?? NO_NODE,
      term: fields.term ?? 0,
      logTerm: fields.logTerm ?? 0,
      index: fields.index ?? 0,
      entries: fields.entries ?? [],
      commit: fields.commit ?? 0,
      reject: fields.reject ?? false,
      rejectHint: fields.rejectHint ?? 0,
    },
    fields,
  );
}

/** `m` as sent from `from` at `term`. */
export function messageFrom(m: Message, from: NodeId, term: number): Message {
  return withOptionalParts({ type: m.type, from, to: m.to, term, logTerm: m.logTerm, index: m.index, entries: m.entries, commit: m.commit, reject: m.reject, rejectHint: m.rejectHint }, m);
}

/**
 * Messages are built field by field, never by spreading another object: they then share one
 * shape, and V8 clones a spread through a slow generic path. An optional part is present
 * only when defined.
 */
function withOptionalParts(message: { -readonly [K in keyof Message]: Message[K] }, source: Partial<Message>): Message {
  if (source.snapshot !== undefined) message.snapshot = source.snapshot;
  if (source.context !== undefined) message.context = source.context;
  return message;
}

export function isLocalMessage(type: MessageType): boolean {
  return (
    type === MessageType.Hup ||
    type === MessageType.Beat ||
    type === MessageType.Propose ||
    type === MessageType.CheckQuorum ||
    type === MessageType.SnapshotStatus ||
    type === MessageType.Unreachable
  );
}

export function isResponseMessage(type: MessageType): boolean {
  return (
    type === MessageType.AppendResponse ||
    type === MessageType.VoteResponse ||
    type === MessageType.PreVoteResponse ||
    type === MessageType.HeartbeatResponse ||
    type === MessageType.ReadIndexResponse
  );
}

/** Bytes an entry counts for flow control and size limits. */
export function entryBytes(entry: Entry): number {
  return entry.data.byteLength + 16;
}

export function entriesBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const entry of entries) total += entryBytes(entry);
  return total;
}
