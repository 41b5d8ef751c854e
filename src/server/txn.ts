/**
 * POST /v1/txn: the JSON body of api.md into kv's TxnPayload, and a TxnResult back into JSON.
 * Shapes are checked here with field paths in the messages (`success[2].put.value`); the rules
 * kv owns (a branch may not write one key twice) are checked by kv's own parser, so the server
 * and the replicated state machine can never disagree on what a valid transaction is.
 */
import { parseCommand, MalformedCommandError } from "../kv/index.js";
import type { Compare, CompareOp, KeyOrPrefix, TxnOp, TxnOpResult, TxnPayload, TxnResult } from "../kv/index.js";
import { TXN_COMPARES_MAX, TXN_OPS_MAX } from "../util/limits.js";
import { badInput } from "./errors.js";
import { checkKey, checkNoLease, checkPrefix, expectArray, expectCount, expectObject, type ValueEncoding } from "./input.js";
import { keyValueJson, valueFromJson, type KeyValueJson } from "./values.js";

const COMPARE_OPS: readonly string[] = ["==", "!=", "<", ">"];
const COMPARE_TARGETS: readonly string[] = ["value", "version", "modRevision", "createRevision"];

export function parseTxnBody(raw: unknown, encoding: ValueEncoding): TxnPayload {
  const body = expectObject(raw, "the transaction", ["compare", "success", "failure"]);
  const compare = expectArray(body.compare ?? [], "compare", TXN_COMPARES_MAX).map((item, i) => parseCompare(item, `compare[${i}]`, encoding));
  const success = expectArray(body.success ?? [], "success", TXN_OPS_MAX).map((item, i) => parseOp(item, `success[${i}]`, encoding));
  const failure = expectArray(body.failure ?? [], "failure", TXN_OPS_MAX).map((item, i) => parseOp(item, `failure[${i}]`, encoding));
  const payload: TxnPayload = { compare, success, failure };
  checkWithKv(payload);
  return payload;
}

function parseCompare(raw: unknown, what: string, encoding: ValueEncoding): Compare {
  const compare = expectObject(raw, what, ["key", "target", "op", "value"]);
  const key = checkKey(compare.key, `${what}.key`);
  if (typeof compare.op !== "string" || !COMPARE_OPS.includes(compare.op)) {
    throw badInput("invalid_argument", `${what}.op must be one of == != < >, not ${JSON.stringify(compare.op ?? null)}`);
  }
  const op = compare.op as CompareOp;
  const target = compare.target;
  if (target === "value") return { key, target, op, value: valueFromJson(compare.value, encoding, `${what}.value`) };
  if (target === "version" || target === "modRevision" || target === "createRevision") {
    return { key, target, op, value: expectCount(compare.value, `${what}.value`) };
  }
  throw badInput("invalid_argument", `${what}.target must be one of ${COMPARE_TARGETS.join(", ")}, not ${JSON.stringify(target ?? null)}`);
}

function parseOp(raw: unknown, what: string, encoding: ValueEncoding): TxnOp {
  const op = expectObject(raw, what, ["put", "get", "delete"]);
  const kinds = Object.keys(op);
  if (kinds.length !== 1) throw badInput("invalid_argument", `${what} must hold exactly one of put, get, delete`);
  if (op.put !== undefined) {
    const put = expectObject(op.put, `${what}.put`, ["key", "value", "lease"]);
    const key = checkKey(put.key, `${what}.put.key`);
    const value = valueFromJson(put.value, encoding, `${what}.put.value`);
    if (put.lease === undefined) return { put: { key, value } };
    const lease = expectCount(put.lease, `${what}.put.lease`);
    checkNoLease(lease, `${what}.put.lease`);
    return { put: { key, value, lease } };
  }
  if (op.get !== undefined) return { get: parseKeyOrPrefix(op.get, `${what}.get`) };
  return { delete: parseKeyOrPrefix(op.delete, `${what}.delete`) };
}

function parseKeyOrPrefix(raw: unknown, what: string): KeyOrPrefix {
  const target = expectObject(raw, what, ["key", "prefix"]);
  if ((target.key === undefined) === (target.prefix === undefined)) throw badInput("invalid_argument", `${what} must hold exactly one of key, prefix`);
  if (target.key !== undefined) return { key: checkKey(target.key, `${what}.key`) };
  return { prefix: checkPrefix(target.prefix, `${what}.prefix`) };
}

/** kv's rules (e.g. one branch writing a key twice, deleting everything with an empty prefix). */
function checkWithKv(payload: TxnPayload): void {
  try {
    parseCommand({ type: "txn", payload, requestId: "http-validation" });
  } catch (error) {
    if (error instanceof MalformedCommandError) throw badInput("invalid_argument", error.message.replace(/^txn /, ""));
    throw error;
  }
}

// ---------------------------------------------------------------------------------------
// Results

export type TxnOpResultJson =
  | { readonly put: { readonly key: string; readonly modRevision: number; readonly version: number } }
  | { readonly get: { readonly kvs: readonly KeyValueJson[]; readonly more: boolean } }
  | { readonly delete: { readonly deleted: number } };

export interface TxnResultJson {
  readonly succeeded: boolean;
  readonly revision: number;
  readonly results: readonly TxnOpResultJson[];
}

export function txnResultJson(result: TxnResult, encoding: ValueEncoding): TxnResultJson {
  return { succeeded: result.succeeded, revision: result.revision, results: result.results.map((op) => opResultJson(op, encoding)) };
}

function opResultJson(op: TxnOpResult, encoding: ValueEncoding): TxnOpResultJson {
  if ("put" in op) return { put: { key: op.put.key, modRevision: op.put.modRevision, version: op.put.version } };
  if ("get" in op) return { get: { kvs: op.get.kvs.map((kv) => keyValueJson(kv, encoding)), more: op.get.more } };
  return { delete: { deleted: op.delete.deleted } };
}
