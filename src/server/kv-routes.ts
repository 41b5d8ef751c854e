/** The key-value routes of api.md: /v1/kv/{key} (PUT, GET, DELETE), /v1/kv (range), /v1/txn. */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { CommandBody, CommandResult, KeyValue, PutPayload } from "../kv/index.js";
import { InvariantError } from "../util/assert.js";
import { badInput, HttpError } from "./errors.js";
import {
  booleanParam,
  checkKey,
  checkNoLease,
  checkPrefix,
  consistencyParam,
  countParam,
  encodingParam,
  keyFromPath,
  limitParam,
  parseJsonBody,
  parseQuery,
  type ValueEncoding,
} from "./input.js";
import { definedFields, rawUrl, writeOptions, type RouteContext } from "./route-context.js";
import { parseTxnBody, txnResultJson } from "./txn.js";
import { checkValueSize, keyValueJson, type KeyValueJson } from "./values.js";

const KV_PATH = "/v1/kv/";

export function registerKvRoutes(app: FastifyInstance, context: RouteContext): void {
  app.put(`${KV_PATH}*`, async (request) => putKey(context, request));
  app.get(`${KV_PATH}*`, async (request) => getKey(context, request));
  app.delete(`${KV_PATH}*`, async (request) => deleteKey(context, request));
  app.get("/v1/kv", async (request) => rangeKeys(context, request));
  app.post("/v1/txn", async (request) => transaction(context, request));
}

async function putKey(context: RouteContext, request: FastifyRequest): Promise<unknown> {
  const url = rawUrl(request);
  const query = parseQuery(url, ["ifModRevision", "lease", "encoding"]);
  const key = keyFromPath(url, KV_PATH);
  const encoding = encodingParam(query);
  const value = checkValueSize(Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0), "value");
  const ifModRevision = countParam(query, "ifModRevision");
  const lease = countParam(query, "lease");
  checkNoLease(lease, "lease");
  // The usual put as a plain literal: definedFields deletes properties, which turns an object into a slow dictionary.
  const payload: PutPayload = ifModRevision === undefined && lease === undefined ? { key, value } : definedFields({ key, value, ifModRevision, lease });
  const result = await context.node.write({ type: "put", payload }, writeOptions(context, request));
  if (result.kind === "put") return { revision: result.revision, key: result.key, modRevision: result.modRevision, version: result.version };
  return otherWriteOutcome(result, encoding, ifModRevision);
}

async function getKey(context: RouteContext, request: FastifyRequest): Promise<unknown> {
  const url = rawUrl(request);
  const query = parseQuery(url, ["consistency", "encoding"]);
  const key = keyFromPath(url, KV_PATH);
  const encoding = encodingParam(query);
  const { kv, revision } = await context.node.get(key, { consistency: consistencyParam(query), timeoutMs: context.requestTimeoutMs });
  if (kv === null) throw new HttpError(404, "not_found", `key ${quote(key)} not found`, { revision });
  // The revision added to the fresh object, not spread into another: a spread is far slower here.
  const json: KeyValueJson & { revision?: number } = keyValueJson(kv, encoding);
  json.revision = revision;
  return json;
}

async function deleteKey(context: RouteContext, request: FastifyRequest): Promise<unknown> {
  const url = rawUrl(request);
  const query = parseQuery(url, ["prefix", "ifModRevision", "encoding"]);
  const key = keyFromPath(url, KV_PATH);
  const encoding = encodingParam(query);
  const ifModRevision = countParam(query, "ifModRevision");
  const byPrefix = booleanParam(query, "prefix");
  if (byPrefix && ifModRevision !== undefined) throw badInput("invalid_argument", "ifModRevision cannot be combined with prefix=true");
  const command: CommandBody = byPrefix ? { type: "deleteRange", payload: { prefix: key } } : { type: "delete", payload: definedFields({ key, ifModRevision }) };
  const result = await context.node.write(command, writeOptions(context, request));
  if (result.kind === "delete") return { revision: result.revision, deleted: result.deleted };
  return otherWriteOutcome(result, encoding, ifModRevision);
}

async function rangeKeys(context: RouteContext, request: FastifyRequest): Promise<unknown> {
  const query = parseQuery(rawUrl(request), ["prefix", "limit", "after", "consistency", "encoding"]);
  const prefix = checkPrefix(query.get("prefix") ?? "", "prefix");
  const afterText = query.get("after");
  const after = afterText === undefined ? undefined : checkKey(afterText, "after");
  const encoding = encodingParam(query);
  const range = definedFields({ prefix, after, limit: limitParam(query) });
  const result = await context.node.range(range, { consistency: consistencyParam(query), timeoutMs: context.requestTimeoutMs });
  return { revision: result.revision, kvs: result.kvs.map((kv) => keyValueJson(kv, encoding)), more: result.more };
}

async function transaction(context: RouteContext, request: FastifyRequest): Promise<unknown> {
  const query = parseQuery(rawUrl(request), ["encoding"]);
  const encoding = encodingParam(query);
  const payload = parseTxnBody(parseJsonBody(request.body, { emptyAllowed: false }), encoding);
  const result = await context.node.write({ type: "txn", payload }, writeOptions(context, request));
  if (result.kind === "txn") return txnResultJson(result, encoding);
  return otherWriteOutcome(result, encoding, undefined);
}

/**
 * The outcomes a write may have besides its own kind: a failed ifModRevision (412), a retry
 * whose first result was too large to remember (it was applied once; nothing was applied now),
 * or an Idempotency-Key reused for another request (422, as payment APIs answer; nothing applied).
 */
function otherWriteOutcome(result: CommandResult, encoding: ValueEncoding, ifModRevision: number | undefined): unknown {
  switch (result.kind) {
    case "precondition_failed":
      throw new HttpError(412, "precondition_failed", preconditionMessage(result.key, result.current, ifModRevision), {
        current: result.current === null ? null : keyValueJson(result.current, encoding),
        revision: result.revision,
      });
    case "already_applied":
      return { revision: result.revision, alreadyApplied: true, index: result.index };
    case "idempotency_key_reused":
      throw new HttpError(
        422,
        "idempotency_key_reused",
        `this Idempotency-Key was already used, for a different request (first applied at log index ${result.index}): nothing was applied; use a new key for a new request`,
        { revision: result.revision },
      );
    default:
      throw new InvariantError(`the node answered a write with an unexpected ${result.kind} result`);
  }
}

function preconditionMessage(key: string, current: KeyValue | null, ifModRevision: number | undefined): string {
  const state = current === null ? "does not exist" : `has modRevision ${current.modRevision}`;
  return `precondition failed: ifModRevision is ${ifModRevision ?? "?"} but key ${quote(key)} ${state}`;
}

function quote(key: string): string {
  return JSON.stringify(key.length <= 200 ? key : `${key.slice(0, 200)}...`);
}
