/**
 * What a Normal log entry carries: a versioned envelope `{ v, type, payload, requestId,
 * idempotencyKey?, requestHash? }` encoded with MessagePack (binary values stay binary, no base64).
 * Decoding parses into a fresh, fully checked object: a committed entry is replayed on every
 * replica forever, so nothing unchecked may reach the apply path.
 */
import { createHash } from "node:crypto";
import { Packr } from "msgpackr";
import { keyProblem } from "./keys.js";
import { MalformedCommandError } from "./errors.js";
import {
  COMMAND_BYTES_MAX,
  IDEMPOTENCY_KEY_BYTES_MAX,
  REQUEST_ID_BYTES_MAX,
  TXN_COMPARES_MAX,
  TXN_OPS_MAX,
  VALUE_BYTES_MAX,
} from "../util/limits.js";

export const COMMAND_FORMAT_VERSION = 1;

export interface PutPayload {
  readonly key: string;
  readonly value: Uint8Array;
  /** Lease id; 0 or absent = no lease. Stored with the key, not yet enforced. */
  readonly lease?: number;
  /** Write only if the key's modRevision equals this; 0 = only if the key is absent. */
  readonly ifModRevision?: number;
}

export interface DeletePayload {
  readonly key: string;
  readonly ifModRevision?: number;
}

export interface DeleteRangePayload {
  /** Every key starting with this (non-empty) prefix. */
  readonly prefix: string;
}

export type CompareOp = "==" | "!=" | "<" | ">";
export type CompareTarget = "value" | "version" | "modRevision" | "createRevision";

export type Compare =
  | { readonly key: string; readonly target: "value"; readonly op: CompareOp; readonly value: Uint8Array }
  | { readonly key: string; readonly target: "version" | "modRevision" | "createRevision"; readonly op: CompareOp; readonly value: number };

export type KeyOrPrefix = { readonly key: string } | { readonly prefix: string };

/** The shapes of api.md's POST /v1/txn operations. */
export type TxnOp =
  | { readonly put: { readonly key: string; readonly value: Uint8Array; readonly lease?: number } }
  | { readonly get: KeyOrPrefix }
  | { readonly delete: KeyOrPrefix };

export interface TxnPayload {
  readonly compare: readonly Compare[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
}

export type CommandBody =
  | { readonly type: "put"; readonly payload: PutPayload }
  | { readonly type: "delete"; readonly payload: DeletePayload }
  | { readonly type: "deleteRange"; readonly payload: DeleteRangePayload }
  | { readonly type: "txn"; readonly payload: TxnPayload }
  | { readonly type: "noop"; readonly payload: Record<string, never> };

export type CommandType = CommandBody["type"];

export type Command = CommandBody & {
  /** Names the proposal so the node can settle the client's promise when it is applied. */
  readonly requestId: string;
  /** Idempotency-Key: a retry with the same token returns the first result (api.md). */
  readonly idempotencyKey?: string;
  /**
   * With an idempotencyKey: a digest of what the request asks (type and payload), computed once
   * by the node that encodes it, so a key reused for a different request is told apart from a
   * retry. Replicas compare it as an opaque string: every one decides the same.
   */
  readonly requestHash?: string;
};

/** Characters of a requestHash: 128 bits of SHA-256 in base64url. */
const REQUEST_HASH_LENGTH = 22;

// Records/structures would make entries depend on shared codec state; log entries must be
// self-describing forever, so plain maps only.
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

/** Checks `command` and encodes it for a log entry. Throws MalformedCommandError. */
export function encodeCommand(command: Command): Uint8Array {
  const clean = parseCommand(command);
  const wire: Record<string, unknown> = { v: COMMAND_FORMAT_VERSION, type: clean.type, payload: clean.payload, requestId: clean.requestId };
  if (clean.idempotencyKey !== undefined) {
    wire.idempotencyKey = clean.idempotencyKey;
    wire.requestHash = clean.requestHash ?? requestHash(clean);
  }
  const bytes = packr.pack(wire);
  if (bytes.byteLength > COMMAND_BYTES_MAX) {
    throw new MalformedCommandError(`command is ${bytes.byteLength} bytes encoded, more than the ${COMMAND_BYTES_MAX} allowed`);
  }
  return bytes;
}

/** Decodes and checks a log entry's data. Throws MalformedCommandError naming the problem. */
export function decodeCommand(data: Uint8Array): Command {
  if (data.byteLength > COMMAND_BYTES_MAX) {
    throw new MalformedCommandError(`command is ${data.byteLength} bytes, more than the ${COMMAND_BYTES_MAX} allowed`);
  }
  let raw: unknown;
  try {
    // A view of its own: msgpackr caches a DataView as a property of the bytes it decodes, and
    // on the entry's own bytes that DataView lived as long as the log kept the entry (a
    // third of what a node's log held on the heap, promoted to the old generation).
    raw = packr.unpack(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  } catch (error) {
    throw new MalformedCommandError(`command is not valid MessagePack: ${(error as Error).message}`, { cause: error });
  }
  const envelope = expectObject(raw, "command", COMMAND_FIELDS);
  if (envelope.v !== COMMAND_FORMAT_VERSION) fail(`unsupported command format version ${String(envelope.v)} (this build reads ${COMMAND_FORMAT_VERSION})`);
  return parseCommand(envelope);
}

const COMMAND_FIELDS = ["v", "type", "payload", "requestId", "idempotencyKey", "requestHash"];

/** A checked copy of `raw` holding only the fields of a v1 command. */
export function parseCommand(raw: unknown): Command {
  const command = expectObject(raw, "command", COMMAND_FIELDS);
  const requestId = expectToken(command.requestId, "requestId", REQUEST_ID_BYTES_MAX);
  const idempotencyKey = command.idempotencyKey === undefined ? undefined : expectToken(command.idempotencyKey, "idempotencyKey", IDEMPOTENCY_KEY_BYTES_MAX);
  const hash = command.requestHash === undefined ? undefined : expectToken(command.requestHash, "requestHash", REQUEST_HASH_LENGTH);
  if (hash !== undefined && idempotencyKey === undefined) fail("requestHash is only meaningful with an idempotencyKey");
  const body = parseBody(command.type, command.payload);
  // Literals, not spreads: V8 clones a spread through a slow generic path, and every node
  // parses every command it applies.
  if (idempotencyKey === undefined) return { type: body.type, payload: body.payload, requestId } as Command;
  if (hash === undefined) return { type: body.type, payload: body.payload, requestId, idempotencyKey } as Command;
  return { type: body.type, payload: body.payload, requestId, idempotencyKey, requestHash: hash } as Command;
}

/** What a request asks, as a digest: equal for a retry, different for another request under the same key. */
export function requestHash(body: CommandBody): string {
  return createHash("sha256").update(packr.pack([body.type, body.payload])).digest("base64url").slice(0, REQUEST_HASH_LENGTH);
}

function parseBody(type: unknown, payload: unknown): CommandBody {
  switch (type) {
    case "put":
      return { type, payload: parsePut(payload) };
    case "delete":
      return { type, payload: parseDelete(payload) };
    case "deleteRange":
      return { type, payload: parseDeleteRange(payload) };
    case "txn":
      return { type, payload: parseTxn(payload) };
    case "noop":
      expectObject(payload, "noop payload", []);
      return { type, payload: {} };
    default:
      return fail(`unknown command type ${JSON.stringify(type)}`);
  }
}

function parsePut(raw: unknown): PutPayload {
  const put = expectObject(raw, "put payload", ["key", "value", "lease", "ifModRevision"]);
  return withOptional(
    { key: expectKey(put.key, "put key"), value: expectValue(put.value, "put value") },
    { lease: optionalCount(put.lease, "put lease"), ifModRevision: optionalCount(put.ifModRevision, "put ifModRevision") },
  );
}

function parseDelete(raw: unknown): DeletePayload {
  const del = expectObject(raw, "delete payload", ["key", "ifModRevision"]);
  return withOptional({ key: expectKey(del.key, "delete key") }, { ifModRevision: optionalCount(del.ifModRevision, "delete ifModRevision") });
}

function parseDeleteRange(raw: unknown): DeleteRangePayload {
  const del = expectObject(raw, "deleteRange payload", ["prefix"]);
  return { prefix: expectKey(del.prefix, "deleteRange prefix") };
}

function parseTxn(raw: unknown): TxnPayload {
  const txn = expectObject(raw, "txn payload", ["compare", "success", "failure"]);
  const compare = expectArray(txn.compare ?? [], "txn compare", TXN_COMPARES_MAX).map((c, i) => parseCompare(c, `txn compare[${i}]`));
  const success = parseBranch(txn.success ?? [], "txn success");
  const failure = parseBranch(txn.failure ?? [], "txn failure");
  return { compare, success, failure };
}

const COMPARE_OPS: readonly string[] = ["==", "!=", "<", ">"];

function parseCompare(raw: unknown, what: string): Compare {
  const compare = expectObject(raw, what, ["key", "target", "op", "value"]);
  const key = expectKey(compare.key, `${what} key`);
  const op = compare.op;
  if (typeof op !== "string" || !COMPARE_OPS.includes(op)) fail(`${what} op must be one of == != < >, not ${JSON.stringify(op)}`);
  const compareOp = op as CompareOp;
  switch (compare.target) {
    case "value":
      return { key, target: "value", op: compareOp, value: expectValue(compare.value, `${what} value`) };
    case "version":
    case "modRevision":
    case "createRevision":
      return { key, target: compare.target, op: compareOp, value: expectCount(compare.value, `${what} value`) };
    default:
      return fail(`${what} target must be value, version, modRevision or createRevision, not ${JSON.stringify(compare.target)}`);
  }
}

function parseBranch(raw: unknown, what: string): TxnOp[] {
  const ops = expectArray(raw, what, TXN_OPS_MAX).map((op, i) => parseTxnOp(op, `${what}[${i}]`));
  rejectOverlappingWrites(ops, what);
  return ops;
}

function parseTxnOp(raw: unknown, what: string): TxnOp {
  const op = expectObject(raw, what, ["put", "get", "delete"]);
  const kinds = Object.keys(op);
  if (kinds.length !== 1) fail(`${what} must hold exactly one of put, get, delete`);
  if (op.put !== undefined) {
    const put = expectObject(op.put, `${what}.put`, ["key", "value", "lease"]);
    const fields = { key: expectKey(put.key, `${what}.put key`), value: expectValue(put.value, `${what}.put value`) };
    return { put: withOptional(fields, { lease: optionalCount(put.lease, `${what}.put lease`) }) };
  }
  if (op.get !== undefined) return { get: parseKeyOrPrefix(op.get, `${what}.get`, { emptyPrefixAllowed: true }) };
  return { delete: parseKeyOrPrefix(op.delete, `${what}.delete`, { emptyPrefixAllowed: false }) };
}

function parseKeyOrPrefix(raw: unknown, what: string, options: { emptyPrefixAllowed: boolean }): KeyOrPrefix {
  const target = expectObject(raw, what, ["key", "prefix"]);
  if ((target.key === undefined) === (target.prefix === undefined)) fail(`${what} must hold exactly one of key, prefix`);
  if (target.key !== undefined) return { key: expectKey(target.key, `${what} key`) };
  const problem = keyProblem(target.prefix, `${what} prefix`, { emptyAllowed: options.emptyPrefixAllowed });
  if (problem !== undefined) fail(problem);
  return { prefix: target.prefix as string };
}

/**
 * etcd's rule: the writes of one branch happen at one revision, so two of them may not touch
 * the same key (a put twice, or a put inside a delete). Deletes may overlap each other.
 */
function rejectOverlappingWrites(ops: readonly TxnOp[], what: string): void {
  const putKeys = new Set<string>();
  for (const op of ops) {
    if (!("put" in op)) continue;
    if (putKeys.has(op.put.key)) fail(`${what} puts key ${JSON.stringify(op.put.key)} twice`);
    putKeys.add(op.put.key);
  }
  for (const op of ops) {
    if (!("delete" in op)) continue;
    const target = op.delete;
    for (const key of putKeys) {
      const covered = "key" in target ? key === target.key : key.startsWith(target.prefix);
      if (covered) fail(`${what} both puts and deletes key ${JSON.stringify(key)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Field checks. Each returns the checked value or throws MalformedCommandError naming the field.

function fail(message: string): never {
  throw new MalformedCommandError(message);
}

function expectObject(raw: unknown, what: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) fail(`${what} must be an object`);
  // for...in, not Object.keys: no array per object on the apply path of every entry. Objects
  // from MessagePack and JSON have no enumerable inherited fields.
  for (const field in raw) {
    if (!allowed.includes(field)) fail(`${what} has an unknown field ${JSON.stringify(field)}`);
  }
  return raw as Record<string, unknown>;
}

function expectArray(raw: unknown, what: string, lengthMax: number): unknown[] {
  if (!Array.isArray(raw)) fail(`${what} must be an array`);
  if (raw.length > lengthMax) fail(`${what} has ${raw.length} items, more than the ${lengthMax} allowed`);
  return raw;
}

function expectKey(raw: unknown, what: string): string {
  const problem = keyProblem(raw, what, { emptyAllowed: false });
  if (problem !== undefined) fail(problem);
  return raw as string;
}

function expectValue(raw: unknown, what: string): Uint8Array {
  if (!(raw instanceof Uint8Array)) fail(`${what} must be bytes`);
  if (raw.byteLength > VALUE_BYTES_MAX) fail(`${what} is ${raw.byteLength} bytes, more than the ${VALUE_BYTES_MAX} allowed`);
  return raw;
}

function expectCount(raw: unknown, what: string): number {
  if (typeof raw !== "number" || !Number.isSafeInteger(raw) || raw < 0) fail(`${what} must be a non-negative integer`);
  return raw;
}

function optionalCount(raw: unknown, what: string): number | undefined {
  return raw === undefined ? undefined : expectCount(raw, what);
}

function expectToken(raw: unknown, what: string, bytesMax: number): string {
  if (typeof raw !== "string" || raw.length === 0) fail(`${what} must be a non-empty string`);
  const bytes = Buffer.byteLength(raw, "utf8");
  if (bytes > bytesMax) fail(`${what} is ${bytes} bytes, more than the ${bytesMax} allowed`);
  return raw;
}

/** `base` (a fresh object, extended in place) plus the optional fields that are defined (MessagePack would encode undefined). */
function withOptional<T extends object, O extends Record<string, number | undefined>>(base: T, optional: O): T & Partial<{ [K in keyof O]: number }> {
  const out = base as Record<string, unknown>; // the caller's fresh literal: extended, not copied
  for (const name in optional) {
    const value = optional[name];
    if (value !== undefined) out[name] = value;
  }
  return out as T & Partial<{ [K in keyof O]: number }>;
}
