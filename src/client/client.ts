/**
 * Client: the typed HTTP client of api.md. Talks to any node (followers forward to the leader),
 * fails over between endpoints, and gives every write an Idempotency-Key so that retrying it,
 * after a lost answer or on another node, never applies it twice.
 */
import { randomUUID } from "node:crypto";
import { CLIENT_ATTEMPT_TIMEOUT_MS_DEFAULT, CLIENT_RETRIES_DEFAULT, CLIENT_RETRY_AFTER_MS_MAX } from "../util/limits.js";
import * as decode from "./decode.js";
import { endpointUrl, parseEndpointList } from "./endpoints.js";
import { FlotillaError } from "./errors.js";
import { HttpSender, type HttpAnswer, type HttpRequest } from "./http.js";
import type {
  AddMemberRequest,
  Compare,
  DeleteOptions,
  DeleteResponse,
  GetOptions,
  GetResponse,
  KeyValue,
  Member,
  PutOptions,
  PutResponse,
  RangeOptions,
  RangeResponse,
  Status,
  TxnOp,
  TxnOptions,
  TxnRequest,
  TxnResponse,
  ValueInput,
} from "./types.js";

/** Where a client talks when no endpoint is given: the CLI's default, where `flotilla start` listens. */
export const DEFAULT_ENDPOINT = "127.0.0.1:7379";

export interface ClientOptions {
  /**
   * Nodes to talk to: "host:port" or http(s) URLs, as a list or comma-separated. Absent: the
   * local node of `flotilla start`, DEFAULT_ENDPOINT (127.0.0.1:7379). Empty: an error.
   */
  readonly endpoints?: readonly string[] | string;
  /** One attempt's wait for an answer; default CLIENT_ATTEMPT_TIMEOUT_MS_DEFAULT (15 s). */
  readonly timeoutMs?: number;
  /** Attempts after the first (failover, 503, 504); default CLIENT_RETRIES_DEFAULT (5). */
  readonly retries?: number;
  /** Cap on the wait a server's Retry-After imposes; default CLIENT_RETRY_AFTER_MS_MAX. */
  readonly retryAfterMsMax?: number;
}

export interface MembersApi {
  list(): Promise<Member[]>;
  /** `joinToken`: the cluster's admission secret, when its nodes run with --join-token. */
  add(request: AddMemberRequest, options?: { readonly joinToken?: string }): Promise<Member[]>;
  remove(id: string): Promise<Member[]>;
  promote(id: string): Promise<Member[]>;
}

/** The header that carries a cluster's join token on POST /v1/members. */
export const JOIN_TOKEN_HEADER = "x-flotilla-join-token";

export class Client {
  readonly #http: HttpSender;
  readonly members: MembersApi;

  /** `new Client()` talks to 127.0.0.1:7379; pass `{ endpoints: ["host:port", ...] }` for a cluster. */
  constructor(options: ClientOptions = {}) {
    if (typeof options !== "object" || options === null || Array.isArray(options)) {
      throw new FlotillaError(0, "invalid_argument", `new Client(options) takes an object such as { endpoints: ["127.0.0.1:7379"] }, not ${describe(options)}`);
    }
    const endpoints = endpointUrls(options.endpoints);
    this.#http = new HttpSender({
      endpoints,
      timeoutMs: positiveInteger(options.timeoutMs ?? CLIENT_ATTEMPT_TIMEOUT_MS_DEFAULT, "timeoutMs"),
      retries: nonNegativeInteger(options.retries ?? CLIENT_RETRIES_DEFAULT, "retries"),
      retryAfterMsMax: nonNegativeInteger(options.retryAfterMsMax ?? CLIENT_RETRY_AFTER_MS_MAX, "retryAfterMsMax"),
    });
    this.members = {
      list: async () => decode.members(await this.#json({ method: "GET", path: "/v1/members", retry: "repeatable" })),
      add: async (request, options = {}) => {
        const headers: Record<string, string> = options.joinToken === undefined ? {} : { [JOIN_TOKEN_HEADER]: options.joinToken };
        return decode.members(await this.#json({ method: "POST", path: "/v1/members", ...jsonBody(request, headers), retry: "once" }));
      },
      remove: async (id) => decode.members(await this.#json({ method: "DELETE", path: `/v1/members/${pathPart(id, "member id")}`, retry: "once" })),
      promote: async (id) => decode.members(await this.#json({ method: "POST", path: `/v1/members/${pathPart(id, "member id")}/promote`, retry: "once" })),
    };
  }

  /** The endpoints, as base URLs. */
  get endpoints(): readonly string[] {
    return this.#http.endpoints;
  }

  /** Stores `value` under `key`. A failed ifModRevision throws FlotillaError 412 with `current`. */
  async put(key: string, value: ValueInput, options: PutOptions = {}): Promise<PutResponse> {
    const query = { ifModRevision: options.ifModRevision, lease: options.lease, encoding: "base64" };
    const json = decode.object(
      await this.#json({
        method: "PUT",
        path: kvPath(key, query),
        headers: { "content-type": "application/octet-stream", "idempotency-key": options.idempotencyKey ?? randomUUID() },
        body: toBytes(value),
        retry: "repeatable",
      }),
      "the put answer",
    );
    return { revision: decode.number(json, "revision"), key: decode.string(json, "key"), modRevision: decode.number(json, "modRevision"), version: decode.number(json, "version") };
  }

  /**
   * The key's kv and the store's revision. A missing key throws FlotillaError 404 `not_found`
   * (with `revision`); `find` answers null instead.
   */
  async get(key: string, options: GetOptions = {}): Promise<GetResponse> {
    const json = decode.object(await this.#json({ method: "GET", path: kvPath(key, { consistency: options.consistency, encoding: "base64" }), retry: "repeatable" }), "the get answer");
    return decode.keyValueWith(json, { revision: decode.number(json, "revision") });
  }

  /** Like get, but a missing key is null rather than an error. */
  async find(key: string, options: GetOptions = {}): Promise<GetResponse | null> {
    try {
      return await this.get(key, options);
    } catch (error) {
      if (error instanceof FlotillaError && error.status === 404 && error.code === "not_found") return null;
      throw error;
    }
  }

  /** Deletes the key (or, with `prefix`, every key starting with it). */
  async delete(key: string, options: DeleteOptions = {}): Promise<DeleteResponse> {
    const query = { prefix: options.prefix === true ? "true" : undefined, ifModRevision: options.ifModRevision, encoding: "base64" };
    const json = decode.object(
      await this.#json({ method: "DELETE", path: kvPath(key, query), headers: { "idempotency-key": options.idempotencyKey ?? randomUUID() }, retry: "repeatable" }),
      "the delete answer",
    );
    return { revision: decode.number(json, "revision"), deleted: decode.number(json, "deleted") };
  }

  /** One page of keys in key order; continue with `after` = the last key while `more`. */
  async range(options: RangeOptions = {}): Promise<RangeResponse> {
    const query = { prefix: options.prefix, limit: options.limit, after: options.after, consistency: options.consistency, encoding: "base64" };
    const json = decode.object(await this.#json({ method: "GET", path: `/v1/kv${queryString(query)}`, retry: "repeatable" }), "the range answer");
    return { revision: decode.number(json, "revision"), kvs: decode.keyValues(json, "kvs"), more: decode.boolean(json, "more") };
  }

  /** Every kv with the prefix, page by page (each page is its own read, at its own revision). */
  async *scan(options: Omit<RangeOptions, "after"> = {}): AsyncGenerator<KeyValue> {
    let after: string | undefined;
    for (;;) {
      const page = await this.range(after === undefined ? options : { ...options, after });
      yield* page.kvs;
      const last = page.kvs.at(-1);
      if (!page.more || last === undefined) return;
      after = last.key;
    }
  }

  /** An atomic compare-and-branch transaction (api.md POST /v1/txn). */
  async txn(request: TxnRequest, options: TxnOptions = {}): Promise<TxnResponse> {
    const body = {
      compare: (request.compare ?? []).map(compareJson),
      success: (request.success ?? []).map(opJson),
      failure: (request.failure ?? []).map(opJson),
    };
    const answer = await this.#json({
      method: "POST",
      path: "/v1/txn?encoding=base64",
      ...jsonBody(body, { "idempotency-key": options.idempotencyKey ?? randomUUID() }),
      retry: "repeatable",
    });
    const json = decode.object(answer, "the txn answer");
    if (json.alreadyApplied === true) return { succeeded: true, revision: decode.number(json, "revision"), results: [], alreadyApplied: true };
    return { succeeded: decode.boolean(json, "succeeded"), revision: decode.number(json, "revision"), results: decode.array(json, "results").map(decode.txnOpResult) };
  }

  /** The answering node's view of itself and the cluster. */
  async status(): Promise<Status> {
    return decode.status(await this.#json({ method: "GET", path: "/v1/status", retry: "repeatable" }));
  }

  /** Hands leadership to `to`, or to the most caught-up voter; resolves with the new leader. */
  async transferLeader(to?: string): Promise<{ leader: string }> {
    const json = decode.object(await this.#json({ method: "POST", path: "/v1/leader/transfer", ...jsonBody(to === undefined ? {} : { to }), retry: "once" }), "the answer");
    return { leader: decode.string(json, "leader") };
  }

  /** True when an endpoint answers /healthz with 200; false when none answers. */
  async health(): Promise<boolean> {
    return this.#probe("/healthz");
  }

  /** True when the first endpoint that answers is ready (knows a leader and has caught up). */
  async ready(): Promise<boolean> {
    return this.#probe("/readyz");
  }

  /** The first answering endpoint's Prometheus metrics text. */
  async metrics(): Promise<string> {
    const answer = await this.#http.send({ method: "GET", path: "/metrics", retry: "repeatable" });
    if (answer.status !== 200) throw decode.errorFromAnswer(answer);
    return answer.text;
  }

  async #probe(path: string): Promise<boolean> {
    try {
      return (await this.#http.send({ method: "GET", path, retry: "probe" })).status === 200;
    } catch (error) {
      if (error instanceof FlotillaError && error.code === "unavailable") return false;
      throw error;
    }
  }

  async #json(request: HttpRequest): Promise<unknown> {
    return ok(await this.#http.send(request));
  }
}

/** The endpoints option as base URLs: absent means DEFAULT_ENDPOINT; empty or malformed is a clear error. */
function endpointUrls(endpoints: unknown): string[] {
  if (endpoints === undefined) return [endpointUrl(DEFAULT_ENDPOINT)];
  if (typeof endpoints === "string") return parseEndpointList(endpoints);
  if (!Array.isArray(endpoints)) {
    throw new FlotillaError(0, "invalid_endpoint", `endpoints must be a list of "HOST:PORT" or URL strings, or one comma-separated string, not ${describe(endpoints)}`);
  }
  if (endpoints.length === 0) {
    throw new FlotillaError(0, "invalid_endpoint", `no endpoint given: endpoints is an empty list; give at least one node, e.g. { endpoints: ["127.0.0.1:7379"] }, or leave endpoints out to use ${DEFAULT_ENDPOINT}`);
  }
  return endpoints.map((endpoint: unknown, i) => {
    if (typeof endpoint !== "string") throw new FlotillaError(0, "invalid_endpoint", `endpoints[${i}] must be a "HOST:PORT" or URL string, not ${describe(endpoint)}`);
    return endpointUrl(endpoint);
  });
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "string" ? JSON.stringify(value) : typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}

function ok(answer: HttpAnswer): unknown {
  if (answer.status !== 200) throw decode.errorFromAnswer(answer);
  if (answer.json === undefined) throw new FlotillaError(answer.status, "invalid_response", `${answer.endpoint} answered 200 with a body that is not JSON`, { endpoint: answer.endpoint });
  return answer.json;
}

function kvPath(key: string, query: Record<string, string | number | undefined>): string {
  return `/v1/kv/${pathPart(key, "key")}${queryString(query)}`;
}

/** Percent-encodes one path segment ("/" too: the server decodes the whole rest of the path). */
function pathPart(text: string, what: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    throw new FlotillaError(0, "invalid_argument", `${what} is not valid Unicode (it has a lone surrogate)`);
  }
}

function queryString(query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) params.set(name, String(value));
  }
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

function jsonBody(body: unknown, headers: Record<string, string> = {}): Pick<HttpRequest, "body" | "headers"> {
  return { body: JSON.stringify(body), headers: { ...headers, "content-type": "application/json" } };
}

function toBytes(value: ValueInput): Uint8Array {
  return typeof value === "string" ? Buffer.from(value, "utf8") : value;
}

function base64(value: ValueInput): string {
  return Buffer.from(toBytes(value)).toString("base64");
}

function compareJson(compare: Compare): unknown {
  return compare.target === "value" ? { ...compare, value: base64(compare.value) } : compare;
}

function opJson(op: TxnOp): unknown {
  return "put" in op ? { put: { ...op.put, value: base64(op.put.value) } } : op;
}

function positiveInteger(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new FlotillaError(0, "invalid_argument", `${what} must be a positive integer`);
  return value;
}

function nonNegativeInteger(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new FlotillaError(0, "invalid_argument", `${what} must be a non-negative integer`);
  return value;
}
