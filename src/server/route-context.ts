/** What every route handler needs: the node, the deadline it hands the node, the metrics. */
import type { FastifyRequest } from "fastify";
import type { NodeApi, WriteOptions } from "../node/api.js";
import { idempotencyKeyHeader } from "./input.js";
import type { HttpMetrics } from "./metrics.js";

export interface RouteContext {
  readonly node: NodeApi;
  readonly requestTimeoutMs: number;
  readonly metrics: HttpMetrics;
  /** When set, POST /v1/members must carry it (JOIN_TOKEN_HEADER): strangers cannot join. */
  readonly joinToken?: string;
  /** Whether this server forwards what only the leader can answer (HttpServerOptions.forward). */
  readonly forward: boolean;
}

/** The raw URL as received (path and query still percent-encoded): keys are decoded by us, once. */
export function rawUrl(request: FastifyRequest): string {
  return request.raw.url ?? request.url;
}

export function writeOptions(context: RouteContext, request: FastifyRequest): WriteOptions {
  const idempotencyKey = idempotencyKeyHeader(request.headers);
  // The node forwards a follower's write to the leader itself (over the peer connection).
  const base = { timeoutMs: context.requestTimeoutMs, forward: context.forward };
  return idempotencyKey === undefined ? base : { ...base, idempotencyKey };
}

/** `fields` without its undefined members (a command carries only what was given), removed in place: callers pass a fresh literal. */
export function definedFields<T extends Record<string, unknown>>(fields: T): T {
  for (const name in fields) if (fields[name] === undefined) delete fields[name];
  return fields;
}
