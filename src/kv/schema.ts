/**
 * The SQLite schema and every statement the store runs, prepared once per connection.
 * Keys are BLOBs (UTF-8 bytes) so ORDER BY key and range bounds are memcmp byte order.
 */
import type Database from "better-sqlite3";
import { EVENTS_PER_ROW_MAX } from "../util/limits.js";
import { IncompatibleDatabaseError } from "./errors.js";
import { packEventRows } from "./events.js";

/** PRAGMA application_id of a Flotilla kv database ("Flot"), so foreign files are refused. */
export const APPLICATION_ID = 0x466c6f74;
/** PRAGMA user_version: bump with a migration when the schema changes. */
export const SCHEMA_VERSION = 3;

/** The change-event window, packed rows of whole revisions (events.ts). */
const EVENTS_TABLE_SQL = `
CREATE TABLE events (
  last_revision INTEGER PRIMARY KEY,
  count INTEGER NOT NULL CHECK (count > 0),
  data BLOB NOT NULL
);`;

/** Members removed and not added again: their handshakes are refused, so they learn it (version 3). */
const REMOVED_MEMBERS_TABLE_SQL = `
CREATE TABLE removed_members (
  id TEXT PRIMARY KEY
) WITHOUT ROWID;`;

const SCHEMA_SQL = `
CREATE TABLE meta (
  singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
  applied_index INTEGER NOT NULL,
  applied_term INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  events_compacted_revision INTEGER NOT NULL,
  idempotency_seq INTEGER NOT NULL,
  conf_state TEXT NOT NULL
);
INSERT INTO meta VALUES (1, 0, 0, 0, 0, 0, '{"voters":[],"learners":[]}');
CREATE TABLE kv (
  key BLOB PRIMARY KEY,
  value BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE members (
  id TEXT PRIMARY KEY,
  peer TEXT NOT NULL,
  client TEXT NOT NULL,
  auto_promote INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
${REMOVED_MEMBERS_TABLE_SQL}
${EVENTS_TABLE_SQL}
CREATE TABLE idempotency (
  seq INTEGER PRIMARY KEY,
  token TEXT NOT NULL UNIQUE,
  applied_index INTEGER NOT NULL,
  result BLOB NOT NULL,
  request_hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idempotency_by_index ON idempotency (applied_index);
`;

/** Creates the schema in an empty database (when `create`), or checks that an existing one is ours. */
export function ensureSchema(db: Database.Database, options: { create: boolean }): void {
  const applicationId = db.pragma("application_id", { simple: true }) as number;
  const tableCount = (db.prepare("SELECT count(*) AS n FROM sqlite_schema").get() as { n: number }).n;
  if (applicationId === 0 && tableCount === 0) {
    if (!options.create) throw new IncompatibleDatabaseError("the database is empty");
    db.transaction(() => {
      db.exec(SCHEMA_SQL);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
    return;
  }
  if (applicationId !== APPLICATION_ID) throw new IncompatibleDatabaseError(`not a Flotilla kv database (application_id ${applicationId})`);
  let version = db.pragma("user_version", { simple: true }) as number;
  if (version === 1) version = migrateFromVersion1(db);
  if (version === 2) version = migrateFromVersion2(db);
  if (version !== SCHEMA_VERSION) throw new IncompatibleDatabaseError(`kv schema version ${version}, this build reads version ${SCHEMA_VERSION}`);
}

/**
 * Version 1 kept one row per event (with an index on revision); version 2 packs a batch's
 * events into rows. Databases and snapshot images from version 1 are rewritten in place, in
 * one transaction, the events kept in order (and then migrated to version 3).
 */
function migrateFromVersion1(db: Database.Database): number {
  db.transaction(() => {
    const oldEvents = db.prepare<[], EventRow>("SELECT revision, key, kind FROM events ORDER BY id").all();
    db.exec("DROP TABLE events");
    db.exec(EVENTS_TABLE_SQL);
    const insert = db.prepare<[number, number, Uint8Array]>("INSERT INTO events (last_revision, count, data) VALUES (?, ?, ?)");
    for (const row of packEventRows(oldEvents, EVENTS_PER_ROW_MAX)) insert.run(row.lastRevision, row.count, row.data);
    db.pragma("user_version = 2");
  })();
  return 2;
}

/**
 * Version 3 remembers removed members, and the digest of the request an idempotency token was
 * first used for (a token remembered from version 2 has none: any reuse counts as a retry).
 */
function migrateFromVersion2(db: Database.Database): number {
  db.transaction(() => {
    db.exec(REMOVED_MEMBERS_TABLE_SQL);
    db.exec("ALTER TABLE idempotency ADD COLUMN request_hash TEXT NOT NULL DEFAULT ''");
    db.pragma("user_version = 3");
  })();
  return 3;
}

export interface MetaRow {
  readonly applied_index: number;
  readonly applied_term: number;
  readonly revision: number;
  readonly events_compacted_revision: number;
  readonly idempotency_seq: number;
  readonly conf_state: string;
}

export interface KvRow {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly create_revision: number;
  readonly mod_revision: number;
  readonly version: number;
  readonly lease: number;
}

/** A version 1 event row (the migration reads them). */
interface EventRow {
  readonly revision: number;
  readonly key: Buffer;
  readonly kind: "put" | "delete";
}

export interface StoredEventRow {
  readonly last_revision: number;
  readonly count: number;
  readonly data: Buffer;
}

export interface IdempotencyRow {
  readonly seq: number;
  readonly applied_index: number;
  readonly result: Buffer;
  readonly request_hash: string;
}

const KV_COLUMNS = "key, value, create_revision, mod_revision, version, lease";

type Statement<P extends unknown[], R = unknown> = Database.Statement<P, R>;

/** Every statement, prepared once per connection (the apply path never compiles SQL). */
export interface Statements {
  readonly readMeta: Statement<[], MetaRow>;
  readonly writeMeta: Statement<[number, number, number, number, number, string]>;
  readonly getKv: Statement<[Buffer], KvRow>;
  readonly putKv: Statement<[Buffer, Uint8Array, number, number, number], { create_revision: number; version: number }>;
  readonly deleteKv: Statement<[Buffer]>;
  readonly deleteKvFrom: Statement<[Buffer], { key: Buffer }>;
  readonly deleteKvBetween: Statement<[Buffer, Buffer], { key: Buffer }>;
  readonly rangeFrom: Statement<[Buffer], KvRow>;
  readonly rangeFromBelow: Statement<[Buffer, Buffer], KvRow>;
  readonly rangeAfter: Statement<[Buffer], KvRow>;
  readonly rangeAfterBelow: Statement<[Buffer, Buffer], KvRow>;
  readonly insertEventRow: Statement<[number, number, Uint8Array]>;
  readonly countEvents: Statement<[], { n: number }>;
  readonly oldestEventRow: Statement<[], { last_revision: number; count: number }>;
  readonly deleteEventRow: Statement<[number]>;
  readonly eventRowsAfter: Statement<[number], StoredEventRow>;
  readonly getIdempotency: Statement<[string], IdempotencyRow>;
  readonly insertIdempotency: Statement<[number, string, number, Uint8Array, string]>;
  readonly deleteIdempotencyToken: Statement<[string]>;
  readonly deleteIdempotencyThroughSeq: Statement<[number]>;
  readonly deleteIdempotencyThroughIndex: Statement<[number]>;
  readonly listMembers: Statement<[], { id: string; peer: string; client: string; auto_promote: number }>;
  readonly getMember: Statement<[string], { peer: string; client: string; auto_promote: number }>;
  readonly upsertMember: Statement<[string, string, string, number]>;
  readonly deleteMember: Statement<[string]>;
  readonly listRemovedMembers: Statement<[], { id: string }>;
  readonly insertRemovedMember: Statement<[string]>;
  readonly deleteRemovedMember: Statement<[string]>;
}

export function prepareStatements(db: Database.Database): Statements {
  const prepare = <P extends unknown[], R = unknown>(sql: string): Statement<P, R> => db.prepare<P, R>(sql);
  return {
    readMeta: prepare("SELECT applied_index, applied_term, revision, events_compacted_revision, idempotency_seq, conf_state FROM meta"),
    writeMeta: prepare(
      "UPDATE meta SET applied_index = ?, applied_term = ?, revision = ?, events_compacted_revision = ?, idempotency_seq = ?, conf_state = ?",
    ),

    getKv: prepare(`SELECT ${KV_COLUMNS} FROM kv WHERE key = ?`),
    // One statement for both create and update: version and create_revision follow etcd.
    // Bind (key, value, revision, revision, lease).
    putKv: prepare(
      `INSERT INTO kv (key, value, create_revision, mod_revision, version, lease) VALUES (?, ?, ?, ?, 1, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision, version = version + 1, lease = excluded.lease
       RETURNING create_revision, version`,
    ),
    deleteKv: prepare("DELETE FROM kv WHERE key = ?"),
    deleteKvFrom: prepare("DELETE FROM kv WHERE key >= ? RETURNING key"),
    deleteKvBetween: prepare("DELETE FROM kv WHERE key >= ? AND key < ? RETURNING key"),

    // Range scans: lower bound inclusive (the prefix) or exclusive (`after`), upper bound optional.
    rangeFrom: prepare(`SELECT ${KV_COLUMNS} FROM kv WHERE key >= ? ORDER BY key`),
    rangeFromBelow: prepare(`SELECT ${KV_COLUMNS} FROM kv WHERE key >= ? AND key < ? ORDER BY key`),
    rangeAfter: prepare(`SELECT ${KV_COLUMNS} FROM kv WHERE key > ? ORDER BY key`),
    rangeAfterBelow: prepare(`SELECT ${KV_COLUMNS} FROM kv WHERE key > ? AND key < ? ORDER BY key`),

    insertEventRow: prepare("INSERT INTO events (last_revision, count, data) VALUES (?, ?, ?)"),
    countEvents: prepare("SELECT coalesce(sum(count), 0) AS n FROM events"),
    oldestEventRow: prepare("SELECT last_revision, count FROM events ORDER BY last_revision LIMIT 1"),
    deleteEventRow: prepare("DELETE FROM events WHERE last_revision = ?"),
    eventRowsAfter: prepare("SELECT last_revision, count, data FROM events WHERE last_revision > ? ORDER BY last_revision"),

    getIdempotency: prepare("SELECT seq, applied_index, result, request_hash FROM idempotency WHERE token = ?"),
    insertIdempotency: prepare("INSERT INTO idempotency (seq, token, applied_index, result, request_hash) VALUES (?, ?, ?, ?, ?)"),
    deleteIdempotencyToken: prepare("DELETE FROM idempotency WHERE token = ?"),
    deleteIdempotencyThroughSeq: prepare("DELETE FROM idempotency WHERE seq <= ?"),
    deleteIdempotencyThroughIndex: prepare("DELETE FROM idempotency WHERE applied_index <= ?"),

    listMembers: prepare("SELECT id, peer, client, auto_promote FROM members ORDER BY id"),
    getMember: prepare("SELECT peer, client, auto_promote FROM members WHERE id = ?"),
    upsertMember: prepare(
      "INSERT INTO members (id, peer, client, auto_promote) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET peer = excluded.peer, client = excluded.client, auto_promote = excluded.auto_promote",
    ),
    deleteMember: prepare("DELETE FROM members WHERE id = ?"),
    listRemovedMembers: prepare("SELECT id FROM removed_members ORDER BY id"),
    insertRemovedMember: prepare("INSERT OR IGNORE INTO removed_members (id) VALUES (?)"),
    deleteRemovedMember: prepare("DELETE FROM removed_members WHERE id = ?"),
  };
}

