/**
 * Every limit in Flotilla, in one place, with why it has the value it has.
 * Units go last in names. Relations between limits are asserted at the bottom, at load time.
 * Each layer owns a section; add new limits to the section of the layer that enforces them.
 */
import { assert } from "./assert.js";

const KiB = 1024;
const MiB = 1024 * KiB;

// ---------------------------------------------------------------------------------------
// raft: defaults for RaftConfig (each is validated again when a core is built)

/** Ticks without hearing from a leader before a follower starts a (pre-)election. */
export const ELECTION_TIMEOUT_TICKS_DEFAULT = 10;
/** Ticks between a leader's heartbeats; well below the election timeout. */
export const HEARTBEAT_INTERVAL_TICKS_DEFAULT = 1;
/** Most entry bytes sent in one append message, so one message never monopolises a link. */
export const APPEND_BYTES_MAX_DEFAULT = 1 * MiB;
/** Most append messages in flight to one follower (pipelining window, by count). */
export const INFLIGHT_APPENDS_MAX_DEFAULT = 256;
/** Most entry bytes in flight to one follower (pipelining window, by bytes). */
export const INFLIGHT_BYTES_MAX_DEFAULT = 16 * MiB;
/** Most bytes of proposed-but-uncommitted entries a leader accepts before it refuses more. */
export const UNCOMMITTED_BYTES_MAX_DEFAULT = 64 * MiB;
/** Most read requests waiting for a new leader to commit its first entry, or for a round. */
export const PENDING_READS_MAX_DEFAULT = 4096;
/** Most committed entry bytes handed to the application in one Ready. */
export const APPLY_BYTES_MAX_DEFAULT = 16 * MiB;

// ---------------------------------------------------------------------------------------
// kv and the HTTP API (api.md)

/** Largest key, in UTF-8 bytes (api.md). */
export const KEY_BYTES_MAX = 4 * KiB;
/** Largest value, in bytes (api.md). */
export const VALUE_BYTES_MAX = 1 * MiB;
/** Largest HTTP request body (api.md): a value plus room for a transaction's framing. */
export const BODY_BYTES_MAX = 1.5 * MiB;

// kv: the replicated state machine (src/kv). Retention limits that decide what an apply does
// (idempotency) must be equal on every replica: they are part of the replicated semantics.

/** Largest encoded command in a log entry: the largest body plus the envelope's framing. */
export const COMMAND_BYTES_MAX = 2 * MiB;
/** Largest request id a command carries (the node's handle to settle the client's promise). */
export const REQUEST_ID_BYTES_MAX = 128;
/** Largest Idempotency-Key token, in UTF-8 bytes. */
export const IDEMPOTENCY_KEY_BYTES_MAX = 256;
/** Most idempotency keys remembered; the oldest is forgotten first (bounds the table). */
export const IDEMPOTENCY_KEYS_MAX = 100_000;
/** A key is remembered for this many log indexes after its command (deterministic "time"). */
export const IDEMPOTENCY_WINDOW_INDEXES = 1_000_000;
/** Largest remembered first result; a larger one (a txn's big read) is replayed as "already applied". */
export const IDEMPOTENCY_RESULT_BYTES_MAX = 64 * KiB;
/** Most compares in one transaction (etcd's default max-txn-ops is 128 too). */
export const TXN_COMPARES_MAX = 128;
/** Most operations in one branch (success or failure) of a transaction. */
export const TXN_OPS_MAX = 128;
/** Most key-values in one range answer (a range or a txn get by prefix); `more` says the rest. */
export const RANGE_KVS_MAX = 10_000;
/** Most key and value bytes in one range answer (at least one kv is always returned). */
export const RANGE_BYTES_MAX = 8 * MiB;
/** Most change events kept for watches; older revisions are compacted whole. */
export const EVENTS_RETAINED_MAX = 100_000;
/** Most events returned by one eventsSince call (a revision is never split unless it alone is larger). */
export const EVENTS_PAGE_MAX = 10_000;
/**
 * Most events packed into one stored row of the window (whole revisions only; one larger
 * revision is a row alone). Trimming drops whole rows, so the window holds at least
 * EVENTS_RETAINED_MAX - EVENTS_PER_ROW_MAX events once full.
 */
export const EVENTS_PER_ROW_MAX = 64;
/** Fewest rows a full window spans (a smaller window packs fewer events a row): trimming a row moves its edge by at most 0.1%. */
export const EVENTS_ROWS_PER_WINDOW_MIN = 1000;
/** Largest peer or client address in a membership change's context, in UTF-8 bytes. */
export const MEMBER_ADDRESS_BYTES_MAX = 1 * KiB;
/**
 * SQLite's page cache per kv database (PRAGMA cache_size). It holds the B-tree's inner pages
 * and the pages one apply batch dirties; the rest is read back from the kernel's page cache.
 * better-sqlite3's own default (16 MiB) stays resident once a node holds that much data.
 */
export const KV_PAGE_CACHE_BYTES_DEFAULT = 2 * MiB;
/**
 * A node's state machine commits its SQLite transaction after this many applied entries, or
 * on every tick, whichever comes first (etcd commits its backend every 100 ms or 10,000
 * entries). Bounds the work a crash makes the node apply again from its log.
 */
export const KV_DEFERRED_COMMIT_ENTRIES_MAX = 1000;
/**
 * SQLite checkpoints its WAL into the database file on the event loop once the WAL holds this
 * many pages (4 KiB each: ~40 MB of disk). A node's background checkpointer keeps its WAL far
 * below it, so this is the backstop for when that thread is not running or has failed.
 */
export const KV_WAL_AUTOCHECKPOINT_PAGES = 10_000;
/**
 * How often a node's background checkpointer (kv/background-checkpoint.ts) copies SQLite's
 * WAL into the database file, on its own thread and connection. On the event loop a 40 MB
 * checkpoint stopped the node for 30-60 ms, the longest pause it had.
 */
export const KV_BACKGROUND_CHECKPOINT_INTERVAL_MS = 1000;
/**
 * Longest the event loop waits for the background checkpointer to close its connection
 * (before a snapshot replaces the database file, or at close): the checkpoint in progress
 * finishes first. Beyond it the disk is failing; the caller gets an error naming the wait.
 */
export const KV_BACKGROUND_CHECKPOINT_STOP_WAIT_MS = 30_000;

// ---------------------------------------------------------------------------------------
// sim: the deterministic cluster simulator (src/sim)

/** Fewest and most nodes a simulated cluster starts with (the range). */
export const SIM_NODES_MIN = 3;
export const SIM_NODES_MAX = 7;
/** Ticks of the safety phase (faults on) when the caller does not say. */
export const SIM_SAFETY_TICKS_DEFAULT = 8_000;
/** Ticks the healed cluster gets to converge and serve a write and a read: past it, liveness failed. */
export const SIM_HEAL_TICKS_MAX = 1_500;
/** Ticks a client waits for one operation before it gives up and records it as unknown. */
export const SIM_CLIENT_OP_TIMEOUT_TICKS = 80;
/** Messages in flight across the whole simulated network; past it a send is dropped (a full queue). */
export const SIM_MESSAGES_IN_FLIGHT_MAX = 100_000;
/** Simulated milliseconds of one tick: the nodes' tick timer, and the unit the fault rates are drawn in. */
export const SIM_TICK_MS = 10;
/** Ticks the longest simulated fsync takes (a crash meanwhile loses or tears the save). */
export const SIM_SYNC_TICKS_MAX = 6;
/** Most simulated milliseconds between one client's operations. */
export const SIM_CLIENT_THINK_MS_MAX = 20;
/** Node ids a run may create (initial members plus ones added by membership changes). */
export const SIM_NODE_IDS_MAX = 64;
/** Violation messages kept per run (the count goes on past it). */
export const SIM_VIOLATIONS_KEPT_MAX = 50;
/** Wall-clock budget for checking one run's history. */
export const SIM_CHECK_TIME_BUDGET_MS = 5_000;
/** Wall-clock time one seed may take on a worker of `flotilla sim` before it counts as a livelock (a run takes seconds). */
export const SIM_SEED_WALL_CLOCK_MS_MAX = 120_000;
/** Most seeds one `flotilla sim` command runs: a bound on the work a typo can start. */
export const SIM_SEEDS_PER_COMMAND_MAX = 10_000_000;

// ---------------------------------------------------------------------------------------
// check: the linearizability checker

/** Time a history check may take before it gives up with verdict "unknown" (never a pass). */
export const CHECK_TIME_BUDGET_MS_DEFAULT = 10_000;
/** Most 32-bit words the checker's cache of visited configurations holds (128 MiB) before it gives up with "unknown". */
export const CHECK_CACHE_WORDS_MAX = 32 * MiB;

// ---------------------------------------------------------------------------------------
// transport: peer connections (src/transport; a Transport may lower these per instance)

/**
 * Largest frame on a peer connection (after its u32 length prefix). It must hold the largest
 * append (APPEND_BYTES_MAX_DEFAULT plus one more entry of up to BODY_BYTES_MAX, since an append
 * carries at least one entry) with room for framing; a bigger length prefix is garbage.
 */
export const PEER_FRAME_BYTES_MAX = 4 * MiB;
/** Largest frame before the handshake completes: an unknown socket may not make us buffer more. */
export const PEER_HANDSHAKE_BYTES_MAX = 4 * KiB;
/** Longest node id or cluster id in a handshake or message (UTF-16 code units). */
export const PEER_ID_LENGTH_MAX = 128;
/** Messages queued per peer while its connection is down or busy; beyond it the oldest are dropped. */
export const PEER_QUEUE_MESSAGES_MAX = 4096;
/** Bytes queued per peer; at least one full in-flight window, so pipelined appends fit. */
export const PEER_QUEUE_BYTES_MAX = 64 * MiB;
/** Bytes encoded and handed to a socket per write burst before backpressure is looked at again. */
export const PEER_WRITE_BATCH_BYTES_MAX = 1 * MiB;
/** Below this total the frames of one burst are copied into one buffer; above, they go as a writev. */
export const PEER_WRITE_COPY_BYTES_MAX = 64 * KiB;
/** First reconnection delay after a connection fails; it doubles per failure, with jitter. */
export const PEER_RECONNECT_BACKOFF_MIN_MS = 50;
/** Longest reconnection delay: a restarted peer is reached again within about this long. */
export const PEER_RECONNECT_BACKOFF_MAX_MS = 2_000;
/** Time to connect and finish the handshake before the attempt counts as failed. */
export const PEER_CONNECT_TIMEOUT_MS = 5_000;
/** TCP keepalive delay on peer connections, so a vanished host is noticed while idle. */
export const PEER_KEEPALIVE_DELAY_MS = 10_000;
/** Inbound peer connections open at once (handshaking or established); more are closed at accept. */
export const PEER_INBOUND_CONNECTIONS_MAX = 256;
/**
 * Removed members whose handshakes are refused (refusePeer), remembered at most. An id is small,
 * but member churn over a cluster's life has no bound; past this the oldest refusal is forgotten
 * (logged), and that peer is then kept out only by Raft, as a non-member.
 */
export const PEER_REFUSED_IDS_MAX = 4096;
/** Snapshot bytes per chunk frame: large enough to stream fast, small enough to bound buffers. */
export const SNAPSHOT_CHUNK_BYTES = 1 * MiB;
/** Largest snapshot a node receives (it is reassembled in memory before delivery). */
export const SNAPSHOT_BYTES_MAX = 1024 * MiB;
/** Inbound snapshot streams reassembled at once (each may hold up to SNAPSHOT_BYTES_MAX). */
export const SNAPSHOT_INBOUND_STREAMS_MAX = 2;
/** A snapshot stream that makes no progress for this long fails (the peer stalled or vanished). */
export const SNAPSHOT_IDLE_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------------------------------
// node: the driver of one Raft core with real time, disk and network (src/node)

/** Wall-clock length of one Raft tick. With the raft defaults: heartbeats every 100 ms and
 * elections after 1-2 s of silence, as etcd's defaults. */
export const NODE_TICK_MS_DEFAULT = 100;
/** How long a write or a linearizable read waits in the node before it is answered 503/504. */
export const NODE_REQUEST_TIMEOUT_MS_DEFAULT = 5_000;
/** Writes proposed and not yet applied; beyond it a write is refused with 503 (overloaded). */
export const NODE_PENDING_WRITES_MAX = 65_536;
/** Linearizable reads waiting for their read index; beyond it a read is refused with 503. */
export const NODE_PENDING_READS_MAX = 65_536;
/** Applied entries between two snapshots of the state machine (then the log is compacted). */
export const NODE_SNAPSHOT_ENTRIES_DEFAULT = 10_000;
/** Entries kept in the log behind a snapshot, so a follower a little behind gets entries, not a snapshot. */
export const NODE_SNAPSHOT_CATCHUP_ENTRIES = 1_000;
/** Entries a learner may lag the leader's last index and still count as caught up (promotion). */
export const NODE_PROMOTE_LAG_ENTRIES_MAX = 100;
/** Interval of the background chores: self-registration, automatic promotion of joined learners. */
export const NODE_CHORES_INTERVAL_MS = 1_000;
/** Time a joining node keeps asking its join endpoints before it gives up. */
export const NODE_JOIN_TIMEOUT_MS = 60_000;
/**
 * A node asked to send to a peer it has no address for (a member added while it lagged) asks
 * the peers it knows for their member lists at most this often.
 */
export const NODE_PEER_LOOKUP_INTERVAL_MS = 1_000;
/** Most members in one answer to a peer lookup (a frame from a peer is bounded like any input). */
export const PEERS_IN_LOOKUP_MAX = 1_024;
/** Largest answer a node reads from another node's HTTP API when joining or registering (a member list). */
export const NODE_PEER_HTTP_RESPONSE_BYTES_MAX = 4 * MiB;
/** Times a write is proposed again after leadership moved under it (a hand-off) before it is answered 503. */
export const NODE_PROPOSE_ATTEMPTS_MAX = 3;
/** Longest join token (--join-token) a node accepts. */
export const NODE_JOIN_TOKEN_BYTES_MAX = 1_024;
/** Requests (membership changes, transfers, the members view) a node has sent its leader and awaits answers for. */
export const NODE_PENDING_LEADER_REQUESTS_MAX = 1_024;
/**
 * Election timeouts a node may go without hearing from a leader before it asks its peers who
 * the members are (at most once per NODE_PEER_LOOKUP_INTERVAL_MS): a member removed while it was
 * away (a learner never campaigns) learns it from the peers' refusal, and a lagging one learns
 * the addresses it lacks.
 */
export const NODE_LEADERLESS_LOOKUP_ELECTION_TIMEOUTS = 2;
/**
 * A node that learned it was removed stops this long after, not at once: the answer to the
 * request that removed it (a leader may remove itself) and anything else in flight go out first.
 */
export const NODE_REMOVED_STOP_DELAY_MS = 500;
/** Interval between two mDNS queries of a node that is discovering its cluster. */
export const DISCOVERY_QUERY_INTERVAL_MS = 500;
/** A node answers mDNS queries at most this often (an answer is multicast: it serves every asker). */
export const DISCOVERY_ANSWER_INTERVAL_MS_MIN = 100;
/** The founders bootstrap once the set of nodes seen has not changed for this long. */
export const DISCOVERY_SETTLE_MS = 1_500;
/** A node's record is forgotten when it has not answered for this long (it stopped). */
export const DISCOVERY_RECORD_TTL_MS = 3_000;
/** How long a node with no data looks for its cluster before it gives up. */
export const DISCOVERY_WAIT_MS_MAX = 10 * 60_000;
/** Interval of the "still discovering" progress line. */
export const DISCOVERY_PROGRESS_INTERVAL_MS = 5_000;
/** Distinct nodes remembered under one cluster name (more are ignored, with a warning). */
export const DISCOVERY_NODES_MAX = 256;
/** Longest cluster name (--discover): it becomes one DNS label, _flotilla-<name>. */
export const DISCOVERY_CLUSTER_NAME_LENGTH_MAX = 40;

// ---------------------------------------------------------------------------------------
// server: the HTTP API (src/server)

/** How long a request's write or read may wait in the node before it is answered 503/504. */
export const HTTP_REQUEST_TIMEOUT_MS_DEFAULT = 10_000;
/** While the HTTP server closes, connections that went idle are closed this often. */
export const HTTP_CLOSE_IDLE_SWEEP_MS = 50;
/** Retry-After sent with a 503: about one election, after which a leader is usually known. */
export const HTTP_RETRY_AFTER_SECONDS = 1;
/** Largest request line plus headers: a 4 KiB key percent-encoded takes up to 12 KiB of URL. */
export const HTTP_HEADER_BYTES_MAX = 64 * KiB;

// ---------------------------------------------------------------------------------------
// client: the typed HTTP client (src/client) and the CLI (src/cli)

/** One attempt's wait for a response; above the server's deadline so its 503/504 arrives first. */
export const CLIENT_ATTEMPT_TIMEOUT_MS_DEFAULT = 15_000;
/** Attempts after the first one (failover to the next endpoint, 503, 504) before giving up. */
export const CLIENT_RETRIES_DEFAULT = 5;
/** Longest wait a server's Retry-After may impose on one retry. */
export const CLIENT_RETRY_AFTER_MS_MAX = 5_000;
/** Wait before another round once every endpoint failed to answer. */
export const CLIENT_ROUND_BACKOFF_MS = 200;
/** Largest response body the client reads (whatever a follower may relay). */
export const CLIENT_RESPONSE_BYTES_MAX = 64 * MiB;
/** Most nodes `flotilla dev` starts on one machine. */
export const DEV_NODES_MAX = 9;
/** Time `flotilla dev` gives its nodes to stop after SIGTERM before it kills them. */
export const DEV_STOP_GRACE_MS = 10_000;
/**
 * V8 heap bounds of a `flotilla start` process (src/cli/heap-tuning.ts; an operator's own
 * node flag wins). The young generation's two semi-spaces stop growing at this size each:
 * V8's default (16 MiB) keeps 32 MiB resident under load for scavenges that are only a
 * little cheaper. A power of two, since V8 grows a semi-space by doubling it.
 */
export const START_SEMI_SPACE_BYTES_MAX = 8 * MiB;
/**
 * After a full collection the old generation may grow by this much before the next one
 * (V8's --heap-growing-percent). V8's own factor reaches 4× on a small, fast-to-collect heap:
 * a leader under load kept ~55 MiB committed for ~20 MiB live.
 */
export const START_OLD_SPACE_GROWTH_PERCENT = 50;
/** Trace lines (`flotilla start --trace`) kept in memory before one synchronous write to the file (~2 MB). */
export const START_TRACE_BUFFER_EVENTS = 10_000;

// ---------------------------------------------------------------------------------------
// storage: the write-ahead log and snapshot files (src/storage)

/** Size at which the WAL starts a new segment: small enough to delete soon after a snapshot, large enough that rollovers (an extra fsync each) are rare. */
export const WAL_SEGMENT_BYTES_MAX_DEFAULT = 64 * MiB;
/** Smallest segment size an option may ask for (tests use tiny segments to exercise rollover). */
export const WAL_SEGMENT_BYTES_MIN = 1 * KiB;
/** Largest payload of one WAL record. A length field above it is corruption, never an allocation. */
export const WAL_RECORD_BYTES_MAX = 8 * MiB;
/** Entries are packed into one record until it reaches about this size (one larger entry gets a record of its own). */
export const WAL_ENTRIES_RECORD_BYTES_TARGET = 1 * MiB;
/** Most bytes in one group-commit batch (one write, one fdatasync); more waiting appends form the next batch. */
export const WAL_BATCH_BYTES_MAX = 16 * MiB;
/** Most bytes appended but not yet durable; beyond it append() is refused. Raft's windows keep a node far below. */
export const WAL_PENDING_BYTES_MAX = 256 * MiB;
/** First capacity of a batch buffer; it doubles as needed, up to WAL_BATCH_BYTES_MAX plus one record. */
export const WAL_BATCH_BUFFER_BYTES_INITIAL = 256 * KiB;
/** Batch buffers up to this capacity are kept for reuse after their write; larger ones are dropped. */
export const WAL_BATCH_BUFFER_RETAINED_BYTES_MAX = 4 * MiB;
/** Batches up to this size are written (into the page cache) on the event loop, ~50 µs at most; larger ones in the thread pool (a 4 MiB write took 7 ms: too long to block). */
export const WAL_INLINE_WRITE_BYTES_MAX = 64 * KiB;
/** Zeros the WAL writes (and syncs) ahead of its last record, a chunk at a time, so that an append's fdatasync need not commit a new file size (storage/prefill.ts). */
export const WAL_PREFILL_CHUNK_BYTES = 1 * MiB;
/** Recovery: most bytes checksummed while looking for a valid record after a bad one (torn tail or corruption?); past it the WAL refuses to open rather than guess. */
export const WAL_RESYNC_SCAN_BYTES_MAX = 256 * MiB;
/** Longest vote (a node id) in a hard-state record, in UTF-8 bytes (the format stores a u16 length). */
export const WAL_VOTE_BYTES_MAX = 1 * KiB;
/** Snapshot files kept: the one the WAL points to and the one before it (for manual recovery). */
export const SNAPSHOT_FILES_RETAINED = 2;
/** Largest snapshot metadata (index, term, membership as JSON) in a snapshot file's header. */
export const SNAPSHOT_META_BYTES_MAX = 1 * MiB;
/**
 * Bytes of a snapshot checksummed between two turns of the event loop while its file is
 * written (~0.25 ms each here): the CRC of a 40 MiB image took 35 ms in one piece, a pause of
 * every write and heartbeat on that node.
 */
export const SNAPSHOT_CHECKSUM_SLICE_BYTES = 256 * KiB;

assert(WAL_RECORD_BYTES_MAX >= COMMAND_BYTES_MAX + 64, "one record must hold the largest log entry");
assert(WAL_ENTRIES_RECORD_BYTES_TARGET <= WAL_RECORD_BYTES_MAX, "a packed entries record must be a valid record");
assert(WAL_SEGMENT_BYTES_MAX_DEFAULT >= WAL_RECORD_BYTES_MAX + 1 * KiB, "a default segment must hold the largest record and a header");
assert(WAL_BATCH_BYTES_MAX >= WAL_RECORD_BYTES_MAX, "a batch must hold the largest record");
assert(WAL_PENDING_BYTES_MAX >= UNCOMMITTED_BYTES_MAX_DEFAULT + INFLIGHT_BYTES_MAX_DEFAULT, "the WAL must accept everything raft's windows let through");
assert(WAL_PENDING_BYTES_MAX >= WAL_BATCH_BYTES_MAX, "at least one full batch must be able to wait");
assert(WAL_VOTE_BYTES_MAX < 2 ** 16 && WAL_VOTE_BYTES_MAX >= 3 * PEER_ID_LENGTH_MAX, "a vote must hold any node id in UTF-8 and fit a u16 length");

assert(PEER_FRAME_BYTES_MAX >= APPEND_BYTES_MAX_DEFAULT + BODY_BYTES_MAX + 64 * KiB, "a frame must hold the largest append");
assert(PEER_FRAME_BYTES_MAX >= SNAPSHOT_CHUNK_BYTES + 64, "a frame must hold one snapshot chunk");
assert(PEER_HANDSHAKE_BYTES_MAX >= 3 * 3 * PEER_ID_LENGTH_MAX + 64, "a handshake must hold a cluster id and two node ids in UTF-8");
assert(PEER_QUEUE_BYTES_MAX >= INFLIGHT_BYTES_MAX_DEFAULT, "a peer queue must hold a full in-flight window");
assert(PEER_QUEUE_MESSAGES_MAX >= INFLIGHT_APPENDS_MAX_DEFAULT, "a peer queue must hold a full in-flight window");
assert(PEER_RECONNECT_BACKOFF_MIN_MS > 0 && PEER_RECONNECT_BACKOFF_MIN_MS <= PEER_RECONNECT_BACKOFF_MAX_MS, "reconnect backoff bounds out of order");
assert(SNAPSHOT_BYTES_MAX <= 2 ** 32 - 1, "a snapshot must be addressable as one Buffer");

assert(ELECTION_TIMEOUT_TICKS_DEFAULT > HEARTBEAT_INTERVAL_TICKS_DEFAULT, "election timeout must exceed the heartbeat interval");
assert(INFLIGHT_BYTES_MAX_DEFAULT >= APPEND_BYTES_MAX_DEFAULT, "one full append must fit in the in-flight byte window");
assert(BODY_BYTES_MAX > VALUE_BYTES_MAX + KEY_BYTES_MAX, "a body must hold the largest key and value");
assert(COMMAND_BYTES_MAX > BODY_BYTES_MAX, "a command must hold everything one request body can carry");
assert(IDEMPOTENCY_RESULT_BYTES_MAX > 2 * KEY_BYTES_MAX, "a put's or delete's result must always be remembered whole");
assert(IDEMPOTENCY_WINDOW_INDEXES >= IDEMPOTENCY_KEYS_MAX, "otherwise the count bound could never be reached within the index window");
assert(EVENTS_PAGE_MAX <= EVENTS_RETAINED_MAX, "an events page is never larger than the retained window");
assert(EVENTS_PER_ROW_MAX * EVENTS_ROWS_PER_WINDOW_MIN <= EVENTS_RETAINED_MAX, "the default window spans at least EVENTS_ROWS_PER_WINDOW_MIN rows");
assert(SIM_NODES_MIN >= 3 && SIM_NODES_MAX >= SIM_NODES_MIN, "a simulated cluster keeps at least three voters");
assert(SIM_NODE_IDS_MAX > SIM_NODES_MAX + 1, "membership changes need fresh node ids beyond the initial members");
assert(CLIENT_ATTEMPT_TIMEOUT_MS_DEFAULT > HTTP_REQUEST_TIMEOUT_MS_DEFAULT, "a client must outwait the server's own deadline");
assert(CLIENT_RESPONSE_BYTES_MAX > 6 * RANGE_BYTES_MAX + 1 * MiB, "a client must read the largest range answer, JSON-escaped (\\u0000 is 6 characters)");
assert(DISCOVERY_RECORD_TTL_MS >= 4 * DISCOVERY_QUERY_INTERVAL_MS, "a live node answers several queries before its record expires");
assert(DISCOVERY_ANSWER_INTERVAL_MS_MIN < DISCOVERY_QUERY_INTERVAL_MS, "every round of queries gets an answer");
assert(DISCOVERY_SETTLE_MS >= 2 * DISCOVERY_QUERY_INTERVAL_MS, "the founders wait for a few rounds of answers before they bootstrap");
assert(DISCOVERY_CLUSTER_NAME_LENGTH_MAX + "_flotilla-".length <= 63, "the service label fits one DNS label");
assert(START_SEMI_SPACE_BYTES_MAX >= 1 * MiB && Number.isInteger(Math.log2(START_SEMI_SPACE_BYTES_MAX / MiB)), "V8 grows a semi-space from 1 MiB by doubling it");
assert(KV_PAGE_CACHE_BYTES_DEFAULT >= 64 * KiB, "SQLite's page cache holds at least the B-tree's inner pages and one batch's dirty pages");

// ---------------------------------------------------------------------------------------
// Added by the cli branch (issue 15): the HTTP server's oversized bodies, the CLI's signals
// and standard input. Kept apart at the end so the branches merge cleanly.

/**
 * Of a request body over the server's limit, how much more the server reads and throws away
 * before it answers 413, so that a client still sending (Python's urllib, most simple
 * clients) finishes and reads the answer instead of a reset connection. A body declared
 * larger than the limit plus this is not read: the 413 goes out at once and the connection
 * closes.
 */
export const HTTP_OVERSIZED_BODY_DRAIN_BYTES_MAX = 8 * MiB;
/** Longest the server reads an oversized body for (a slow sender) before it answers 413 and closes. */
export const HTTP_OVERSIZED_BODY_DRAIN_MS_MAX = 10_000;
/**
 * A second SIGINT/SIGTERM within this time of the first is the same stop request (npm passes on
 * the Ctrl-C that the terminal already sent the node), not the "stop now" of a second signal.
 */
export const CLI_REPEATED_SIGNAL_WINDOW_MS = 1_000;
/** How often a process started by npm (npx, npm run) checks that its parent still runs. */
export const CLI_PARENT_WATCH_INTERVAL_MS = 250;
/** Largest value `flotilla put` reads from standard input or a file: the server's value limit. */
export const CLI_VALUE_INPUT_BYTES_MAX = VALUE_BYTES_MAX;
/** Largest transaction `flotilla txn` reads from an argument, standard input or a file: the server's body limit. */
export const CLI_TXN_INPUT_BYTES_MAX = BODY_BYTES_MAX;
