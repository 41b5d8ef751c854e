/**
 * From the server's JSON to the client's types. The client always asks for base64 values, so
 * bytes come back exact; every field is checked, and a shape that is not api.md's is an
 * `invalid_response` error rather than a value silently wrong.
 */
import { FlotillaError } from "./errors.js";
import type { HttpAnswer } from "./http.js";
import type { KeyValue, Member, Status, TxnOpResult } from "./types.js";

const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

type Json = Record<string, unknown>;

export function object(raw: unknown, what: string): Json {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw shape(`${what} is not a JSON object`);
  return raw as Json;
}

export function number(json: Json, field: string): number {
  const value = json[field];
  if (typeof value !== "number" || !Number.isFinite(value)) throw shape(`field ${field} is not a number`);
  return value;
}

export function string(json: Json, field: string): string {
  const value = json[field];
  if (typeof value !== "string") throw shape(`field ${field} is not a string`);
  return value;
}

export function boolean(json: Json, field: string): boolean {
  const value = json[field];
  if (typeof value !== "boolean") throw shape(`field ${field} is not a boolean`);
  return value;
}

export function array(json: Json, field: string): unknown[] {
  const value = json[field];
  if (!Array.isArray(value)) throw shape(`field ${field} is not an array`);
  return value;
}

export function keyValue(raw: unknown): KeyValue {
  return keyValueWith(raw, {});
}

/** A kv plus fields of the answer around it (GET's revision); `text` stays a lazy getter. */
export function keyValueWith<E extends object>(raw: unknown, extra: E): KeyValue & E {
  const json = object(raw, "a kv");
  const bytes = Buffer.from(string(json, "value"), "base64");
  const value = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kv = {
    key: string(json, "key"),
    value,
    createRevision: number(json, "createRevision"),
    modRevision: number(json, "modRevision"),
    version: number(json, "version"),
    lease: number(json, "lease"),
    ...extra,
  };
  Object.defineProperty(kv, "text", { get: () => utf8.decode(value), enumerable: false });
  return kv as KeyValue & E;
}

export function keyValues(json: Json, field: string): KeyValue[] {
  return array(json, field).map(keyValue);
}

export function member(raw: unknown): Member {
  const json = object(raw, "a member");
  const out: { -readonly [K in keyof Member]: Member[K] } = { id: string(json, "id"), peer: string(json, "peer"), client: string(json, "client"), voter: boolean(json, "voter") };
  if (json.role !== undefined) {
    const role = string(json, "role");
    if (role !== "leader" && role !== "follower" && role !== "learner") throw shape(`member role ${JSON.stringify(role)} is unknown`);
    out.role = role;
  }
  for (const field of ["matchIndex", "lag", "lastContactMs"] as const) {
    if (json[field] !== undefined) out[field] = number(json, field);
  }
  return out;
}

export function members(raw: unknown): Member[] {
  return array(object(raw, "the answer"), "members").map(member);
}

export function status(raw: unknown): Status {
  const json = object(raw, "the status");
  const role = string(json, "role");
  if (role !== "leader" && role !== "follower" && role !== "candidate" && role !== "learner") throw shape(`role ${JSON.stringify(role)} is unknown`);
  const base = {
    id: string(json, "id"),
    role,
    term: number(json, "term"),
    leader: string(json, "leader"),
    commitIndex: number(json, "commitIndex"),
    appliedIndex: number(json, "appliedIndex"),
    members: array(json, "members").map(member),
  } as const;
  return typeof json.clusterId === "string" ? { ...base, clusterId: json.clusterId } : base;
}

export function txnOpResult(raw: unknown): TxnOpResult {
  const json = object(raw, "a txn result");
  if (json.put !== undefined) {
    const put = object(json.put, "a put result");
    return { put: { key: string(put, "key"), modRevision: number(put, "modRevision"), version: number(put, "version") } };
  }
  if (json.get !== undefined) {
    const get = object(json.get, "a get result");
    return { get: { kvs: keyValues(get, "kvs"), more: boolean(get, "more") } };
  }
  if (json.delete !== undefined) return { delete: { deleted: number(object(json.delete, "a delete result"), "deleted") } };
  throw shape("a txn result is neither put, get nor delete");
}

/** An error answer as FlotillaError: the server's code and sentence, plus current/revision. */
export function errorFromAnswer(answer: HttpAnswer): FlotillaError {
  const json = typeof answer.json === "object" && answer.json !== null ? (answer.json as Json) : {};
  const message = typeof json.error === "string" ? json.error : `HTTP ${answer.status} from ${answer.endpoint}: ${answer.text.slice(0, 200)}`;
  const code = typeof json.code === "string" ? json.code : `http_${answer.status}`;
  const details: { current?: KeyValue | null; revision?: number; endpoint: string } = { endpoint: answer.endpoint };
  if (json.current !== undefined) details.current = json.current === null ? null : keyValue(json.current);
  if (typeof json.revision === "number") details.revision = json.revision;
  return new FlotillaError(answer.status, code, message, details);
}

function shape(problem: string): FlotillaError {
  return new FlotillaError(0, "invalid_response", `the server's answer does not match docs/api.md: ${problem}`);
}
