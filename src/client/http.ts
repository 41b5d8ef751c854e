/**
 * Sending one logical request to a cluster: failover across endpoints and the retry rules.
 *
 * - A connection that fails before any answer (refused, reset, timed out) moves on to the next
 *   endpoint. Whether the request may be sent again depends on its RetryPolicy:
 *   `repeatable` (reads, and writes carrying an Idempotency-Key: a retry never applies twice)
 *   and `probe` always may; `once` (membership changes, leader transfer) only when it surely
 *   never reached a server (connection refused, unknown host), otherwise the outcome is unknown.
 * - 503 (no leader yet, overloaded): wait Retry-After (capped), then try the next endpoint;
 *   503 shutting_down (that node is stopping): the next endpoint at once.
 * - 504 (outcome unknown): retried, with the same Idempotency-Key, for `repeatable` requests.
 * Attempts are bounded by `retries`; the endpoint that answered last is tried first next time.
 */
import { CLIENT_RESPONSE_BYTES_MAX, CLIENT_ROUND_BACKOFF_MS } from "../util/limits.js";
import { FlotillaError } from "./errors.js";

/**
 * repeatable: may be sent again after any failure (reads; writes with an Idempotency-Key).
 * once: sent again only if it surely never reached a server; a 503/504 answer is final.
 * probe: fails over on connection errors like a read, but any answer is final (health checks).
 */
export type RetryPolicy = "repeatable" | "once" | "probe";

export interface HttpRequest {
  readonly method: "GET" | "PUT" | "POST" | "DELETE";
  /** Path and query, already encoded. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | string;
  readonly retry: RetryPolicy;
}

export interface HttpAnswer {
  readonly status: number;
  readonly endpoint: string;
  /** The parsed JSON body; undefined when the body is not JSON (e.g. /metrics). */
  readonly json: unknown;
  readonly text: string;
  /** The Retry-After header of a 503, when present. */
  readonly retryAfter: string | null;
}

export interface HttpSettings {
  readonly endpoints: readonly string[];
  readonly timeoutMs: number;
  readonly retries: number;
  readonly retryAfterMsMax: number;
}

/** Connection errors raised before a byte of the request could reach a server. */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"]);

interface ConnectionFailure {
  readonly sent: boolean;
  readonly reason: string;
}

export class HttpSender {
  readonly #settings: HttpSettings;
  #current = 0;

  constructor(settings: HttpSettings) {
    this.#settings = settings;
  }

  get endpoints(): readonly string[] {
    return this.#settings.endpoints;
  }

  async send(request: HttpRequest): Promise<HttpAnswer> {
    const attemptsMax = 1 + this.#settings.retries;
    const problems: string[] = [];
    let lastAnswer: HttpAnswer | undefined;
    let failuresInARow = 0;
    for (let attempt = 1; attempt <= attemptsMax; attempt++) {
      const endpoint = this.#settings.endpoints[this.#current]!;
      const outcome = await this.#attempt(endpoint, request);
      if ("status" in outcome) {
        failuresInARow = 0;
        lastAnswer = outcome;
        const wait = this.#retryWait(outcome, request.retry);
        if (wait === undefined || attempt === attemptsMax) return outcome;
        problems.push(`${endpoint}: ${outcome.status}`);
        this.#next();
        await sleep(wait);
        continue;
      }
      problems.push(`${endpoint}: ${outcome.reason}`);
      if (outcome.sent && request.retry === "once") {
        throw new FlotillaError(0, "unknown_outcome", `${request.method} ${pathOnly(request.path)} was sent to ${endpoint} but no answer came back (${outcome.reason}): it may or may not have been applied`, { endpoint });
      }
      this.#next();
      failuresInARow++;
      if (failuresInARow % this.#settings.endpoints.length === 0 && attempt < attemptsMax) await sleep(CLIENT_ROUND_BACKOFF_MS);
    }
    if (lastAnswer !== undefined) return lastAnswer;
    throw new FlotillaError(0, "unavailable", `no endpoint answered ${request.method} ${pathOnly(request.path)} after ${attemptsMax} attempts (${summarize(problems)})`);
  }

  /** How long to wait before retrying this answer, or undefined when it is final. */
  #retryWait(answer: HttpAnswer, policy: RetryPolicy): number | undefined {
    if (policy !== "repeatable") return undefined;
    // A node that is shutting down says nothing about the cluster: the next endpoint, at once.
    if (answer.status === 503 && errorCodeOf(answer) === "shutting_down" && this.#settings.endpoints.length > 1) return 0;
    if (answer.status === 503) return Math.min(retryAfterMs(answer), this.#settings.retryAfterMsMax);
    if (answer.status === 504) return CLIENT_ROUND_BACKOFF_MS;
    return undefined;
  }

  #next(): void {
    this.#current = (this.#current + 1) % this.#settings.endpoints.length;
  }

  async #attempt(endpoint: string, request: HttpRequest): Promise<HttpAnswer | ConnectionFailure> {
    let response: Response;
    try {
      response = await fetch(endpoint + request.path, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        redirect: "manual",
        signal: AbortSignal.timeout(this.#settings.timeoutMs),
      });
    } catch (error) {
      return connectionFailure(error, this.#settings.timeoutMs);
    }
    let text: string;
    try {
      text = await readBounded(response);
    } catch (error) {
      if (error instanceof FlotillaError) throw error;
      return { ...connectionFailure(error, this.#settings.timeoutMs), sent: true };
    }
    return { status: response.status, endpoint, json: parseJson(text), text, retryAfter: response.headers.get("retry-after") };
  }
}

function connectionFailure(error: unknown, timeoutMs: number): ConnectionFailure {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return { sent: true, reason: `no answer within ${timeoutMs} ms` };
  }
  const code = errorCode(error);
  return { sent: code === undefined || !NOT_SENT_CODES.has(code), reason: code ?? (error as Error).message };
}

function errorCode(error: unknown): string | undefined {
  for (let cause: unknown = error, depth = 0; cause instanceof Error && depth < 4; cause = cause.cause, depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

function errorCodeOf(answer: HttpAnswer): unknown {
  return typeof answer.json === "object" && answer.json !== null ? (answer.json as { code?: unknown }).code : undefined;
}

function retryAfterMs(answer: HttpAnswer): number {
  const seconds = answer.retryAfter === null ? NaN : Number(answer.retryAfter);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : CLIENT_ROUND_BACKOFF_MS;
}

async function readBounded(response: Response): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > CLIENT_RESPONSE_BYTES_MAX) {
    await response.body?.cancel();
    throw new FlotillaError(response.status, "invalid_response", `the answer is ${declared} bytes, more than the ${CLIENT_RESPONSE_BYTES_MAX} this client reads`);
  }
  if (response.body === null) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > CLIENT_RESPONSE_BYTES_MAX) {
      await reader.cancel();
      throw new FlotillaError(response.status, "invalid_response", `the answer is more than the ${CLIENT_RESPONSE_BYTES_MAX} bytes this client reads`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total).toString("utf8");
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function pathOnly(path: string): string {
  return path.split("?")[0]!;
}

function summarize(problems: readonly string[]): string {
  const distinct = [...new Set(problems)];
  return distinct.length <= 4 ? distinct.join("; ") : `${distinct.slice(0, 4).join("; ")}; ...`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
