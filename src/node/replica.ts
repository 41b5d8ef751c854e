/**
 * One replica: a Raft core, its driver, and the paths that serve clients (writes, reads,
 * membership, leadership), over the four ports of ports.ts. This is what both the node
 * (node.ts, on the WAL, TCP, SQLite and real time) and the simulator (src/sim, on their twins)
 * run: there is one replica, and the simulator proves it.
 */
import { Role, type Message, type ReadState, type SoftState, type Status } from "../raft/index.js";
import type { ApplyResult, CommandBody, CommandResult, Member, RangeResult } from "../kv/index.js";
import { NodeError, type AddMemberRequest, type GetResult, type MemberStatus, type NodeRole, type NodeStatus, type RangeRequest, type ReadOptions, type WriteOptions } from "./api.js";
import { Chores } from "./chores.js";
import { Conditions } from "./conditions.js";
import type { ReplicaContext, ReplicaObserver } from "./context.js";
import { Driver, type DriverObserver, type DriverOptions } from "./driver.js";
import { decodeForwardFrame, type ForwardFrame, type LeaderAnswer, type LeaderRequest } from "./forwarding.js";
import { LeaderRequests } from "./leader-requests.js";
import { MembershipChanges } from "./membership.js";
import { PeerDirectory } from "./peers.js";
import type { PeerEvents } from "./ports.js";
import { ReadPath } from "./reads.js";
import { WritePath } from "./writes.js";
import { ELECTION_TIMEOUT_TICKS_DEFAULT, NODE_LEADERLESS_LOOKUP_ELECTION_TIMEOUTS, NODE_REMOVED_STOP_DELAY_MS } from "../util/limits.js";

/** The driver's ports and settings, and what the replica's own parts need besides. */
export interface ReplicaOptions
  extends Pick<DriverOptions, "id" | "storage" | "log" | "machine" | "network" | "clock" | "rng" | "logger" | "tickMs" | "raft" | "snapshotEntries" | "snapshotCatchupEntries"> {
  /** Unique to this life of the node (random in production, drawn from the seed in the simulator). */
  readonly bootId: string;
  /** This node's advertised addresses, which the membership should record. */
  readonly peerAddress: string;
  readonly clientUrl: string;
  readonly requestTimeoutMs: number;
  /** Peers to dial besides the applied membership's: those named in the log but not applied yet, or learned when joining. */
  readonly extraPeers?: Readonly<Record<string, string>>;
  readonly observer?: ReplicaObserver & DriverObserver;
  /** The driver stopped on a failed save or a broken invariant: the replica serves nothing more. */
  readonly onFatal: (error: Error) => void;
  /** This node learned it was removed from the cluster: it should stop. Called once. */
  readonly onRemoved: (detail: string) => void;
}

export class Replica implements PeerEvents {
  readonly id: string;
  readonly #options: ReplicaOptions;
  readonly #driver: Driver;
  readonly #ctx: ReplicaContext;
  readonly #conditions: Conditions;
  readonly #writes: WritePath;
  readonly #reads: ReadPath;
  readonly #membership: MembershipChanges;
  readonly #requests: LeaderRequests;
  readonly #peers: PeerDirectory;
  readonly #chores: Chores;
  #membersCache: readonly Member[] | undefined;
  #requestSeq = 0;
  #stopping: Promise<void> | undefined;
  #removed = false;
  /** Whether the applied membership holds this node (a joining node's does not, until its addition applies). */
  #member: boolean;
  /** When this node last heard from the leader it knows (or led itself). */
  #leaderHeardAt: number;

  constructor(options: ReplicaOptions) {
    this.id = options.id;
    this.#options = options;
    this.#conditions = new Conditions(options.clock);
    this.#driver = new Driver({
      id: options.id,
      storage: options.storage,
      log: options.log,
      machine: options.machine,
      network: options.network,
      clock: options.clock,
      rng: options.rng,
      logger: options.logger,
      tickMs: options.tickMs,
      ...(options.raft === undefined ? {} : { raft: options.raft }),
      snapshotEntries: options.snapshotEntries,
      snapshotCatchupEntries: options.snapshotCatchupEntries,
      ...(options.observer === undefined ? {} : { observer: options.observer }),
      events: {
        softStateChanged: (soft, previous) => this.#softStateChanged(soft, previous),
        takeDecoded: (index, term) => this.#writes.takeDecoded(index, term),
        applied: (results, membershipChanged) => this.#applied(results, membershipChanged),
        snapshotInstalled: (index) => this.#snapshotInstalled(index),
        readStates: (states: readonly ReadState[]) => this.#reads.confirmed(states),
        progressed: () => {
          this.#reads.applied();
          this.#conditions.recheck();
        },
        ticked: (now) => {
          this.#writes.expire(now);
          this.#reads.expire(now);
          this.#checkLeaderContact(now);
        },
      },
      onFatal: (error) => this.#fatal(error),
    });
    this.#ctx = this.#context();
    this.#writes = new WritePath(this.#ctx);
    this.#reads = new ReadPath(this.#ctx);
    this.#membership = new MembershipChanges(this.#ctx, this.#writes, options.storage);
    this.#requests = new LeaderRequests(this.#ctx, (request, deadline) => this.#serve(request, deadline));
    this.#peers = new PeerDirectory(this.#ctx);
    this.#chores = new Chores(this.#ctx, this.#membership, this.#requests);
    const conf = options.machine.confState();
    this.#member = conf.voters.includes(this.id) || conf.learners.includes(this.id);
    this.#leaderHeardAt = options.clock.now();
  }

  #context(): ReplicaContext {
    const options = this.#options;
    return {
      id: options.id,
      bootId: options.bootId,
      driver: this.#driver,
      machine: options.machine,
      network: options.network,
      clock: options.clock,
      logger: options.logger,
      conditions: this.#conditions,
      observer: options.observer,
      tickMs: options.tickMs,
      requestTimeoutMs: options.requestTimeoutMs,
      electionTimeoutTicks: options.raft?.electionTimeoutTicks ?? ELECTION_TIMEOUT_TICKS_DEFAULT,
      peerAddress: options.peerAddress,
      clientUrl: options.clientUrl,
      leader: () => this.#driver.softState.leader,
      members: () => (this.#membersCache ??= options.machine.members()),
      nextRequestId: () => `${options.id}.${options.bootId}.${++this.#requestSeq}`,
      checkOpen: () => this.#checkOpen(),
      notLeader: () => this.#notLeader(),
      waitForLeader: (deadline) => this.#waitForLeader(deadline),
    };
  }

  /** Dials the members and starts the driver and the chores. */
  start(): void {
    this.#peers.sync(this.#options.extraPeers);
    this.#driver.start();
    this.#chores.start();
  }

  get fatal(): Error | undefined {
    return this.#driver.fatal;
  }

  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  get pendingWrites(): number {
    return this.#writes.size;
  }

  get pendingReads(): number {
    return this.#reads.size;
  }

  /** The core, for status and metrics (read only: nothing outside the replica drives it). */
  get raftStatus(): Status {
    return this.#driver.raft.status();
  }

  /**
   * Stops serving: what waits is answered (a write in flight may or may not be applied), then
   * the driver finishes the Ready in hand. The network and the stores are the owner's to close.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#chores.stop();
      this.#writes.failAll(new NodeError("unknown_outcome", "the node stopped before the write was applied; it may or may not be applied"));
      this.#requests.failAll(new NodeError("unknown_outcome", "the node stopped before the leader answered; the request may or may not have been carried out"));
      const stopping = new NodeError("shutting_down", "the node is shutting down");
      this.#reads.failAll(stopping);
      this.#conditions.failAll(stopping);
      await this.#driver.stop();
    })();
    return this.#stopping;
  }

  // ---------------------------------------------------------------------------------------
  // The network's events

  message(message: Message): void {
    if (message.from === this.#driver.softState.leader) this.#leaderHeardAt = this.#options.clock.now();
    this.#driver.receive(message);
  }

  unreachable(peer: string): void {
    this.#driver.unreachable(peer);
    if (!this.#options.network.peers().has(peer)) this.#peers.lookUp();
  }

  snapshotSent(peer: string, ok: boolean): void {
    this.#driver.snapshotSent(peer, ok);
  }

  /**
   * A peer refused this node as a removed member. Believed only while this node has not heard
   * from a leader for an election timeout: a removed node hears from none, while a member
   * removed and added again may still be refused by a peer that has not applied the addition.
   */
  refusedAsRemoved(peer: string): void {
    if (this.#driver.stopped || this.#silentForMs() < this.#electionTimeoutMs()) return;
    this.#learnRemoved(`${peer} refused it as a removed member`);
  }

  /**
   * A node that hears from no leader for a while asks its peers who the members are: a member
   * removed while it was away learns it from their refusal (a learner never campaigns, so it
   * would otherwise never talk to them), and a lagging one learns addresses it lacks.
   */
  #checkLeaderContact(now: number): void {
    if (this.#driver.softState.leader === this.id) this.#leaderHeardAt = now;
    else if (this.#silentForMs() >= NODE_LEADERLESS_LOOKUP_ELECTION_TIMEOUTS * this.#electionTimeoutMs()) this.#peers.lookUp();
  }

  #silentForMs(): number {
    return this.#driver.softState.leader === this.id ? 0 : this.#options.clock.now() - this.#leaderHeardAt;
  }

  #electionTimeoutMs(): number {
    return this.#ctx.electionTimeoutTicks * this.#options.tickMs;
  }

  app(from: string, payload: Uint8Array): void {
    if (this.#stopping !== undefined) return;
    let frame: ForwardFrame;
    try {
      frame = decodeForwardFrame(payload);
    } catch (error) {
      this.#options.logger.warn({ peer: from, err: (error as Error).message }, "ignored an invalid forwarding frame");
      return;
    }
    const fatal = (error: Error): void => this.#fatal(error);
    switch (frame.kind) {
      case "write":
        return this.#writes.proposeForwarded(from, frame, fatal);
      case "accepted":
        return this.#writes.accepted(frame);
      case "refused": {
        const error = new NodeError(frame.code, frame.message);
        if (!this.#writes.refused(frame.requestId, error)) this.#requests.refused(frame.requestId, error);
        return;
      }
      case "request":
        return this.#requests.serveRemote(from, frame, fatal);
      case "answer":
        return this.#requests.answered(frame);
      case "peers?":
        return this.#peers.answerLookup(from, frame.requestId);
      case "peers":
        return this.#peers.learn(from, frame.peers);
    }
  }

  // ---------------------------------------------------------------------------------------
  // The driver's events

  #softStateChanged(soft: SoftState, previous: SoftState): void {
    this.#conditions.recheck();
    if (soft.leader === previous.leader || soft.leader === "") return;
    this.#reads.leaderKnown();
    this.#chores.leaderChanged();
  }

  #applied(results: readonly ApplyResult[], membershipChanged: boolean): void {
    this.#writes.applied(results);
    if (membershipChanged) this.#membershipChanged();
  }

  #snapshotInstalled(index: number): void {
    this.#writes.snapshotInstalled(index);
    this.#membershipChanged();
  }

  #membershipChanged(): void {
    this.#membersCache = undefined;
    this.#peers.sync();
    const conf = this.#options.machine.confState();
    const wasMember = this.#member;
    this.#member = conf.voters.includes(this.id) || conf.learners.includes(this.id);
    // Not while a joining node replays the changes from before it was added: it was no member then.
    if (wasMember && !this.#member) this.#learnRemoved("its removal was applied here");
  }

  #learnRemoved(how: string): void {
    if (this.#removed) return;
    this.#removed = true;
    const detail = `this node (${this.id}) was removed from the cluster: ${how}`;
    this.#options.logger.warn({ how }, `${detail}; it stops serving`);
    this.#options.clock.setTimeout(() => this.#options.onRemoved(detail), NODE_REMOVED_STOP_DELAY_MS);
  }

  #fatal(error: Error): void {
    void this.stop();
    this.#options.onFatal(error);
  }

  // ---------------------------------------------------------------------------------------
  // Serving clients

  write(command: CommandBody, options?: WriteOptions): Promise<CommandResult> {
    return this.#writes.write(command, options);
  }

  get(key: string, options?: ReadOptions): Promise<GetResult> {
    return this.#reads.get(key, options);
  }

  range(request: RangeRequest, options?: ReadOptions): Promise<RangeResult> {
    return this.#reads.range(request, options);
  }

  status(): NodeStatus {
    const raft = this.#driver.raft.status();
    return {
      id: this.id,
      role: roleOf(raft),
      term: raft.term,
      leader: raft.leader,
      commitIndex: raft.commit,
      appliedIndex: this.#options.machine.appliedIndex(),
      members: this.members(),
      clusterId: "",
    };
  }

  /** The members as this node sees them (with each one's progress when it leads). */
  members(): readonly MemberStatus[] {
    return this.#membership.view();
  }

  /** The members as the leader sees them, with each one's progress; this node's view when no leader answers. */
  async leaderMembers(): Promise<readonly MemberStatus[]> {
    try {
      return membersOf(await this.#requests.run({ op: "members" }));
    } catch (error) {
      if (error instanceof NodeError && (error.code === "no_leader" || error.code === "not_leader")) return this.members();
      throw error;
    }
  }

  async addMember(request: AddMemberRequest): Promise<readonly MemberStatus[]> {
    return membersOf(await this.#requests.run({ op: "add-member", member: request }));
  }

  async removeMember(id: string): Promise<readonly MemberStatus[]> {
    return membersOf(await this.#requests.run({ op: "remove-member", id }));
  }

  async promoteMember(id: string): Promise<readonly MemberStatus[]> {
    return membersOf(await this.#requests.run({ op: "promote-member", id }));
  }

  async transferLeadership(to?: string): Promise<{ leader: string }> {
    const answer = await this.#requests.run(to === undefined ? { op: "transfer-leader" } : { op: "transfer-leader", to });
    if (!("leader" in answer)) throw new NodeError("bad_request", "the leader answered a transfer with something else");
    return { leader: answer.leader };
  }

  /**
   * A leader that stops hands leadership to a caught-up voter heard from recently first, so a
   * rolling restart never waits out an election timeout (clients see one short pause).
   */
  async handOff(): Promise<void> {
    const log = this.#options.logger;
    if (this.#stopping !== undefined || this.#driver.fatal || this.#driver.softState.leader !== this.id) return;
    const target = this.#membership.handOffTarget();
    if (target === undefined) {
      log.warn({}, "no voter to hand leadership to before stopping (none caught up and heard from recently)");
      return;
    }
    try {
      const { leader } = await this.#membership.transfer(target, this.#options.clock.now() + this.#options.requestTimeoutMs);
      log.info({ to: leader }, "handed leadership over before stopping");
    } catch (error) {
      log.warn({ err: (error as Error).message }, "could not hand leadership over before stopping");
    }
  }

  /** Ready to serve: a leader is known (with its client URL, to forward to) and this node applied up to the commit index it knows. */
  isReady(): boolean {
    if (this.#stopping !== undefined) return false;
    const raft = this.#driver.raft.status();
    if (raft.leader === "" || this.#options.machine.appliedIndex() < raft.commit) return false;
    return raft.leader === this.id || this.#ctx.members().some((m) => m.id === raft.leader && m.client !== "");
  }

  /** Runs a request on this node, which leads. */
  async #serve(request: LeaderRequest, deadline: number): Promise<LeaderAnswer> {
    const membership = this.#membership;
    switch (request.op) {
      case "add-member":
        return { members: await membership.add(request.member, deadline) };
      case "remove-member":
        return { members: await membership.remove(request.id, deadline) };
      case "promote-member":
        return { members: await membership.promote(request.id, deadline) };
      case "transfer-leader":
        return membership.transfer(request.to, deadline);
      case "members":
        if (this.#driver.softState.leader !== this.id) throw this.#notLeader();
        return { members: membership.view() };
    }
  }

  // ---------------------------------------------------------------------------------------

  #checkOpen(): void {
    if (this.#stopping !== undefined || this.#driver.stopped) throw new NodeError("shutting_down", "the node is shutting down");
  }

  #notLeader(): NodeError {
    const leader = this.#driver.softState.leader;
    if (leader === "" || leader === this.id) return new NodeError("no_leader", "no leader is known; retry shortly");
    const url = this.#ctx.members().find((m) => m.id === leader)?.client;
    return new NodeError("not_leader", `node ${this.id} is not the leader (${leader} is)`, url ? { leaderClientUrl: url } : {});
  }

  #waitForLeader(deadline: number): Promise<void> {
    return this.#conditions.until(
      () => this.#driver.softState.leader !== "" || this.#driver.stopped,
      deadline,
      () => new NodeError("no_leader", "no leader was elected within the deadline"),
    );
  }
}

function membersOf(answer: LeaderAnswer): readonly MemberStatus[] {
  if (!("members" in answer)) throw new NodeError("bad_request", "the leader answered with something other than the members");
  return answer.members;
}

function roleOf(raft: Status): NodeRole {
  if (raft.isLearner) return "learner";
  if (raft.role === Role.Leader) return "leader";
  if (raft.role === Role.Candidate || raft.role === Role.PreCandidate) return "candidate";
  return "follower";
}
