/**
 * Parsing and checking of everything a client sends: the key in the path, query parameters,
 * headers and JSON bodies. Each check returns the clean value or throws HttpError naming the
 * field. Strict on purpose: an unknown parameter or field is refused (400 unknown_field), so a
 * typo never silently changes what a request means.
 */
import { keyProblem } from "../kv/index.js";
import { IDEMPOTENCY_KEY_BYTES_MAX, KEY_BYTES_MAX, RANGE_KVS_MAX } from "../util/limits.js";
import { badInput, tooLarge } from "./errors.js";

export type Consistency = "linearizable" | "stale";
export type ValueEncoding = "utf8" | "base64";

// ---------------------------------------------------------------------------------------
// The URL

/** Splits a raw request URL (as received, still percent-encoded) into path and query. */
export function splitUrl(rawUrl: string): { path: string; query: string } {
  const mark = rawUrl.indexOf("?");
  return mark === -1 ? { path: rawUrl, query: "" } : { path: rawUrl.slice(0, mark), query: rawUrl.slice(mark + 1) };
}

/** Percent-decodes one path or query component; `what` names it in the error. */
export function percentDecode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw badInput(what === "key" ? "invalid_key" : "invalid_argument", `${what} is not valid percent-encoded UTF-8: ${JSON.stringify(truncate(text))}`);
  }
}

/** The key of /v1/kv/{key}: the rest of the raw path after `prefix`, percent-decoded and checked. */
export function keyFromPath(rawUrl: string, prefix: string): string {
  const { path } = splitUrl(rawUrl);
  if (!path.startsWith(prefix)) throw badInput("invalid_key", `the path must start with ${prefix}`);
  return checkKey(percentDecode(path.slice(prefix.length), "key"), "key");
}

/** A path segment such as the member id of /v1/members/{id}[/promote]. */
export function segmentFromPath(rawUrl: string, prefix: string, suffix: string, what: string): string {
  const { path } = splitUrl(rawUrl);
  const encoded = path.slice(prefix.length, path.length - suffix.length);
  const text = percentDecode(encoded, what);
  if (text.length === 0) throw badInput("invalid_argument", `${what} must not be empty`);
  return text;
}

/** A key (or a key inside a JSON body): 1..KEY_BYTES_MAX bytes of valid UTF-8. */
export function checkKey(text: unknown, what: string): string {
  if (typeof text !== "string") throw badInput("invalid_argument", `${what} must be a string`);
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > KEY_BYTES_MAX) throw tooLarge("key_too_large", `${what} is ${bytes} bytes, more than the ${KEY_BYTES_MAX} allowed`);
  const problem = keyProblem(text, what, { emptyAllowed: false });
  if (problem !== undefined) throw badInput("invalid_key", problem);
  return text;
}

/** A prefix: like a key, but may be empty (every key). */
export function checkPrefix(text: unknown, what: string): string {
  if (text === "") return "";
  return checkKey(text, what);
}

// ---------------------------------------------------------------------------------------
// Query parameters

export type Query = ReadonlyMap<string, string>;

/**
 * Parses `a=1&b=x` with `+` as space (form encoding, what URLSearchParams writes). Refuses
 * parameters outside `allowed`, repeated ones, and bad percent-encoding, each by name.
 */
/** The query of a URL without one (most requests): one shared empty map, not one each. */
const NO_QUERY: Query = new Map<string, string>();

export function parseQuery(rawUrl: string, allowed: readonly string[]): Query {
  const { query: text } = splitUrl(rawUrl);
  if (text === "") return NO_QUERY;
  const query = new Map<string, string>();
  for (const pair of text.split("&")) {
    if (pair === "") continue;
    const equals = pair.indexOf("=");
    const rawName = equals === -1 ? pair : pair.slice(0, equals);
    const rawValue = equals === -1 ? "" : pair.slice(equals + 1);
    const name = percentDecode(rawName.replace(/\+/g, " "), "query parameter name");
    if (!allowed.includes(name)) throw unknownField(name, "query parameter", allowed);
    if (query.has(name)) throw badInput("invalid_argument", `query parameter ${name} is given more than once`);
    query.set(name, percentDecode(rawValue.replace(/\+/g, " "), `query parameter ${name}`));
  }
  return query;
}

export function unknownField(name: string, kind: string, allowed: readonly string[]): ReturnType<typeof badInput> {
  const known = allowed.length === 0 ? "none are accepted here" : `expected one of ${allowed.join(", ")}`;
  return badInput("unknown_field", `unknown field ${JSON.stringify(truncate(name))}: no such ${kind} (${known})`);
}

/** A non-negative integer written in decimal digits (ifModRevision, lease). */
export function countParam(query: Query, name: string): number | undefined {
  const text = query.get(name);
  if (text === undefined) return undefined;
  return parseCount(text, name);
}

export function parseCount(text: string, what: string): number {
  const value = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) throw badInput("invalid_argument", `${what} must be a non-negative integer, not ${JSON.stringify(truncate(text))}`);
  return value;
}

/**
 * A lease id where one may be given (PUT's `lease`, a txn put's `lease`). Leases do not exist
 * yet: a store that kept the id would promise an expiry that never comes, so any id but 0 (no
 * lease) is refused until they are added.
 */
export function checkNoLease(lease: number | undefined, what: string): void {
  if (lease === undefined || lease === 0) return;
  throw badInput("bad_request", `leases are not available yet: ${what} must be 0 (no lease) or left out, not ${lease}`);
}

/** `limit`: a positive integer; above RANGE_KVS_MAX it is lowered to it (`more` tells the rest). */
export function limitParam(query: Query): number | undefined {
  const text = query.get("limit");
  if (text === undefined) return undefined;
  const limit = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(limit) || limit < 1) throw badInput("invalid_argument", `limit must be a positive integer, not ${JSON.stringify(truncate(text))}`);
  return Math.min(limit, RANGE_KVS_MAX);
}

export function consistencyParam(query: Query): Consistency {
  const text = query.get("consistency") ?? "linearizable";
  if (text !== "linearizable" && text !== "stale") {
    throw badInput("invalid_argument", `consistency must be linearizable or stale, not ${JSON.stringify(truncate(text))}`);
  }
  return text;
}

export function encodingParam(query: Query): ValueEncoding {
  const text = query.get("encoding") ?? "utf8";
  if (text !== "utf8" && text !== "base64") throw badInput("invalid_argument", `encoding must be utf8 or base64, not ${JSON.stringify(truncate(text))}`);
  return text;
}

export function booleanParam(query: Query, name: string): boolean {
  const text = query.get(name);
  if (text === undefined || text === "false") return false;
  if (text === "true") return true;
  throw badInput("invalid_argument", `${name} must be true or false, not ${JSON.stringify(truncate(text))}`);
}

// ---------------------------------------------------------------------------------------
// Headers

/** The Idempotency-Key header, checked; undefined when absent. */
export function idempotencyKeyHeader(headers: Readonly<Record<string, string | string[] | undefined>>): string | undefined {
  const raw = headers["idempotency-key"];
  if (raw === undefined) return undefined;
  if (Array.isArray(raw)) throw badInput("invalid_argument", "the Idempotency-Key header is given more than once");
  if (raw.length === 0) throw badInput("invalid_argument", "the Idempotency-Key header must not be empty");
  const bytes = Buffer.byteLength(raw, "utf8");
  if (bytes > IDEMPOTENCY_KEY_BYTES_MAX) {
    throw badInput("invalid_argument", `the Idempotency-Key header is ${bytes} bytes, more than the ${IDEMPOTENCY_KEY_BYTES_MAX} allowed`);
  }
  return raw;
}

// ---------------------------------------------------------------------------------------
// JSON bodies

/** Parses a JSON body; an absent or empty body is `undefined` when `emptyAllowed`. */
export function parseJsonBody(body: unknown, options: { emptyAllowed: boolean }): unknown {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
  if (bytes.length === 0) {
    if (options.emptyAllowed) return undefined;
    throw badInput("invalid_json", "the request body must be a JSON object, and it is empty");
  }
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw badInput("invalid_json", `the request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** A JSON object holding only `allowed` fields. */
export function expectObject(raw: unknown, what: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw badInput("invalid_argument", `${what} must be a JSON object`);
  for (const field of Object.keys(raw)) {
    if (!allowed.includes(field)) throw unknownField(field, `field in ${what}`, allowed);
  }
  return raw as Record<string, unknown>;
}

export function expectArray(raw: unknown, what: string, lengthMax: number): unknown[] {
  if (!Array.isArray(raw)) throw badInput("invalid_argument", `${what} must be an array`);
  if (raw.length > lengthMax) throw badInput("invalid_argument", `${what} has ${raw.length} items, more than the ${lengthMax} allowed`);
  return raw;
}

export function expectString(raw: unknown, what: string, bytesMax: number): string {
  if (typeof raw !== "string") throw badInput("invalid_argument", `${what} must be a string`);
  if (raw.length === 0) throw badInput("invalid_argument", `${what} must not be empty`);
  const bytes = Buffer.byteLength(raw, "utf8");
  if (bytes > bytesMax) throw badInput("invalid_argument", `${what} is ${bytes} bytes, more than the ${bytesMax} allowed`);
  return raw;
}

export function optionalBoolean(raw: unknown, what: string): boolean | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== "boolean") throw badInput("invalid_argument", `${what} must be true or false`);
  return raw;
}

export function expectCount(raw: unknown, what: string): number {
  if (typeof raw !== "number" || !Number.isSafeInteger(raw) || raw < 0) throw badInput("invalid_argument", `${what} must be a non-negative integer`);
  return raw;
}

/** Long inputs are cut in messages: an error names the problem, it does not echo a megabyte. */
function truncate(text: string): string {
  return text.length <= 64 ? text : `${text.slice(0, 64)}...`;
}
