/**
 * `flotilla txn`'s input: api.md's POST /v1/txn body as JSON text, into the client's TxnRequest.
 * Checked here is what the client needs to send it faithfully (an object of compare, success and
 * failure arrays of objects, one kind of operation each, values as strings): anything else would
 * be dropped or mangled on the way, never refused. The meaning (targets, operators, keys, one operation per item) is the
 * server's to check, with messages that name the field (`success[1].put.key`), exit status 1.
 */
import type { Compare, TxnOp, TxnRequest } from "../client/index.js";
import { UsageError } from "./io.js";

const BRANCHES = ["compare", "success", "failure"] as const;
const OP_KINDS: readonly string[] = ["put", "get", "delete"];
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

type Json = Record<string, unknown>;

export function parseTxnRequest(text: string): TxnRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the transaction is not valid JSON: ${(error as Error).message}`);
  }
  const body = object(raw, "the transaction", "a JSON object of compare, success and failure");
  for (const field of Object.keys(body)) {
    if (!(BRANCHES as readonly string[]).includes(field)) throw new UsageError(`unknown field ${JSON.stringify(field)} in the transaction (expected compare, success, failure)`);
  }
  return {
    compare: array(body.compare, "compare").map((item, i) => compare(item, `compare[${i}]`)),
    success: array(body.success, "success").map((item, i) => op(item, `success[${i}]`)),
    failure: array(body.failure, "failure").map((item, i) => op(item, `failure[${i}]`)),
  };
}

function compare(raw: unknown, what: string): Compare {
  const json = object(raw, what, "a JSON object");
  if (json.target === "value") text(json.value, `${what}.value`);
  return json as unknown as Compare;
}

function op(raw: unknown, what: string): TxnOp {
  const json = object(raw, what, "a JSON object");
  const kinds = Object.keys(json);
  if (kinds.length !== 1 || !OP_KINDS.includes(kinds[0]!)) throw new UsageError(`${what} must hold exactly one of put, get, delete${kinds.length === 0 ? "" : `, not ${kinds.join(" and ")}`}`);
  if (json.put !== undefined) text(object(json.put, `${what}.put`, "a JSON object").value, `${what}.put.value`);
  return json as unknown as TxnOp;
}

function object(raw: unknown, what: string, expected: string): Json {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new UsageError(`${what} must be ${expected}`);
  return raw as Json;
}

function array(raw: unknown, what: string): unknown[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new UsageError(`${what} must be an array`);
  return raw;
}

function text(raw: unknown, what: string): void {
  if (typeof raw !== "string") throw new UsageError(`${what} must be a string (values are UTF-8 text)`);
  if (LONE_SURROGATE.test(raw)) throw new UsageError(`${what} is not valid Unicode (a lone surrogate)`);
}
