/**
 * KvStore: Flotilla's replicated state machine on SQLite. Committed entries go in through
 * applyBatch (one SQLite transaction per batch, which also stores the applied index, so an
 * entry is never applied twice nor skipped across restarts); local reads, the change-event
 * window, membership and snapshots come out.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { Packr } from "msgpackr";
import { assert, InvariantError } from "../util/assert.js";
import {
  EVENTS_PAGE_MAX,
  EVENTS_PER_ROW_MAX,
  EVENTS_RETAINED_MAX,
  EVENTS_ROWS_PER_WINDOW_MIN,
  IDEMPOTENCY_KEYS_MAX,
  IDEMPOTENCY_RESULT_BYTES_MAX,
  IDEMPOTENCY_WINDOW_INDEXES,
  KV_PAGE_CACHE_BYTES_DEFAULT,
  KV_WAL_AUTOCHECKPOINT_PAGES,
  RANGE_KVS_MAX,
} from "../util/limits.js";
import { BackgroundCheckpointer, type BackgroundCheckpointOptions } from "./background-checkpoint.js";
import { decodeCommand, type Command } from "./command.js";
import { CompactedError, IncompatibleDatabaseError, InvalidSnapshotError, KvInputError, MalformedCommandError } from "./errors.js";
import { packEventRows, unpackEventRow, type PendingEvent } from "./events.js";
import { executeCommand, readKey, scanRange } from "./execute.js";
import type { ApplyInput, CommandInput, Membership, MembershipInput, StateImage } from "./input.js";
import { keyBytes, keyProblem } from "./keys.js";
import { decodeMemberContext, type Member, type MemberAddresses } from "./membership.js";
import type { ApplyResult, ChangeEvent, CommandResult, EventsPage, KeyValue, RangeResult } from "./results.js";
import { ensureSchema, prepareStatements, type MetaRow, type Statements } from "./schema.js";

/** The path that selects an in-memory database (tests, the simulator). */
export const MEMORY_PATH = ":memory:";

export interface RetentionLimits {
  readonly idempotencyKeysMax: number;
  readonly idempotencyWindowIndexes: number;
  readonly eventsRetainedMax: number;
}

export const DEFAULT_RETENTION: RetentionLimits = Object.freeze({
  idempotencyKeysMax: IDEMPOTENCY_KEYS_MAX,
  idempotencyWindowIndexes: IDEMPOTENCY_WINDOW_INDEXES,
  eventsRetainedMax: EVENTS_RETAINED_MAX,
});

export interface KvStoreOptions {
  /** Database file, or MEMORY_PATH. The parent directory is created if missing. */
  readonly path: string;
  /**
   * "normal" (default): a commit survives a process crash, and survives power loss once a
   * checkpoint() has run; durableAppliedIndex() says how far. "full": every commit is fsync'd.
   */
  readonly synchronous?: "normal" | "full";
  /**
   * Most bytes of database pages SQLite keeps cached in this process (file mode); default
   * KV_PAGE_CACHE_BYTES_DEFAULT. Pages beyond it are read again from the file, which the
   * kernel's page cache holds anyway.
   */
  readonly pageCacheBytes?: number;
  /**
   * File mode with synchronous "normal": keep one SQLite transaction open across batches and
   * commit it after this many applied entries, or when commitApplied() (or anything that needs
   * the file: snapshot, checkpoint, restore, close) is called. etcd's backend batching: a
   * commit writes every page it dirtied to SQLite's WAL, so one commit per hundreds of entries
   * writes a hot page once instead of once per batch. Reads on this store see the applied
   * state either way (one connection). A crash loses the uncommitted batches, which the node
   * applies again from its Raft log. 0 (the default): every batch commits.
   */
  readonly deferredCommitEntriesMax?: number;
  /**
   * Smaller windows for tests. Idempotency limits decide what an apply does, so every
   * replica of a cluster must run with the same values (the defaults, in production).
   */
  readonly retention?: Partial<RetentionLimits>;
  /**
   * File mode: copy SQLite's WAL into the database file on a worker thread
   * (background-checkpoint.ts) instead of on this thread once the WAL is large. For a
   * long-running node; a short-lived tool has no use for the thread.
   */
  readonly backgroundCheckpoints?: BackgroundCheckpointOptions;
}

export interface RangeOptions {
  /** Return only keys strictly after this one (pagination: the last key of the previous page). */
  readonly after?: string;
  /** Most kvs to return, 1..RANGE_KVS_MAX (the default). */
  readonly limit?: number;
}

/** What the store has applied; a copy is edited during a batch and kept only if it commits. */
interface AppliedState {
  index: number;
  term: number;
  revision: number;
  eventsCompactedRevision: number;
  /** Events in the window (not stored: summed from the rows at open). */
  eventsRetained: number;
  idempotencySeq: number;
  confState: Membership;
}

/** A literal, not a spread (V8 clones a spread through a slow generic path): once per applied batch. */
function copyAppliedState(state: AppliedState): AppliedState {
  return {
    index: state.index,
    term: state.term,
    revision: state.revision,
    eventsCompactedRevision: state.eventsCompactedRevision,
    eventsRetained: state.eventsRetained,
    idempotencySeq: state.idempotencySeq,
    confState: state.confState,
  };
}

const resultPackr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

export class KvStore {
  readonly path: string;
  readonly #memory: boolean;
  readonly #synchronous: "normal" | "full";
  readonly #pageCacheBytes: number;
  readonly #deferredCommitEntriesMax: number;
  #uncommittedEntries = 0;
  readonly #retention: RetentionLimits;
  /** Events per stored row: EVENTS_PER_ROW_MAX, or fewer for a test's small window. */
  readonly #eventsPerRowMax: number;
  #db!: Database.Database;
  #statements!: Statements;
  #applyInTransaction!: (inputs: readonly ApplyInput[]) => { results: ApplyResult[]; state: AppliedState };
  #state!: AppliedState;
  #durableIndex = 0;
  readonly #backgroundCheckpoints: BackgroundCheckpointOptions | undefined;
  #checkpointer: BackgroundCheckpointer | undefined;

  private constructor(options: KvStoreOptions) {
    this.path = options.path;
    this.#memory = options.path === MEMORY_PATH;
    this.#synchronous = options.synchronous ?? "normal";
    this.#pageCacheBytes = options.pageCacheBytes ?? KV_PAGE_CACHE_BYTES_DEFAULT;
    if (!Number.isSafeInteger(this.#pageCacheBytes) || this.#pageCacheBytes < 1) throw new KvInputError(`pageCacheBytes must be a positive integer, not ${this.#pageCacheBytes}`);
    this.#deferredCommitEntriesMax = this.#memory || this.#synchronous === "full" ? 0 : (options.deferredCommitEntriesMax ?? 0);
    if (!Number.isSafeInteger(this.#deferredCommitEntriesMax) || this.#deferredCommitEntriesMax < 0) {
      throw new KvInputError(`deferredCommitEntriesMax must be a non-negative integer, not ${options.deferredCommitEntriesMax}`);
    }
    this.#backgroundCheckpoints = this.#memory ? undefined : options.backgroundCheckpoints;
    this.#retention = { ...DEFAULT_RETENTION, ...options.retention };
    assert(Object.values(this.#retention).every((limit) => Number.isSafeInteger(limit) && limit >= 1), "retention limits are positive integers");
    this.#eventsPerRowMax = Math.max(1, Math.min(EVENTS_PER_ROW_MAX, Math.floor(this.#retention.eventsRetainedMax / EVENTS_ROWS_PER_WINDOW_MIN)));
  }

  static open(options: KvStoreOptions): KvStore {
    const store = new KvStore(options);
    if (store.#memory) {
      store.#bind(openDatabase(MEMORY_PATH));
    } else {
      fs.mkdirSync(path.dirname(options.path), { recursive: true });
      fs.rmSync(restoreTempPath(options.path), { force: true }); // an interrupted restore
      store.#bind(openDatabase(options.path));
      store.checkpoint(); // what survived the last run is made durable before anyone relies on it
      store.#startBackgroundCheckpoints();
    }
    return store;
  }

  close(): void {
    if (!this.#db.open) return;
    this.commitApplied();
    // Its connection first: this one, the last, then checkpoints and removes the WAL.
    this.#stopBackgroundCheckpoints();
    this.#db.close();
  }

  /** True while a background checkpointer runs for this store (see KvStoreOptions). */
  get checkpointsInBackground(): boolean {
    return this.#checkpointer?.running ?? false;
  }

  // -------------------------------------------------------------------------------------
  // Apply

  /**
   * Applies committed entries, in order, in one SQLite transaction that also records the last
   * applied index and term. The first must be exactly appliedIndex()+1 and the rest follow it
   * without gaps: an entry applied twice or skipped is a bug in the caller, not something to
   * smooth over. That, an undecodable command or a term going backwards throws InvariantError
   * and rolls the whole batch back: the node must stop.
   */
  applyBatch(inputs: readonly ApplyInput[]): ApplyResult[] {
    this.#checkOpen();
    if (inputs.length === 0) return [];
    this.#checkFollows(inputs);
    const deferring = this.#deferredCommitEntriesMax > 0;
    if (deferring && !this.#db.inTransaction) this.#db.exec("BEGIN");
    // Inside the open transaction this is a savepoint: a failed batch still rolls back whole.
    const { results, state } = this.#applyInTransaction(inputs);
    this.#state = state;
    if (this.#synchronous === "full" && !this.#memory) this.#durableIndex = state.index;
    if (deferring) {
      this.#uncommittedEntries += inputs.length;
      if (this.#uncommittedEntries >= this.#deferredCommitEntriesMax) this.commitApplied();
    }
    return results;
  }

  /** Commits the batches applied since the last commit (deferredCommitEntriesMax); cheap when there are none. */
  commitApplied(): void {
    this.#checkOpen();
    this.#uncommittedEntries = 0;
    if (this.#db.inTransaction) this.#db.exec("COMMIT");
  }

  #checkFollows(inputs: readonly ApplyInput[]): void {
    const first = inputs[0]!.index;
    assert(first === this.#state.index + 1, () =>
      first <= this.#state.index ? `entry ${first} is applied already (the applied index is ${this.#state.index})` : `entry ${first} would skip entries: the applied index is ${this.#state.index}`,
    );
    for (let i = 1; i < inputs.length; i++) {
      assert(inputs[i]!.index === inputs[i - 1]!.index + 1, () => `apply batch is not contiguous: index ${inputs[i]!.index} follows ${inputs[i - 1]!.index}`);
    }
  }

  #applyEntries(inputs: readonly ApplyInput[]): { results: ApplyResult[]; state: AppliedState } {
    const state = copyAppliedState(this.#state);
    const results: ApplyResult[] = [];
    const events: PendingEvent[] = [];
    for (const input of inputs) {
      assert(input.term >= state.term, () => `entry ${input.index} has term ${input.term}, below the applied term ${state.term}`);
      results.push(this.#applyInput(state, input, events));
      state.index = input.index;
      state.term = input.term;
    }
    this.#pruneIdempotency(state);
    this.#storeEvents(state, events);
    this.#statements.writeMeta.run(state.index, state.term, state.revision, state.eventsCompactedRevision, state.idempotencySeq, JSON.stringify(state.confState));
    return { results, state };
  }

  // Results are object literals of one shape, not spreads of a shared base: V8 clones a spread
  // through a slow generic path, and this runs for every entry on every node.
  #applyInput(state: AppliedState, input: ApplyInput, events: PendingEvent[]): ApplyResult {
    switch (input.kind) {
      case "command": {
        if (input.data.byteLength === 0) {
          // The empty entry a new leader appends to commit its term.
          return { index: input.index, term: input.term, requestId: null, result: { kind: "noop", revision: state.revision }, replayed: false };
        }
        return this.#applyCommand(state, input, input.decoded ?? decodeCommittedCommand(input), events);
      }
      case "membership": {
        this.#storeMembership(input);
        state.confState = { voters: [...input.membership.voters], learners: [...input.membership.learners] };
        return { index: input.index, term: input.term, requestId: null, result: { kind: "conf_change", revision: state.revision, confState: state.confState }, replayed: false };
      }
      default:
        throw new InvariantError(`entry ${(input as ApplyInput).index} has unknown kind ${String((input as { kind: unknown }).kind)}`);
    }
  }

  #applyCommand(state: AppliedState, entry: CommandInput, command: Command, events: PendingEvent[]): ApplyResult {
    const token = command.idempotencyKey;
    if (token !== undefined) {
      const first = this.#rememberedResult(state, token, command.requestHash ?? "", entry.index);
      if (first !== undefined) return { index: entry.index, term: entry.term, requestId: command.requestId, result: first, replayed: true };
    }
    const result = executeCommand(this.#statements, command, state.revision, events);
    assert(result.revision === state.revision || result.revision === state.revision + 1, "a command advances the revision by at most one");
    state.revision = result.revision;
    if (token !== undefined) this.#remember(state, token, command.requestHash ?? "", entry.index, result);
    return { index: entry.index, term: entry.term, requestId: command.requestId, result, replayed: false };
  }

  // -------------------------------------------------------------------------------------
  // Idempotency: a token is remembered while within both bounds, measured in log indexes and
  // in tokens (never in wall-clock time), so every replica makes the same decision.

  /**
   * The first result of `token`, while it is remembered; for a different request under the same
   * token (another requestHash; "" when either side has none, as from before schema version 3),
   * an idempotency_key_reused result instead.
   */
  #rememberedResult(state: AppliedState, token: string, hash: string, index: number): CommandResult | undefined {
    const row = this.#statements.getIdempotency.get(token);
    if (row === undefined) return undefined;
    const withinCount = row.seq > state.idempotencySeq - this.#retention.idempotencyKeysMax;
    const withinWindow = row.applied_index > index - this.#retention.idempotencyWindowIndexes;
    if (!withinCount || !withinWindow) {
      this.#statements.deleteIdempotencyToken.run(token); // expired: the token starts afresh
      return undefined;
    }
    if (hash !== "" && row.request_hash !== "" && hash !== row.request_hash) return { kind: "idempotency_key_reused", revision: state.revision, index: row.applied_index };
    return resultPackr.unpack(row.result) as CommandResult;
  }

  #remember(state: AppliedState, token: string, hash: string, index: number, result: CommandResult): void {
    let encoded: Uint8Array = resultPackr.pack(result);
    if (encoded.byteLength > IDEMPOTENCY_RESULT_BYTES_MAX) {
      encoded = resultPackr.pack({ kind: "already_applied", revision: result.revision, index });
    }
    state.idempotencySeq += 1;
    this.#statements.insertIdempotency.run(state.idempotencySeq, token, index, encoded, hash);
  }

  #pruneIdempotency(state: AppliedState): void {
    this.#statements.deleteIdempotencyThroughSeq.run(state.idempotencySeq - this.#retention.idempotencyKeysMax);
    this.#statements.deleteIdempotencyThroughIndex.run(state.index - this.#retention.idempotencyWindowIndexes);
  }

  // -------------------------------------------------------------------------------------
  // Change events: a batch's events are stored packed in rows (events.ts), the oldest rows
  // dropped while the window holds more than eventsRetainedMax. A row holds whole revisions,
  // so a retained revision is complete.

  #storeEvents(state: AppliedState, events: readonly PendingEvent[]): void {
    for (const row of packEventRows(events, this.#eventsPerRowMax)) {
      this.#statements.insertEventRow.run(row.lastRevision, row.count, row.data);
      state.eventsRetained += row.count;
    }
    while (state.eventsRetained > this.#retention.eventsRetainedMax) {
      const oldest = this.#statements.oldestEventRow.get();
      assert(oldest !== undefined, () => `the events window counts ${state.eventsRetained} events but has no rows`);
      this.#statements.deleteEventRow.run(oldest.last_revision);
      assert(oldest.last_revision > state.eventsCompactedRevision, "the events window only moves forward");
      state.eventsRetained -= oldest.count;
      state.eventsCompactedRevision = oldest.last_revision;
    }
  }

  /**
   * Events of the revisions after `afterRevision`, oldest first, whole revisions only (a single
   * revision larger than `limit` comes whole, alone). Throws CompactedError when some of those
   * events are no longer retained.
   */
  eventsSince(afterRevision: number, limit: number = EVENTS_PAGE_MAX): EventsPage {
    this.#checkOpen();
    expectCount(afterRevision, "afterRevision", 0, Number.MAX_SAFE_INTEGER);
    expectCount(limit, "limit", 1, EVENTS_PAGE_MAX);
    if (afterRevision < this.#state.eventsCompactedRevision) throw new CompactedError(afterRevision, this.#state.eventsCompactedRevision);
    const revision = this.#state.revision;
    const page: ChangeEvent[] = [];
    for (const event of this.#eventsAfter(afterRevision)) {
      if (page.length < limit) {
        page.push(event);
        continue;
      }
      const last = page.at(-1)!.revision;
      if (page[0]!.revision === last) {
        // One revision fills the page: it comes whole, alone.
        if (event.revision === last) page.push(event);
        else return { events: page, more: true, revision };
        continue;
      }
      // The page ends on whole revisions: without its last one if that one goes on here.
      return { events: event.revision === last ? page.filter((e) => e.revision !== last) : page, more: true, revision };
    }
    return { events: page, more: false, revision };
  }

  *#eventsAfter(afterRevision: number): Generator<ChangeEvent> {
    for (const row of this.#statements.eventRowsAfter.iterate(afterRevision)) {
      for (const event of unpackEventRow({ lastRevision: row.last_revision, count: row.count, data: row.data })) {
        if (event.revision > afterRevision) yield event;
      }
    }
  }

  /** Events of revisions up to this one are gone; eventsSince(r) needs r ≥ this. */
  eventsCompactedRevision(): number {
    return this.#state.eventsCompactedRevision;
  }

  // -------------------------------------------------------------------------------------
  // Membership

  /** A member no longer in the membership is forgotten; one in it keeps the addresses its change carries, or those known. */
  #storeMembership(input: MembershipInput): void {
    const { membership, node, context } = input;
    checkMembership(membership, input.index);
    if (!membership.voters.includes(node) && !membership.learners.includes(node)) {
      this.#statements.deleteMember.run(node);
      this.#statements.insertRemovedMember.run(node);
      return;
    }
    this.#statements.deleteRemovedMember.run(node);
    const known = this.#statements.getMember.get(node);
    const addresses =
      context !== undefined && context.byteLength > 0
        ? decodeCommittedContext(input, context)
        : known && { peer: known.peer, client: known.client, autoPromote: known.auto_promote === 1 };
    this.#statements.upsertMember.run(node, addresses?.peer ?? "", addresses?.client ?? "", addresses?.autoPromote ? 1 : 0);
  }

  confState(): Membership {
    return this.#state.confState;
  }

  /** Ids removed from the cluster by a membership change, and not added again since. */
  removedMembers(): string[] {
    this.#checkOpen();
    return this.#statements.listRemovedMembers.all().map((row) => row.id);
  }

  /** Current members (voters and learners) with the addresses their ConfChange carried. */
  members(): Member[] {
    this.#checkOpen();
    const addresses = new Map(this.#statements.listMembers.all().map((row) => [row.id, row]));
    const { voters, learners } = this.#state.confState;
    const member = (id: string, voter: boolean): Member => {
      const row = addresses.get(id);
      return { id, peer: row?.peer ?? "", client: row?.client ?? "", autoPromote: row?.auto_promote === 1, voter };
    };
    return [...voters.map((id) => member(id, true)), ...learners.map((id) => member(id, false))].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  // -------------------------------------------------------------------------------------
  // Local reads (stale reads, and linearizable reads once applied ≥ the ReadIndex)

  get(key: string): KeyValue | null {
    this.#checkOpen();
    const problem = keyProblem(key, "key", { emptyAllowed: false });
    if (problem !== undefined) throw new KvInputError(problem);
    return readKey(this.#statements, keyBytes(key));
  }

  /** Keys starting with `prefix` ("" = all keys) in UTF-8 byte order. */
  range(prefix: string, options: RangeOptions = {}): RangeResult {
    this.#checkOpen();
    const prefixProblem = keyProblem(prefix, "prefix", { emptyAllowed: true });
    if (prefixProblem !== undefined) throw new KvInputError(prefixProblem);
    const afterProblem = options.after === undefined ? undefined : keyProblem(options.after, "after", { emptyAllowed: false });
    if (afterProblem !== undefined) throw new KvInputError(afterProblem);
    const limit = options.limit ?? RANGE_KVS_MAX;
    expectCount(limit, "limit", 1, RANGE_KVS_MAX);
    const after = options.after === undefined ? undefined : keyBytes(options.after);
    const { kvs, more } = scanRange(this.#statements, keyBytes(prefix), after, limit);
    return { kvs, more, revision: this.#state.revision };
  }

  revision(): number {
    return this.#state.revision;
  }

  appliedIndex(): number {
    return this.#state.index;
  }

  appliedTerm(): number {
    return this.#state.term;
  }

  // -------------------------------------------------------------------------------------
  // Durability

  /**
   * The highest applied index that survives power loss. The node must not compact the Raft
   * log past it: entries after it may have to be applied again after a crash. In-memory: 0.
   */
  durableAppliedIndex(): number {
    return this.#durableIndex;
  }

  /** Checkpoints the WAL into the database file (fsync'd); returns the new durable index. */
  checkpoint(): number {
    this.#checkOpen();
    if (this.#memory) return this.#durableIndex;
    this.commitApplied();
    const [outcome] = this.#db.pragma("wal_checkpoint(TRUNCATE)") as { busy: number }[];
    assert(outcome !== undefined && outcome.busy === 0, "a checkpoint on the only connection completes");
    this.#durableIndex = this.#state.index;
    return this.#durableIndex;
  }

  // -------------------------------------------------------------------------------------
  // Snapshots: the whole database image (sqlite3_serialize), consistent by construction
  // since nothing else runs on this connection between two calls.

  snapshot(): StateImage {
    this.#checkOpen();
    this.commitApplied();
    const meta = { index: this.#state.index, term: this.#state.term, confState: this.#state.confState };
    return { meta, data: this.#db.serialize() };
  }

  /**
   * Replaces the whole state with a snapshot's image. File mode: the image is written to a
   * temporary file, fsync'd and renamed over the database, so a crash leaves the old or the
   * new database, never a mix. Throws InvalidSnapshotError (and keeps the current state) when
   * the image is not a kv database whose applied index and term match `snapshot.meta`.
   */
  restore(snapshot: StateImage): void {
    this.#checkOpen();
    this.commitApplied();
    const image = rollbackJournalImage(snapshot.data);
    const candidate = openSnapshotImage(image, snapshot.meta);
    if (this.#memory) {
      this.#db.close();
      this.#bind(candidate);
      return;
    }
    candidate.close();
    this.#stopBackgroundCheckpoints();
    try {
      this.#replaceDatabaseFile(image);
    } finally {
      this.#startBackgroundCheckpoints();
    }
    this.#durableIndex = this.#state.index;
  }

  #replaceDatabaseFile(image: Uint8Array): void {
    const temp = restoreTempPath(this.path);
    writeFileDurably(temp, image);
    this.checkpoint(); // the old WAL is then empty: removing it below loses nothing
    this.#db.close();
    try {
      fs.rmSync(`${this.path}-wal`, { force: true });
      fs.rmSync(`${this.path}-shm`, { force: true });
      fs.renameSync(temp, this.path);
      fsyncDirectory(path.dirname(this.path));
    } finally {
      this.#bind(openDatabase(this.path)); // the new database, or the old one if the swap failed
    }
  }

  // -------------------------------------------------------------------------------------

  #bind(db: Database.Database): void {
    this.#db = db;
    // Statement journals (an upsert inside the open transaction needs one) stay in memory: in
    // a temporary file they cost two writes per put, 60% of a node's write syscalls at 6,000
    // puts/s, on whatever disk holds /var/tmp.
    db.pragma("temp_store = MEMORY");
    if (!this.#memory) {
      db.pragma("journal_mode = WAL");
      db.pragma(`synchronous = ${this.#synchronous === "full" ? "FULL" : "NORMAL"}`);
      // Negative: a size in KiB. better-sqlite3 builds SQLite with a 16 MiB default, which a
      // node filled with data keeps resident as a second copy of what the kernel caches.
      db.pragma(`cache_size = -${Math.ceil(this.#pageCacheBytes / 1024)}`);
      db.pragma(`wal_autocheckpoint = ${KV_WAL_AUTOCHECKPOINT_PAGES}`);
    }
    this.#statements = prepareStatements(db);
    this.#applyInTransaction = db.transaction((inputs: readonly ApplyInput[]) => this.#applyEntries(inputs));
    this.#state = readAppliedState(this.#statements);
  }

  #startBackgroundCheckpoints(): void {
    if (this.#backgroundCheckpoints !== undefined) this.#checkpointer = BackgroundCheckpointer.start(this.path, this.#backgroundCheckpoints);
  }

  #stopBackgroundCheckpoints(): void {
    this.#checkpointer?.stop();
    this.#checkpointer = undefined;
  }

  #checkOpen(): void {
    assert(this.#db.open, "the kv store is closed");
  }
}

function openDatabase(location: string | Buffer): Database.Database {
  const db = new Database(location);
  try {
    ensureSchema(db, { create: typeof location === "string" });
    return db;
  } catch (error) {
    db.close();
    if (error instanceof Database.SqliteError && (error.code === "SQLITE_NOTADB" || error.code === "SQLITE_CORRUPT")) {
      throw new IncompatibleDatabaseError(`${typeof location === "string" ? location : "image"} is not a usable SQLite database: ${error.message}`);
    }
    throw error;
  }
}

function readAppliedState(statements: Statements): AppliedState {
  const row: MetaRow | undefined = statements.readMeta.get();
  assert(row !== undefined, "the meta table has its one row");
  return {
    index: row.applied_index,
    term: row.applied_term,
    revision: row.revision,
    eventsCompactedRevision: row.events_compacted_revision,
    eventsRetained: statements.countEvents.get()!.n,
    idempotencySeq: row.idempotency_seq,
    confState: parseStoredConfState(row.conf_state),
  };
}

function parseStoredConfState(json: string): Membership {
  const parsed = JSON.parse(json) as Membership;
  checkMembership(parsed, 0);
  return parsed;
}

function checkMembership(confState: Membership, index: number): void {
  const isIdList = (ids: unknown): boolean => Array.isArray(ids) && ids.every((id) => typeof id === "string" && id.length > 0);
  assert(isIdList(confState.voters) && isIdList(confState.learners), () => `membership at entry ${index} is not two lists of node ids`);
  assert(!confState.voters.some((id) => confState.learners.includes(id)), () => `membership at entry ${index} has a node that is both voter and learner`);
}

function decodeCommittedCommand(entry: CommandInput): Command {
  try {
    return decodeCommand(entry.data);
  } catch (error) {
    if (!(error instanceof MalformedCommandError)) throw error;
    throw new InvariantError(`committed entry ${entry.index} (term ${entry.term}) is not a valid command: ${error.message}`, { cause: error });
  }
}

function decodeCommittedContext(entry: MembershipInput, context: Uint8Array): MemberAddresses {
  try {
    return decodeMemberContext(context);
  } catch (error) {
    if (!(error instanceof MalformedCommandError)) throw error;
    throw new InvariantError(`committed membership change at entry ${entry.index} (term ${entry.term}): ${error.message}`, { cause: error });
  }
}

function expectCount(value: number, what: string, low: number, high: number): void {
  if (!Number.isSafeInteger(value) || value < low || value > high) throw new KvInputError(`${what} must be an integer in ${low}..${high}, not ${value}`);
}

/** SQLite header bytes 18-19 say "WAL" (2) in a WAL database's image; memory databases need 1. */
function rollbackJournalImage(data: Uint8Array): Buffer {
  const image = Buffer.from(data); // a copy: the caller's bytes stay untouched
  if (image.length >= 100 && image[18] === 2 && image[19] === 2) {
    image[18] = 1;
    image[19] = 1;
  }
  return image;
}

const SQLITE_HEADER = Buffer.from("SQLite format 3\0", "latin1");

/** Why an image is not a whole SQLite file (SQLite itself reads a truncated one as zeros). */
function imageFramingProblem(image: Buffer): string | undefined {
  if (image.length < 100 || !image.subarray(0, 16).equals(SQLITE_HEADER)) return "it does not start with a SQLite header";
  const pageSizeField = image.readUInt16BE(16);
  const pageSize = pageSizeField === 1 ? 65536 : pageSizeField;
  const pageCount = image.readUInt32BE(28);
  if (image.length !== pageSize * pageCount) return `it is ${image.length} bytes, but its header says ${pageCount} pages of ${pageSize} bytes`;
  return undefined;
}

/** Opens an image in memory and checks it is a kv database at exactly `meta`'s index and term. */
function openSnapshotImage(image: Buffer, meta: StateImage["meta"]): Database.Database {
  const framing = imageFramingProblem(image);
  if (framing !== undefined) throw new InvalidSnapshotError(`snapshot at index ${meta.index} is not a whole database image: ${framing}`);
  let db: Database.Database;
  try {
    db = openDatabase(image);
  } catch (error) {
    throw new InvalidSnapshotError(`snapshot at index ${meta.index} is not a kv database: ${(error as Error).message}`, { cause: error });
  }
  try {
    const check = db.pragma("quick_check", { simple: true });
    if (check !== "ok") throw new InvalidSnapshotError(`snapshot at index ${meta.index} fails SQLite's quick_check: ${String(check)}`);
    const state = readAppliedState(prepareStatements(db));
    if (state.index !== meta.index || state.term !== meta.term) {
      throw new InvalidSnapshotError(`snapshot says index ${meta.index} term ${meta.term}, but its data is at index ${state.index} term ${state.term}`);
    }
    return db;
  } catch (error) {
    db.close();
    if (error instanceof InvalidSnapshotError) throw error;
    throw new InvalidSnapshotError(`snapshot at index ${meta.index} is unreadable: ${(error as Error).message}`, { cause: error });
  }
}

function restoreTempPath(databasePath: string): string {
  return `${databasePath}.restore`;
}

function writeFileDurably(file: string, bytes: Uint8Array): void {
  const fd = fs.openSync(file, "w");
  try {
    let written = 0;
    while (written < bytes.byteLength) written += fs.writeSync(fd, bytes, written, bytes.byteLength - written);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncDirectory(directory: string): void {
  const fd = fs.openSync(directory, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
