/**
 * Every error the HTTP API answers, and the ONE place where named errors (the server's own
 * HttpError, the node's NodeError, kv's input errors, Fastify's parser errors) become an HTTP
 * status and a stable `code`. Body: `{"error": "<one sentence>", "code": "<snake_case>", ...}`.
 */
import { NodeError, type NodeErrorCode } from "../node/api.js";
import { KvError } from "../kv/index.js";
import { unreachable } from "../util/assert.js";

/** The stable codes of error responses (README.md lists them with their statuses). */
export type ErrorCode =
  | "bad_request"
  | "invalid_json"
  | "unknown_field"
  | "invalid_argument"
  | "invalid_key"
  | "key_too_large"
  | "value_too_large"
  | "body_too_large"
  | "not_found"
  | "route_not_found"
  | "conflict"
  | "forbidden"
  | "precondition_failed"
  | "idempotency_key_reused"
  | "no_leader"
  | "not_leader"
  | "overloaded"
  | "shutting_down"
  | "not_ready"
  | "unknown_outcome"
  | "internal";

/** An error the server itself decided on (bad input, a refused forward): status and code are final. */
export class HttpError extends Error {
  override name = "HttpError";
  readonly status: number;
  readonly code: ErrorCode;
  /** Extra body fields (api.md: `current` for 412, `revision` for 404). */
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(status: number, code: ErrorCode, message: string, extra: Readonly<Record<string, unknown>> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

export function badInput(code: ErrorCode, message: string): HttpError {
  return new HttpError(400, code, message);
}

export function tooLarge(code: "key_too_large" | "value_too_large" | "body_too_large", message: string): HttpError {
  return new HttpError(413, code, message);
}

export interface ErrorResponse {
  readonly status: number;
  readonly body: { readonly error: string; readonly code: ErrorCode } & Readonly<Record<string, unknown>>;
  /** 503 answers carry Retry-After (api.md). */
  readonly retryAfter: boolean;
  /** Not an operating error: a bug to log with its stack (the client sees no detail). */
  readonly unexpected: boolean;
}

/** How each node error is answered. not_leader reaches here only when it could not be forwarded. */
function nodeStatus(code: NodeErrorCode): { status: number; code: ErrorCode } {
  switch (code) {
    case "not_leader":
      return { status: 503, code: "not_leader" };
    case "no_leader":
      return { status: 503, code: "no_leader" };
    case "overloaded":
      return { status: 503, code: "overloaded" };
    case "shutting_down":
      return { status: 503, code: "shutting_down" };
    case "unknown_outcome":
      return { status: 504, code: "unknown_outcome" };
    case "conflict":
      return { status: 409, code: "conflict" };
    case "not_found":
      return { status: 404, code: "not_found" };
    case "bad_request":
      return { status: 400, code: "bad_request" };
    default:
      return unreachable(code, "node error code");
  }
}

/** Fastify's own errors (body parsing, limits) that a client can cause. */
function frameworkStatus(error: { code?: unknown; statusCode?: unknown }): { status: number; code: ErrorCode; message: string } | undefined {
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return { status: 413, code: "body_too_large", message: "request body is larger than the server accepts" };
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return { status: 400, code: "bad_request", message: "request body length does not match its Content-Length header" };
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return { status: 400, code: "bad_request", message: "request Content-Type header is not valid" };
    default:
      break;
  }
  if (typeof error.statusCode === "number" && error.statusCode >= 400 && error.statusCode < 500) {
    return { status: error.statusCode, code: "bad_request", message: "the request is not valid HTTP for this server" };
  }
  return undefined;
}

export function errorResponse(error: unknown): ErrorResponse {
  if (error instanceof HttpError) {
    return respond(error.status, error.code, error.message, error.extra);
  }
  if (error instanceof NodeError) {
    const mapped = nodeStatus(error.code);
    const extra = error.code === "not_leader" && error.leaderClientUrl !== undefined ? { leader: error.leaderClientUrl } : {};
    return respond(mapped.status, mapped.code, error.message, extra);
  }
  if (error instanceof KvError && (error.code === "malformed_command" || error.code === "bad_input")) {
    return respond(400, "invalid_argument", error.message);
  }
  if (typeof error === "object" && error !== null) {
    const framework = frameworkStatus(error as { code?: unknown; statusCode?: unknown });
    if (framework !== undefined) return respond(framework.status, framework.code, framework.message);
  }
  return { status: 500, body: { error: "internal error: the server failed to handle this request (see its log)", code: "internal" }, retryAfter: false, unexpected: true };
}

function respond(status: number, code: ErrorCode, message: string, extra: Readonly<Record<string, unknown>> = {}): ErrorResponse {
  return { status, body: { error: oneSentence(message), code, ...extra }, retryAfter: status === 503, unexpected: false };
}

/** api.md promises one clear sentence: no line breaks, no stack. */
function oneSentence(message: string): string {
  const line = message.replace(/\s*\n\s*/g, " ").trim();
  return line.length > 0 ? line : "request failed";
}
