/**
 * The Raft consensus core: a synchronous, deterministic state machine. Ticks, messages and
 * requests go in; a Ready batch comes out; advance() acknowledges it. No I/O, no clock, no
 * randomness of its own (the Rng is injected), so the simulator can replay any run exactly.
 *
 * Structure follows etcd's raft: one step() for every input, with per-role handlers; the
 * commit rule, quorum math, log and flow control live in their own modules.
 */
import { assert, InvariantError } from "../util/assert.js";
import { resolveConfig, type RaftConfig, type ResolvedRaftConfig } from "./config.js";
import { applyChange, decodeConfChange, encodeConfChange, isMember } from "./confchange.js";
import { RaftLog } from "./log.js";
import { Progress } from "./progress.js";
import { committedIndex, hasQuorum, voteResult, VoteResult } from "./quorum.js";
import type { MemoryStorage } from "./log-storage.js";
import {
  ConfChangeType,
  EntryType,
  MessageType,
  NO_NODE,
  ProgressState,
  Role,
  entriesBytes,
  makeMessage,
  messageFrom,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Ready,
  type SoftState,
  type Status,
} from "./types.js";

/** Why a proposal was refused; the caller may retry elsewhere (it was certainly not applied). */
export class ProposalDroppedError extends Error {
  override name = "ProposalDroppedError";
  readonly reason: "not_leader" | "transfer_in_progress" | "too_many_uncommitted" | "conf_change_pending" | "removed";

  constructor(reason: ProposalDroppedError["reason"], message: string) {
    super(message);
    this.reason = reason;
  }
}

/**
 * Election timeouts a follower may stay in the Snapshot state without news before the leader
 * probes it again. The driver normally reports the outcome (reportSnapshot); this is the net
 * for a snapshot lost without a report. Long, because a retry resends the whole snapshot.
 */
const SNAPSHOT_STALL_ELECTION_TIMEOUTS = 5;

/** Marks a vote request sent on the leader's behalf (TimeoutNow): it may cut a lease short. */
const TRANSFER_CONTEXT = "transfer";
/**
 * Marks an append that only carries the commit index to a follower known to hold every entry
 * before it: the follower applies and does not answer, for the answer would tell the leader
 * nothing. A node that does not know the mark answers as usual.
 */
const COMMIT_NOTICE_CONTEXT = "commit-notice";

interface ReadRequest {
  readonly context: string;
  /** Who asked: this node, or a follower that forwarded its request. */
  readonly from: NodeId;
}

/** One ReadIndex heartbeat round: requests received before it started share its index. */
interface ReadRound {
  readonly context: string;
  readonly index: number;
  readonly requests: readonly ReadRequest[];
  readonly acks: Set<NodeId>;
}

interface ReadyInFlight {
  readonly lastEntry?: { index: number; term: number };
  readonly snapshotIndex?: number;
  readonly appliedTo: number;
}

export class RaftNode {
  readonly id: NodeId;
  readonly #config: ResolvedRaftConfig;
  readonly #log: RaftLog;

  #term = 0;
  #vote: NodeId = NO_NODE;
  #role: Role = Role.Follower;
  #leader: NodeId = NO_NODE;
  #conf: ConfState;
  #progress = new Map<NodeId, Progress>();
  #votes = new Map<NodeId, boolean>();

  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #randomizedElectionTimeout = 0;

  #leadTransferee: NodeId = NO_NODE;
  /** The index of the last snapshot restored: membership changes up to it are in #conf already. */
  #confRestoredAt = 0;
  /** A conf change may not be proposed until the log is applied past this index. */
  #pendingConfIndex = 0;
  #uncommittedBytes = 0;

  #readsAwaitingCommit: ReadRequest[] = [];
  #readsNextRound: ReadRequest[] = [];
  #readRound: ReadRound | undefined;
  #readRoundSeq = 0;

  #messages: Message[] = [];
  #messagesAfterPersist: Message[] = [];
  /** A broadcast of appends owed at the next Ready ("all": commit-only appends too). */
  #broadcastPending: "entries" | "all" | undefined;
  #readStates: ReadState[] = [];
  #prevSoftState: SoftState;
  #prevHardState: HardState;
  #readyInFlight: ReadyInFlight | undefined;

  constructor(config: RaftConfig) {
    this.#config = resolveConfig(config);
    this.id = this.#config.id;
    this.#log = new RaftLog(this.#config.storage, this.#config.applied);
    const { hardState, confState } = this.#config.storage.initialState();
    this.#term = hardState.term;
    this.#vote = hardState.vote;
    this.#conf = this.#membershipAtApplied(confState);
    this.#rebuildProgress();
    this.#becomeFollower(this.#term, NO_NODE);
    this.#prevSoftState = this.#softState();
    this.#prevHardState = this.#hardState();
  }

  // ---------------------------------------------------------------------------------------
  // Public API

  tick(): void {
    if (this.#role === Role.Leader) this.#tickLeader();
    else this.#tickElection();
  }

  step(message: Message): void {
    this.#step(message);
  }

  campaign(): void {
    this.#step(makeMessage({ type: MessageType.Hup, from: this.id, to: this.id }));
  }

  propose(data: Uint8Array): { index: number; term: number } {
    return this.#propose(EntryType.Normal, data);
  }

  proposeConfChange(change: ConfChange): { index: number; term: number } {
    return this.#propose(EntryType.ConfChange, encodeConfChange(change));
  }

  readIndex(context: string): void {
    this.#step(makeMessage({ type: MessageType.ReadIndex, from: this.id, to: this.id, context }));
  }

  transferLeadership(to: NodeId): void {
    this.#step(makeMessage({ type: MessageType.TransferLeader, from: to, to: this.id }));
  }

  reportSnapshot(to: NodeId, ok: boolean): void {
    this.#step(makeMessage({ type: MessageType.SnapshotStatus, from: to, to: this.id, reject: !ok }));
  }

  reportUnreachable(to: NodeId): void {
    this.#step(makeMessage({ type: MessageType.Unreachable, from: to, to: this.id }));
  }

  /**
   * The application applied the ConfChange entry at `index`: membership changes now (one
   * server at a time). A change at or below a snapshot this node restored meanwhile (the
   * driver was still applying entries from before it) is already in the snapshot's
   * membership: applied again on top of it, an old change would undo a later one.
   */
  applyConfChange(change: ConfChange, index: number): ConfState {
    if (index <= this.#confRestoredAt) return this.#conf;
    this.#conf = applyChange(this.#conf, change);
    this.#syncProgressWithConf();
    if (this.#role !== Role.Leader) return this.#conf;
    if (!this.#conf.voters.includes(this.id)) {
      this.#stepDownRemovedLeader();
      return this.#conf;
    }
    if (this.#leadTransferee !== NO_NODE && !this.#conf.voters.includes(this.#leadTransferee)) this.#abortTransfer();
    // The quorum changed: entries may now be committed, and new members need the log.
    if (this.#maybeCommit()) this.#broadcastAppend();
    else this.#broadcastAppend(false);
    return this.#conf;
  }

  status(): Status {
    return {
      id: this.id,
      term: this.#term,
      vote: this.#vote,
      commit: this.#log.committed,
      applied: this.#log.applied,
      lastIndex: this.#log.lastIndex(),
      role: this.#role,
      leader: this.#leader,
      isLearner: this.#conf.learners.includes(this.id),
      confState: this.#conf,
      leadTransferee: this.#leadTransferee,
      pendingConfIndex: this.#pendingConfIndex,
      peers:
        this.#role === Role.Leader
          ? [...this.#progress].map(([id, pr]) => ({
              id,
              voter: !pr.isLearner,
              match: pr.match,
              next: pr.next,
              state: pr.state,
              recentActive: pr.recentActive,
              ticksSinceContact: pr.ticksSinceContact,
            }))
          : [],
    };
  }

  hasReady(): boolean {
    if (this.#readyInFlight) return false;
    if (this.#broadcastPending !== undefined) return true;
    const soft = this.#softState();
    if (soft.leader !== this.#prevSoftState.leader || soft.role !== this.#prevSoftState.role) return true;
    if (!sameHardState(this.#hardState(), this.#prevHardState)) return true;
    return (
      this.#log.unstableSnapshot !== undefined ||
      this.#log.unstableEntries.length > 0 ||
      this.#log.hasCommittedToApply() ||
      this.#messages.length > 0 ||
      this.#messagesAfterPersist.length > 0 ||
      this.#readStates.length > 0
    );
  }

  ready(): Ready {
    assert(this.#readyInFlight === undefined, "ready() called again before advance()");
    this.#flushBroadcast();
    const soft = this.#softState();
    const hard = this.#hardState();
    const softChanged = soft.leader !== this.#prevSoftState.leader || soft.role !== this.#prevSoftState.role;
    const hardChanged = !sameHardState(hard, this.#prevHardState);
    const entries = this.#log.unstableEntries.slice();
    const snapshot = this.#log.unstableSnapshot;
    const committedEntries = this.#log.committedToApply(this.#config.applyBytesMax);
    const lastEntry = entries.length > 0 ? entries[entries.length - 1]! : undefined;
    const lastCommitted = committedEntries.length > 0 ? committedEntries[committedEntries.length - 1]!.index : 0;
    const ready: Ready = {
      ...(softChanged ? { softState: soft } : {}),
      ...(hardChanged ? { hardState: hard } : {}),
      entries,
      ...(snapshot ? { snapshot } : {}),
      committedEntries,
      messages: this.#messages,
      messagesAfterPersist: this.#messagesAfterPersist,
      readStates: this.#readStates,
      mustSync:
        entries.length > 0 || snapshot !== undefined || hard.term !== this.#prevHardState.term || hard.vote !== this.#prevHardState.vote,
    };
    this.#messages = [];
    this.#messagesAfterPersist = [];
    this.#readStates = [];
    this.#prevSoftState = soft;
    this.#prevHardState = hard;
    this.#readyInFlight = {
      ...(lastEntry ? { lastEntry: { index: lastEntry.index, term: lastEntry.term } } : {}),
      ...(snapshot ? { snapshotIndex: snapshot.meta.index } : {}),
      appliedTo: snapshot ? snapshot.meta.index : lastCommitted,
    };
    return ready;
  }

  /** The driver persisted, sent and applied the last Ready. */
  advance(): void {
    const done = this.#readyInFlight;
    assert(done !== undefined, "advance() called without a Ready in flight");
    this.#readyInFlight = undefined;
    if (done.snapshotIndex !== undefined) this.#log.stableSnapshotTo(done.snapshotIndex);
    if (done.lastEntry) this.#log.stableTo(done.lastEntry.index, done.lastEntry.term);
    if (done.appliedTo > 0) this.#appliedTo(done.appliedTo);
    if (this.#role === Role.Leader) this.#selfAcknowledge();
  }

  /**
   * The storage's membership is the snapshot's; entries after the snapshot that the state
   * machine already applied (and so will not be handed out again) may change it. A server's
   * configuration is the latest one in its applied log (thesis 4.1), so replay those changes.
   * Replaying a change that is already reflected is harmless: each sets one node's status.
   */
  #membershipAtApplied(snapshotConf: ConfState): ConfState {
    const from = this.#config.storage.snapshot().meta.index + 1;
    const to = this.#log.applied;
    if (to < from) return snapshotConf;
    const applied = this.#log.slice(from, to + 1, Number.MAX_SAFE_INTEGER);
    assert(applied !== undefined, () => `applied entries ${from}..${to} are not in the log`);
    let conf = snapshotConf;
    for (const entry of applied) if (entry.type === EntryType.ConfChange) conf = applyChange(conf, decodeConfChange(entry.data));
    return conf;
  }

  // ---------------------------------------------------------------------------------------
  // Roles

  #becomeFollower(term: number, leader: NodeId): void {
    this.#reset(term);
    this.#role = Role.Follower;
    this.#leader = leader;
  }

  #becomePreCandidate(): void {
    assert(this.#role !== Role.Leader, "a leader never becomes a pre-candidate");
    // Pre-vote does not touch the term or vote: a node that cannot win changes nothing.
    this.#votes.clear();
    this.#role = Role.PreCandidate;
    this.#leader = NO_NODE;
  }

  #becomeCandidate(): void {
    assert(this.#role !== Role.Leader, "a leader never becomes a candidate");
    this.#reset(this.#term + 1);
    this.#vote = this.id;
    this.#role = Role.Candidate;
  }

  #becomeLeader(): void {
    assert(this.#role === Role.Candidate, "only a candidate becomes leader");
    this.#reset(this.#term);
    this.#role = Role.Leader;
    this.#leader = this.id;
    // The no-op of a new term: committing it commits everything before it (Figure 8).
    this.#appendEntries([{ term: this.#term, index: this.#log.lastIndex() + 1, type: EntryType.Normal, data: new Uint8Array(0) }]);
    // No membership change until that no-op is applied: a leader first commits an entry of its
    // own term (the fix for the single-server change bug, Ongaro's raft-dev note of 2015).
    this.#pendingConfIndex = this.#log.lastIndex();
    this.#uncommittedBytes = 0;
    this.#config.logger?.info({ id: this.id, term: this.#term, role: "leader" }, "became leader");
  }

  #reset(term: number): void {
    if (term !== this.#term) {
      this.#term = term;
      this.#vote = NO_NODE;
    }
    this.#leader = NO_NODE;
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#randomizedElectionTimeout = this.#config.electionTimeoutTicks + this.#config.rng.int(0, this.#config.electionTimeoutTicks);
    this.#votes.clear();
    this.#leadTransferee = NO_NODE;
    this.#broadcastPending = undefined;
    this.#uncommittedBytes = 0;
    this.#readsAwaitingCommit = [];
    this.#readsNextRound = [];
    this.#readRound = undefined;
    const last = this.#log.lastIndex();
    for (const pr of this.#progress.values()) {
      pr.match = 0;
      pr.next = last + 1;
      pr.becomeProbe();
      pr.next = last + 1;
      pr.recentActive = false;
      pr.ticksSinceContact = 0;
    }
    const self = this.#progress.get(this.id);
    if (self) self.match = this.#log.persistedIndex();
  }

  /** A voter that is a member can campaign; learners and removed nodes never do. */
  #promotable(): boolean {
    return this.#conf.voters.includes(this.id) && this.#log.unstableSnapshot === undefined;
  }

  // ---------------------------------------------------------------------------------------
  // Ticks

  #tickElection(): void {
    this.#electionElapsed++;
    if (this.#promotable() && this.#electionElapsed >= this.#randomizedElectionTimeout) {
      this.#electionElapsed = 0;
      this.#step(makeMessage({ type: MessageType.Hup, from: this.id, to: this.id }));
    }
  }

  #tickLeader(): void {
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    for (const [id, pr] of this.#progress) {
      if (id === this.id) continue;
      pr.ticksSinceContact++;
      if (pr.state === ProgressState.Snapshot && ++pr.snapshotTicks >= this.#config.electionTimeoutTicks * SNAPSHOT_STALL_ELECTION_TIMEOUTS) {
        // The snapshot or its answer was lost and nobody reported it (reportSnapshot): probe again.
        pr.becomeProbe();
      }
    }
    if (this.#electionElapsed >= this.#config.electionTimeoutTicks) {
      this.#electionElapsed = 0;
      if (this.#config.checkQuorum) this.#step(makeMessage({ type: MessageType.CheckQuorum, from: this.id, to: this.id }));
      if (this.#role === Role.Leader && this.#leadTransferee !== NO_NODE) this.#abortTransfer();
    }
    if (this.#role !== Role.Leader) return;
    if (this.#heartbeatElapsed >= this.#config.heartbeatIntervalTicks) {
      this.#heartbeatElapsed = 0;
      this.#step(makeMessage({ type: MessageType.Beat, from: this.id, to: this.id }));
    }
  }

  // ---------------------------------------------------------------------------------------
  // Step: the single entry point for every input

  #step(m: Message): void {
    if (m.term > this.#term && !this.#handleHigherTerm(m)) return;
    if (m.term !== 0 && m.term < this.#term) {
      this.#handleLowerTerm(m);
      return;
    }
    switch (m.type) {
      case MessageType.Hup:
        this.#handleHup(m);
        return;
      case MessageType.Vote:
      case MessageType.PreVote:
        this.#handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.#role) {
      case Role.Leader:
        this.#stepLeader(m);
        return;
      case Role.Candidate:
      case Role.PreCandidate:
        this.#stepCandidate(m);
        return;
      case Role.Follower:
        this.#stepFollower(m);
        return;
    }
  }

  /** Returns false when the message should be ignored. */
  #handleHigherTerm(m: Message): boolean {
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      const forced = m.type === MessageType.Vote && m.context === TRANSFER_CONTEXT;
      const inLease = this.#config.checkQuorum && this.#leader !== NO_NODE && this.#electionElapsed < this.#config.electionTimeoutTicks;
      // A node that heard from a live leader recently ignores vote requests: a partitioned or
      // removed node cannot depose a working leader (thesis 4.2.3).
      if (!forced && inLease) return false;
    }
    if (m.type === MessageType.PreVote) return true; // never changes our term
    if (m.type === MessageType.PreVoteResponse && !m.reject) return true; // the term is the one we asked for
    const leader = m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot ? m.from : NO_NODE;
    this.#becomeFollower(m.term, leader);
    return true;
  }

  #handleLowerTerm(m: Message): void {
    if ((this.#config.checkQuorum || this.#config.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.Append)) {
      // A stale leader learns our term and steps down; without this, a node partitioned while
      // it pre-voted could be stuck never getting votes (etcd's reasoning).
      this.#send(makeMessage({ type: MessageType.AppendResponse, to: m.from }));
    } else if (m.type === MessageType.PreVote) {
      this.#send(makeMessage({ type: MessageType.PreVoteResponse, to: m.from, term: this.#term, reject: true }));
    }
  }

  #handleHup(_m: Message): void {
    if (this.#role === Role.Leader || !this.#promotable()) return;
    if (this.#hasUnappliedConfChange()) {
      this.#config.logger?.warn({ id: this.id, term: this.#term }, "not campaigning: a committed membership change is not applied yet");
      return;
    }
    this.#campaign(this.#config.preVote ? Role.PreCandidate : Role.Candidate, false);
  }

  #hasUnappliedConfChange(): boolean {
    if (this.#log.committed <= this.#log.applied) return false;
    const entries = this.#log.slice(this.#log.applied + 1, this.#log.committed + 1, Number.MAX_SAFE_INTEGER) ?? [];
    return entries.some((entry) => entry.type === EntryType.ConfChange);
  }

  #campaign(role: Role.PreCandidate | Role.Candidate, transfer: boolean): void {
    let term: number;
    let type: MessageType;
    if (role === Role.PreCandidate) {
      this.#becomePreCandidate();
      term = this.#term + 1;
      type = MessageType.PreVote;
    } else {
      this.#becomeCandidate();
      term = this.#term;
      type = MessageType.Vote;
    }
    this.#votes.set(this.id, true);
    if (this.#tallyVotes() === VoteResult.Won) {
      this.#wonElection();
      return;
    }
    const index = this.#log.lastIndex();
    const logTerm = this.#log.lastTerm();
    for (const voter of this.#conf.voters) {
      if (voter === this.id) continue;
      this.#send(makeMessage({ type, to: voter, term, index, logTerm, context: transfer ? TRANSFER_CONTEXT : undefined }));
    }
  }

  #tallyVotes(): VoteResult {
    return voteResult(this.#conf.voters, this.#votes);
  }

  #wonElection(): void {
    if (this.#role === Role.PreCandidate) this.#campaign(Role.Candidate, false);
    else {
      this.#becomeLeader();
      this.#broadcastAppend();
    }
  }

  #handleVoteRequest(m: Message): void {
    const preVote = m.type === MessageType.PreVote;
    // We can vote for m.from if we already did, or have not voted and know no leader in this
    // term, or (pre-vote) the request is for a future term.
    const canVote = this.#vote === m.from || (this.#vote === NO_NODE && this.#leader === NO_NODE) || (preVote && m.term > this.#term);
    const responseType = preVote ? MessageType.PreVoteResponse : MessageType.VoteResponse;
    if (canVote && this.#log.isUpToDate(m.index, m.logTerm)) {
      // A granted pre-vote carries the term asked for, so the candidate can count it.
      this.#send(makeMessage({ type: responseType, to: m.from, term: m.term }));
      if (!preVote) {
        this.#electionElapsed = 0;
        this.#vote = m.from;
      }
    } else {
      this.#send(makeMessage({ type: responseType, to: m.from, term: this.#term, reject: true }));
    }
  }

  // ---------------------------------------------------------------------------------------
  // Leader

  #stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.#broadcastHeartbeat();
        return;
      case MessageType.CheckQuorum:
        this.#checkQuorum();
        return;
      case MessageType.ReadIndex:
        this.#leaderReadIndex({ context: m.context ?? "", from: m.from });
        return;
      case MessageType.TransferLeader:
        this.#startTransfer(m.from);
        return;
      default:
        break;
    }
    const pr = this.#progress.get(m.from);
    if (!pr) return; // not a member (anymore)
    switch (m.type) {
      case MessageType.AppendResponse:
        this.#handleAppendResponse(m, pr);
        return;
      case MessageType.HeartbeatResponse:
        this.#handleHeartbeatResponse(m, pr);
        return;
      case MessageType.SnapshotStatus:
        if (pr.state !== ProgressState.Snapshot) return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for the next heartbeat response before probing again.
        pr.probeSent = true;
        return;
      case MessageType.Unreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
      default:
        return;
    }
  }

  #checkQuorum(): void {
    const active = hasQuorum(this.#conf.voters, (id) => id === this.id || this.#progress.get(id)?.recentActive === true);
    for (const [id, pr] of this.#progress) if (id !== this.id) pr.recentActive = false;
    if (!active) {
      this.#config.logger?.warn({ id: this.id, term: this.#term, role: "leader" }, "stepping down: no quorum heard within an election timeout");
      this.#becomeFollower(this.#term, NO_NODE);
    }
  }

  #propose(type: EntryType, data: Uint8Array): { index: number; term: number } {
    if (this.#role !== Role.Leader) {
      throw new ProposalDroppedError("not_leader", `node ${this.id} is not the leader (leader: ${this.#leader || "unknown"})`);
    }
    if (!this.#conf.voters.includes(this.id)) {
      throw new ProposalDroppedError("removed", `node ${this.id} is no longer a voter`);
    }
    if (this.#leadTransferee !== NO_NODE) {
      throw new ProposalDroppedError("transfer_in_progress", `leadership is being transferred to ${this.#leadTransferee}`);
    }
    if (type === EntryType.ConfChange) {
      if (this.#pendingConfIndex > this.#log.applied) {
        throw new ProposalDroppedError("conf_change_pending", "another membership change is still in progress");
      }
      const change = decodeConfChange(data);
      if (change.type === ConfChangeType.Remove && !isMember(this.#conf, change.node)) {
        throw new ProposalDroppedError("conf_change_pending", `${change.node} is not a member`);
      }
    }
    const bytes = data.byteLength;
    if (this.#uncommittedBytes > 0 && this.#uncommittedBytes + bytes > this.#config.uncommittedBytesMax) {
      throw new ProposalDroppedError("too_many_uncommitted", `too many uncommitted bytes (${this.#uncommittedBytes})`);
    }
    const entry: Entry = { term: this.#term, index: this.#log.lastIndex() + 1, type, data };
    this.#appendEntries([entry]);
    this.#uncommittedBytes += bytes;
    if (type === EntryType.ConfChange) this.#pendingConfIndex = entry.index;
    this.#broadcastAppend(false);
    return { index: entry.index, term: entry.term };
  }

  #appendEntries(entries: Entry[]): void {
    this.#log.append(entries);
    // The leader's own acknowledgement waits for its disk: see #selfAcknowledge (advance()).
  }

  /** After the leader's own log is durable, it counts itself toward the quorum. */
  #selfAcknowledge(): void {
    const self = this.#progress.get(this.id);
    if (!self) return;
    if (self.maybeUpdate(this.#log.persistedIndex()) && this.#maybeCommit()) this.#broadcastAppend();
  }

  #maybeCommit(): boolean {
    const index = committedIndex(this.#conf.voters, (id) => this.#progress.get(id)?.match ?? 0);
    const committed = this.#log.maybeCommit(index, this.#term);
    if (committed) this.#onCommitAdvanced();
    return committed;
  }

  #onCommitAdvanced(): void {
    if (this.#readsAwaitingCommit.length > 0 && this.#committedInCurrentTerm()) {
      const waiting = this.#readsAwaitingCommit;
      this.#readsAwaitingCommit = [];
      for (const request of waiting) this.#leaderReadIndex(request);
    }
  }

  #committedInCurrentTerm(): boolean {
    return this.#log.term(this.#log.committed) === this.#term;
  }

  #handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.ticksSinceContact = 0;
    if (m.reject) {
      let matchHint = m.rejectHint;
      if (m.logTerm > 0) matchHint = this.#log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, matchHint)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.#sendAppend(m.from);
      }
      return;
    }
    // A probe answered at the known match also proves where the logs agree.
    const probeConfirmed = pr.state === ProgressState.Probe && pr.match === m.index;
    if (!pr.maybeUpdate(m.index) && !probeConfirmed) return;
    switch (pr.state) {
      case ProgressState.Probe:
        pr.becomeReplicate();
        break;
      case ProgressState.Snapshot:
        if (pr.match >= pr.pendingSnapshot) pr.becomeProbe();
        break;
      case ProgressState.Replicate:
        pr.inflights.freeLE(m.index);
        break;
    }
    if (this.#maybeCommit()) this.#broadcastAppend();
    else while (this.#sendAppend(m.from, false)) { /* fill the window */ }
    if (m.from === this.#leadTransferee && pr.match === this.#log.lastIndex()) {
      this.#send(makeMessage({ type: MessageType.TimeoutNow, to: m.from }));
    }
  }

  #handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.ticksSinceContact = 0;
    pr.probeSent = false;
    if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirst();
    if (pr.match < this.#log.lastIndex()) this.#sendAppend(m.from);
    if (m.context !== undefined && this.#readRound?.context === m.context) {
      this.#readRound.acks.add(m.from);
      this.#maybeCompleteReadRound();
    }
  }

  /** Sends what `to` needs next; returns true when a message went out. */
  #sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.#progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.#log.term(prevIndex);
    const entries = prevTerm === undefined ? undefined : this.#log.entriesFrom(pr.next, this.#config.appendBytesMax);
    if (prevTerm === undefined || entries === undefined) return this.#sendSnapshot(to, pr);
    if (entries.length === 0 && !sendIfEmpty) return false;
    const notice = entries.length === 0 && pr.state === ProgressState.Replicate && pr.match === prevIndex;
    this.#send(makeMessage({ type: MessageType.Append, to, index: prevIndex, logTerm: prevTerm, entries, commit: this.#log.committed, context: notice ? COMMIT_NOTICE_CONTEXT : undefined }));
    pr.sentEntries(prevIndex + entries.length, entries.length, entriesBytes(entries));
    return true;
  }

  #sendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false;
    const snapshot = this.#log.storage.snapshot();
    assert(snapshot.meta.index > 0, () => `entries needed by ${to} are compacted but there is no snapshot`);
    this.#send(makeMessage({ type: MessageType.Snapshot, to, snapshot }));
    pr.becomeSnapshot(snapshot.meta.index);
    this.#config.logger?.info({ id: this.id, term: this.#term, to, index: snapshot.meta.index }, "sending snapshot");
    return true;
  }

  /**
   * Owed until the next Ready, which carries one append per follower for every proposal and
   * commit advance since the last. At 64 clients tens of proposals arrive between two Readies:
   * an append each put 23× the messages on the wire, and as many acknowledgements, for the
   * same entries (a cost on the slow, lossy links Flotilla is meant for, more than on
   * loopback). Messages leave only with a Ready anyway, so none is sent later.
   */
  #broadcastAppend(sendIfEmpty = true): void {
    if (sendIfEmpty) this.#broadcastPending = "all";
    else this.#broadcastPending ??= "entries";
  }

  #flushBroadcast(): void {
    const pending = this.#broadcastPending;
    if (pending === undefined) return;
    this.#broadcastPending = undefined;
    if (this.#role !== Role.Leader) return;
    for (const id of this.#progress.keys()) if (id !== this.id) this.#sendAppend(id, pending === "all");
  }

  #broadcastHeartbeat(): void {
    const context = this.#readRound?.context;
    for (const [id, pr] of this.#progress) {
      if (id === this.id) continue;
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(pr.match, this.#log.committed);
      this.#send(makeMessage({ type: MessageType.Heartbeat, to: id, commit, context }));
    }
  }

  // ReadIndex (thesis 6.4): a read is served at the commit index once a heartbeat round has
  // confirmed that this node was still the leader after the request arrived. Requests that
  // arrive while a round is in flight share the next round.
  #leaderReadIndex(request: ReadRequest): void {
    if (!this.#committedInCurrentTerm()) {
      if (this.#readsAwaitingCommit.length < this.#config.pendingReadsMax) this.#readsAwaitingCommit.push(request);
      return;
    }
    if (this.#conf.voters.length === 1 && this.#conf.voters[0] === this.id) {
      this.#answerRead(request, this.#log.committed);
      return;
    }
    if (this.#readsNextRound.length >= this.#config.pendingReadsMax) return;
    this.#readsNextRound.push(request);
    if (!this.#readRound) this.#startReadRound();
  }

  #startReadRound(): void {
    if (this.#readsNextRound.length === 0) return;
    this.#readRound = {
      context: `${this.#term}.${++this.#readRoundSeq}`,
      index: this.#log.committed,
      requests: this.#readsNextRound,
      acks: new Set([this.id]),
    };
    this.#readsNextRound = [];
    this.#broadcastHeartbeat();
    this.#maybeCompleteReadRound();
  }

  #maybeCompleteReadRound(): void {
    const round = this.#readRound;
    if (!round || !hasQuorum(this.#conf.voters, (id) => round.acks.has(id))) return;
    this.#readRound = undefined;
    for (const request of round.requests) this.#answerRead(request, round.index);
    this.#startReadRound();
  }

  #answerRead(request: ReadRequest, index: number): void {
    if (request.from === this.id || request.from === NO_NODE) {
      this.#readStates.push({ index, context: request.context });
    } else {
      this.#send(makeMessage({ type: MessageType.ReadIndexResponse, to: request.from, index, context: request.context }));
    }
  }

  #startTransfer(to: NodeId): void {
    const pr = this.#progress.get(to);
    if (!pr || pr.isLearner || to === this.id) return;
    if (this.#leadTransferee === to) return;
    this.#abortTransfer();
    this.#leadTransferee = to;
    // The transfer gets one election timeout to finish.
    this.#electionElapsed = 0;
    this.#config.logger?.info({ id: this.id, term: this.#term, to }, "transferring leadership");
    if (pr.match === this.#log.lastIndex()) this.#send(makeMessage({ type: MessageType.TimeoutNow, to }));
    else this.#sendAppend(to);
  }

  #abortTransfer(): void {
    this.#leadTransferee = NO_NODE;
  }

  /** The leader applied its own removal: it steps down and asks the best voter to take over. */
  #stepDownRemovedLeader(): void {
    let best: NodeId = NO_NODE;
    let bestMatch = -1;
    for (const voter of this.#conf.voters) {
      const match = this.#progress.get(voter)?.match ?? 0;
      if (match > bestMatch) {
        best = voter;
        bestMatch = match;
      }
    }
    if (best !== NO_NODE && bestMatch === this.#log.lastIndex()) this.#send(makeMessage({ type: MessageType.TimeoutNow, to: best }));
    this.#becomeFollower(this.#term, NO_NODE);
  }

  // ---------------------------------------------------------------------------------------
  // Candidate and follower

  #stepCandidate(m: Message): void {
    const responseType = this.#role === Role.PreCandidate ? MessageType.PreVoteResponse : MessageType.VoteResponse;
    switch (m.type) {
      case MessageType.Append:
      case MessageType.Heartbeat:
      case MessageType.Snapshot:
        // A leader exists in this term (m.term === our term here).
        this.#becomeFollower(m.term, m.from);
        this.#stepFollower(m);
        return;
      case responseType: {
        this.#votes.set(m.from, !m.reject);
        const result = this.#tallyVotes();
        if (result === VoteResult.Won) this.#wonElection();
        else if (result === VoteResult.Lost) this.#becomeFollower(this.#term, NO_NODE);
        return;
      }
      default:
        return;
    }
  }

  #stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
        this.#electionElapsed = 0;
        this.#leader = m.from;
        this.#handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.#electionElapsed = 0;
        this.#leader = m.from;
        this.#log.commitTo(Math.min(m.commit, this.#log.lastIndex()));
        this.#send(makeMessage({ type: MessageType.HeartbeatResponse, to: m.from, context: m.context }));
        return;
      case MessageType.Snapshot:
        this.#electionElapsed = 0;
        this.#leader = m.from;
        this.#handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
        if (this.#leader !== NO_NODE) this.#send(makeMessage({ type: MessageType.TransferLeader, to: this.#leader, from: m.from }));
        return;
      case MessageType.TimeoutNow:
        if (this.#promotable()) {
          this.#config.logger?.info({ id: this.id, term: this.#term }, "campaigning at the leader's request (TimeoutNow)");
          this.#campaign(Role.Candidate, true);
        }
        return;
      case MessageType.ReadIndex:
        // Only our own requests are forwarded; the leader answers the node that asked.
        if (this.#leader !== NO_NODE && m.from === this.id) {
          this.#send(makeMessage({ type: MessageType.ReadIndex, to: this.#leader, context: m.context }));
        }
        return;
      case MessageType.ReadIndexResponse:
        this.#readStates.push({ index: m.index, context: m.context ?? "" });
        return;
      default:
        return;
    }
  }

  #handleAppend(m: Message): void {
    if (m.index < this.#log.committed) {
      this.#send(makeMessage({ type: MessageType.AppendResponse, to: m.from, index: this.#log.committed }));
      return;
    }
    const lastNewIndex = this.#log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNewIndex !== undefined) {
      if (m.context === COMMIT_NOTICE_CONTEXT && m.entries.length === 0) return;
      this.#send(makeMessage({ type: MessageType.AppendResponse, to: m.from, index: lastNewIndex }));
      return;
    }
    const hint = this.#log.findConflictByTerm(Math.min(m.index, this.#log.lastIndex()), m.logTerm);
    this.#send(makeMessage({ type: MessageType.AppendResponse, to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }));
  }

  #handleSnapshot(m: Message): void {
    const snapshot = m.snapshot;
    if (!snapshot) return;
    const { index, term } = snapshot.meta;
    if (index <= this.#log.committed) {
      this.#send(makeMessage({ type: MessageType.AppendResponse, to: m.from, index: this.#log.committed }));
      return;
    }
    if (this.#log.matchTerm(index, term)) {
      // We already hold this entry: fast-forward the commit instead of discarding the log.
      this.#log.commitTo(index);
    } else {
      this.#log.restore(snapshot);
      this.#conf = snapshot.meta.confState;
      this.#confRestoredAt = index;
      this.#rebuildProgress();
      this.#config.logger?.info({ id: this.id, term: this.#term, index }, "restoring from snapshot");
    }
    this.#send(makeMessage({ type: MessageType.AppendResponse, to: m.from, index: this.#log.lastIndex() }));
  }

  // ---------------------------------------------------------------------------------------
  // Helpers

  #send(m: Message): void {
    const message = messageFrom(m, m.from === NO_NODE ? this.id : m.from, m.term !== 0 || carriesExplicitTerm(m.type) ? m.term : this.#term);
    assert(message.to !== this.id, () => `a ${message.type} message addressed to itself`);
    if (message.type === MessageType.AppendResponse || message.type === MessageType.VoteResponse) {
      // These promise that what they acknowledge is durable: they wait for the save.
      this.#messagesAfterPersist.push(message);
    } else {
      this.#messages.push(message);
    }
  }

  #appliedTo(index: number): void {
    const previous = this.#log.applied;
    this.#log.appliedTo(index);
    if (this.#role === Role.Leader && previous < index) {
      // Applied entries of this term are committed: release their bytes from the uncommitted budget.
      const entries = this.#log.slice(Math.max(previous + 1, this.#log.firstIndex()), index + 1, Number.MAX_SAFE_INTEGER) ?? [];
      let bytes = 0;
      for (const entry of entries) if (entry.term === this.#term) bytes += entry.data.byteLength;
      this.#uncommittedBytes = Math.max(0, this.#uncommittedBytes - bytes);
    }
  }

  #rebuildProgress(): void {
    this.#progress.clear();
    this.#syncProgressWithConf();
  }

  #syncProgressWithConf(): void {
    const members = new Set([...this.#conf.voters, ...this.#conf.learners]);
    for (const id of [...this.#progress.keys()]) if (!members.has(id)) this.#progress.delete(id);
    const next = this.#log.lastIndex() + 1;
    for (const id of members) {
      const isLearner = this.#conf.learners.includes(id);
      const existing = this.#progress.get(id);
      if (existing) {
        existing.isLearner = isLearner;
        continue;
      }
      const pr = new Progress(next, isLearner, this.#config.inflightAppendsMax, this.#config.inflightBytesMax);
      if (id === this.id) pr.match = this.#log.persistedIndex();
      pr.recentActive = id === this.id;
      this.#progress.set(id, pr);
    }
  }

  #softState(): SoftState {
    return { leader: this.#leader, role: this.#role };
  }

  #hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.#log.committed };
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** Responses whose term is set explicitly (a pre-vote grant carries the future term). */
function carriesExplicitTerm(type: MessageType): boolean {
  return type === MessageType.PreVote || type === MessageType.PreVoteResponse;
}

/**
 * Writes the first entries of a brand-new cluster: one AddVoter change per initial member, at
 * term 1, already committed. Every initial member is bootstrapped with the same list (and the
 * same contexts), so their logs agree from the start.
 */
export function bootstrapStorage(storage: MemoryStorage, voters: readonly NodeId[], contexts?: ReadonlyMap<NodeId, Uint8Array>): Entry[] {
  if (voters.length === 0) throw new RangeError("bootstrap needs at least one voter");
  if (new Set(voters).size !== voters.length) throw new RangeError("bootstrap voters must be distinct");
  if (storage.lastIndex() !== 0 || storage.hardState().term !== 0) {
    throw new InvariantError("bootstrapStorage: storage is not empty");
  }
  const entries: Entry[] = voters.map((node, i) => {
    const context = contexts?.get(node);
    return {
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange(context ? { type: ConfChangeType.AddVoter, node, context } : { type: ConfChangeType.AddVoter, node }),
    };
  });
  storage.append(entries);
  storage.setHardState({ term: 1, vote: NO_NODE, commit: entries.length });
  return entries;
}
