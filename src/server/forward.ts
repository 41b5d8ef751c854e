/**
 * Forwarding to the leader (rqlite's proxy layer): a follower that cannot serve a request
 * replays it, unchanged, against the leader's client URL and relays the answer. The forwarded
 * request carries `x-flotilla-forwarded: <hops>`, and one that has made HTTP_FORWARD_HOPS_MAX
 * hops is never forwarded again: a leader that hands over while a forwarded request waits on it
 * passes it on to the new leader (the second hop), and stale hints never make a loop.
 */
import { HTTP_FORWARD_HOPS_MAX, HTTP_FORWARD_RESPONSE_BYTES_MAX } from "../util/limits.js";
import { HttpError } from "./errors.js";

export const FORWARDED_HEADER = "x-flotilla-forwarded";
/** On the relayed response: which leader answered (for debugging; clients need not care). */
export const FORWARDED_TO_HEADER = "x-flotilla-forwarded-to";

/** Headers that belong to one connection (RFC 9110 §7.6.1) or that fetch computes itself. */
const NOT_FORWARDED = new Set(["host", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection", "proxy-authorization", "content-length", "expect", FORWARDED_HEADER]);

/** What the follower received, as it received it. */
export interface OriginalRequest {
  readonly method: string;
  /** Path and query, still percent-encoded. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Uint8Array | undefined;
}

export interface RelayedResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export function wasForwarded(headers: OriginalRequest["headers"]): boolean {
  return headers[FORWARDED_HEADER] !== undefined;
}

/** Hops this request has made (an unreadable count counts as the most: never forwarded again). */
export function forwardHops(headers: OriginalRequest["headers"]): number {
  const value = headers[FORWARDED_HEADER];
  if (value === undefined) return 0;
  const hops = Number(Array.isArray(value) ? value[0] : value);
  return Number.isSafeInteger(hops) && hops >= 1 ? hops : HTTP_FORWARD_HOPS_MAX;
}

/** Whether this request may be forwarded once more. */
export function mayForward(headers: OriginalRequest["headers"]): boolean {
  return forwardHops(headers) < HTTP_FORWARD_HOPS_MAX;
}

/**
 * Sends `request` to the leader and returns its answer. Throws HttpError: 503 no_leader when
 * the leader could not be reached (nothing was sent), 504 unknown_outcome when a write was sent
 * but no answer came back (it may have been applied), 503 for a read in that case.
 */
export async function forwardToLeader(request: OriginalRequest, leaderClientUrl: string, timeoutMs: number): Promise<RelayedResponse> {
  const target = targetUrl(leaderClientUrl, request.url);
  let response: Response;
  try {
    response = await fetch(target, {
      method: request.method,
      headers: forwardedHeaders(request.headers),
      body: request.body === undefined || isRead(request.method) ? undefined : request.body,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw unreachableLeader(error, request.method, leaderClientUrl);
  }
  const body = await readBounded(response, request.method, leaderClientUrl);
  return { status: response.status, headers: relayedHeaders(response, leaderClientUrl), body };
}

function targetUrl(leaderClientUrl: string, pathAndQuery: string): URL {
  let base: URL;
  try {
    base = new URL(leaderClientUrl);
  } catch {
    throw new HttpError(503, "no_leader", `the leader's client URL ${JSON.stringify(leaderClientUrl)} is not a valid URL`);
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new HttpError(503, "no_leader", `the leader's client URL ${JSON.stringify(leaderClientUrl)} is not http(s)`);
  }
  return new URL(base.origin + pathAndQuery);
}

function forwardedHeaders(headers: OriginalRequest["headers"]): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || NOT_FORWARDED.has(name.toLowerCase())) continue;
    for (const one of Array.isArray(value) ? value : [value]) out.append(name, one);
  }
  out.set(FORWARDED_HEADER, String(forwardHops(headers) + 1));
  return out;
}

function relayedHeaders(response: Response, leaderClientUrl: string): Record<string, string> {
  const out: Record<string, string> = { [FORWARDED_TO_HEADER]: leaderClientUrl };
  for (const name of ["content-type", "retry-after"]) {
    const value = response.headers.get(name);
    if (value !== null) out[name] = value;
  }
  return out;
}

/** Connection errors that happen before any byte of the request left: safe to call "not sent". */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"]);

function unreachableLeader(error: unknown, method: string, leaderClientUrl: string): HttpError {
  const code = errorCode(error);
  const reason = code ?? (error instanceof Error ? error.name : "error");
  if ((code !== undefined && NOT_SENT_CODES.has(code)) || isRead(method)) {
    return new HttpError(503, "no_leader", `the leader at ${leaderClientUrl} could not be reached (${reason})`);
  }
  return new HttpError(504, "unknown_outcome", `the request was forwarded to the leader at ${leaderClientUrl} but no answer came back (${reason}): it may or may not have been applied`);
}

function isRead(method: string): boolean {
  return method === "GET" || method === "HEAD";
}

function errorCode(error: unknown): string | undefined {
  for (let cause: unknown = error, depth = 0; cause instanceof Error && depth < 4; cause = cause.cause, depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

async function readBounded(response: Response, method: string, leaderClientUrl: string): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (response.body === null) return Buffer.alloc(0);
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > HTTP_FORWARD_RESPONSE_BYTES_MAX) {
        await reader.cancel();
        throw new HttpError(503, "no_leader", `the leader at ${leaderClientUrl} answered with more than ${HTTP_FORWARD_RESPONSE_BYTES_MAX} bytes`);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof HttpError) throw error;
    if (isRead(method)) throw new HttpError(503, "no_leader", `the answer from the leader at ${leaderClientUrl} was cut off (${errorCode(error) ?? "error"})`);
    throw new HttpError(504, "unknown_outcome", `the answer from the leader at ${leaderClientUrl} was cut off (${errorCode(error) ?? "error"}): the request may or may not have been applied`);
  }
  return Buffer.concat(chunks, total);
}
