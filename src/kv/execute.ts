/**
 * Executes one decoded command against the database, inside the caller's transaction.
 * Pure function of (database state, command): no clock, no randomness, so every replica
 * computes the same state and the same result.
 *
 * Revisions follow etcd: a command that changes anything runs at `baseRevision + 1` (all the
 * writes of a txn share it); a command that changes nothing (a failed precondition, a delete
 * of a missing key, a read-only txn) leaves the revision where it was.
 */
import type { CommandBody, Compare, DeletePayload, PutPayload, TxnOp, TxnPayload } from "./command.js";
import type { CommandResult, KeyValue, RangeAnswer, TxnOpResult } from "./results.js";
import type { PendingEvent } from "./events.js";
import type { KvRow, Statements } from "./schema.js";
import { keyBytes, keyFromBytes, prefixUpperBound } from "./keys.js";
import { assert, unreachable } from "../util/assert.js";
import { RANGE_BYTES_MAX, RANGE_KVS_MAX } from "../util/limits.js";

/** The writes of one command: they all carry `writeRevision`; `changed` once any happened. */
interface WriteScope {
  readonly statements: Statements;
  readonly baseRevision: number;
  readonly writeRevision: number;
  /** Where the command's change events go (the store writes a batch's events together). */
  readonly events: PendingEvent[];
  changed: boolean;
}

/**
 * Runs `body` and returns its result; `result.revision` is the store's revision afterwards.
 * Its change events are appended to `events`, in order.
 */
export function executeCommand(statements: Statements, body: CommandBody, baseRevision: number, events: PendingEvent[]): CommandResult {
  const scope: WriteScope = { statements, baseRevision, writeRevision: baseRevision + 1, events, changed: false };
  switch (body.type) {
    case "put":
      return executePut(scope, body.payload);
    case "delete":
      return executeDelete(scope, body.payload);
    case "deleteRange": {
      const deleted = deletePrefix(scope, keyBytes(body.payload.prefix));
      return { kind: "delete", revision: revisionAfter(scope), deleted };
    }
    case "txn":
      return executeTxn(scope, body.payload);
    case "noop":
      return { kind: "noop", revision: baseRevision };
    default:
      return unreachable(body, "command type");
  }
}

function revisionAfter(scope: WriteScope): number {
  return scope.changed ? scope.writeRevision : scope.baseRevision;
}

function executePut(scope: WriteScope, put: PutPayload): CommandResult {
  const key = keyBytes(put.key);
  if (put.ifModRevision !== undefined) {
    const current = readKey(scope.statements, key);
    if ((current?.modRevision ?? 0) !== put.ifModRevision) {
      return { kind: "precondition_failed", revision: scope.baseRevision, key: put.key, current };
    }
  }
  const written = writePut(scope, key, put.value, put.lease ?? 0);
  return { kind: "put", revision: scope.writeRevision, key: put.key, modRevision: scope.writeRevision, version: written.version };
}

function executeDelete(scope: WriteScope, del: DeletePayload): CommandResult {
  const key = keyBytes(del.key);
  if (del.ifModRevision !== undefined) {
    const current = readKey(scope.statements, key);
    if ((current?.modRevision ?? 0) !== del.ifModRevision) {
      return { kind: "precondition_failed", revision: scope.baseRevision, key: del.key, current };
    }
  }
  const deleted = deleteKey(scope, key);
  return { kind: "delete", revision: revisionAfter(scope), deleted };
}

function executeTxn(scope: WriteScope, txn: TxnPayload): CommandResult {
  const succeeded = txn.compare.every((compare) => compareHolds(scope.statements, compare));
  const ops = succeeded ? txn.success : txn.failure;
  // Sequential: a get sees the puts and deletes before it in the same branch (as in etcd).
  const results = ops.map((op) => executeTxnOp(scope, op));
  return { kind: "txn", revision: revisionAfter(scope), succeeded, results };
}

function executeTxnOp(scope: WriteScope, op: TxnOp): TxnOpResult {
  if ("put" in op) {
    const written = writePut(scope, keyBytes(op.put.key), op.put.value, op.put.lease ?? 0);
    return { put: { key: op.put.key, modRevision: scope.writeRevision, version: written.version } };
  }
  if ("get" in op) {
    if ("key" in op.get) {
      const kv = readKey(scope.statements, keyBytes(op.get.key));
      return { get: { kvs: kv === null ? [] : [kv], more: false } };
    }
    return { get: scanRange(scope.statements, keyBytes(op.get.prefix), undefined, RANGE_KVS_MAX) };
  }
  const deleted = "key" in op.delete ? deleteKey(scope, keyBytes(op.delete.key)) : deletePrefix(scope, keyBytes(op.delete.prefix));
  return { delete: { deleted } };
}

/**
 * etcd's compare: a missing key has version, createRevision and modRevision 0, and every
 * value compare on it fails (even "!="). Values compare as bytes.
 */
export function compareHolds(statements: Statements, compare: Compare): boolean {
  const kv = readKey(statements, keyBytes(compare.key));
  let order: number;
  if (compare.target === "value") {
    if (kv === null) return false;
    order = Buffer.compare(kv.value, compare.value);
  } else {
    const actual = kv === null ? 0 : kv[compare.target];
    order = Math.sign(actual - compare.value);
  }
  switch (compare.op) {
    case "==":
      return order === 0;
    case "!=":
      return order !== 0;
    case "<":
      return order < 0;
    case ">":
      return order > 0;
    default:
      return unreachable(compare.op, "compare op");
  }
}

function writePut(scope: WriteScope, key: Buffer, value: Uint8Array, lease: number): { version: number } {
  const row = scope.statements.putKv.get(key, value, scope.writeRevision, scope.writeRevision, lease);
  assert(row !== undefined, "put returned no row");
  assert(row.version === 1 ? row.create_revision === scope.writeRevision : row.create_revision < scope.writeRevision, "createRevision follows version");
  scope.events.push({ revision: scope.writeRevision, key, kind: "put" });
  scope.changed = true;
  return { version: row.version };
}

function deleteKey(scope: WriteScope, key: Buffer): number {
  const deleted = scope.statements.deleteKv.run(key).changes;
  assert(deleted === 0 || deleted === 1, "a key names at most one row");
  if (deleted === 1) {
    scope.events.push({ revision: scope.writeRevision, key, kind: "delete" });
    scope.changed = true;
  }
  return deleted;
}

function deletePrefix(scope: WriteScope, prefix: Buffer): number {
  assert(prefix.length > 0, "a delete by prefix needs a non-empty prefix");
  const upper = prefixUpperBound(prefix);
  const rows = upper === undefined ? scope.statements.deleteKvFrom.all(prefix) : scope.statements.deleteKvBetween.all(prefix, upper);
  // RETURNING order is unspecified in SQLite; events must be in the same order on every replica.
  const keys = rows.map((row) => row.key).sort(Buffer.compare);
  for (const key of keys) scope.events.push({ revision: scope.writeRevision, key, kind: "delete" });
  if (keys.length > 0) scope.changed = true;
  return keys.length;
}

export function readKey(statements: Statements, key: Buffer): KeyValue | null {
  const row = statements.getKv.get(key);
  return row === undefined ? null : toKeyValue(row);
}

/**
 * Keys starting with `prefix`, in byte order, strictly after `after` when given, at most
 * `limit` of them and at most RANGE_BYTES_MAX key+value bytes (but always at least one).
 */
export function scanRange(statements: Statements, prefix: Buffer, after: Buffer | undefined, limit: number): RangeAnswer {
  assert(limit >= 1, "a range returns at least one kv");
  const upper = prefixUpperBound(prefix);
  const exclusive = after !== undefined && Buffer.compare(after, prefix) >= 0;
  const lower = exclusive ? after : prefix;
  const rows = exclusive
    ? upper === undefined
      ? statements.rangeAfter.iterate(lower)
      : statements.rangeAfterBelow.iterate(lower, upper)
    : upper === undefined
      ? statements.rangeFrom.iterate(lower)
      : statements.rangeFromBelow.iterate(lower, upper);
  const kvs: KeyValue[] = [];
  let bytes = 0;
  let more = false;
  for (const row of rows) {
    const rowBytes = row.key.length + row.value.length;
    if (kvs.length === limit || (kvs.length > 0 && bytes + rowBytes > RANGE_BYTES_MAX)) {
      more = true;
      break;
    }
    kvs.push(toKeyValue(row));
    bytes += rowBytes;
  }
  return { kvs, more };
}

function toKeyValue(row: KvRow): KeyValue {
  return {
    key: keyFromBytes(row.key),
    value: row.value,
    createRevision: row.create_revision,
    modRevision: row.mod_revision,
    version: row.version,
    lease: row.lease,
  };
}
