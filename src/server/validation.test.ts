/**
 * Bad input of every kind: each gets its status, a stable code and one clear sentence naming
 * what is wrong; the server keeps serving afterwards and nothing was written.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance, InjectOptions } from "fastify";
import { BODY_BYTES_MAX, KEY_BYTES_MAX, VALUE_BYTES_MAX } from "../util/limits.js";
import { createHttpServer } from "./app.js";
import { MemoryNode } from "./testing/memory-node.js";

let node: MemoryNode;
let app: FastifyInstance;

beforeAll(async () => {
  node = new MemoryNode();
  app = createHttpServer(node, { logger: false });
  await app.inject({ method: "PUT", url: "/v1/kv/existing", payload: "v" });
});

afterAll(async () => {
  await app.close();
  await node.close();
});

interface BadInput {
  readonly name: string;
  readonly request: InjectOptions;
  readonly status: number;
  readonly code: string;
  /** Words the message must contain: it names the field or the problem. */
  readonly mentions: string;
}

const txn = (payload: unknown, query = ""): InjectOptions => ({ method: "POST", url: `/v1/txn${query}`, payload: JSON.stringify(payload) });

const CASES: readonly BadInput[] = [
  { name: "a key one byte over the limit", request: { method: "PUT", url: `/v1/kv/${"k".repeat(KEY_BYTES_MAX + 1)}`, payload: "v" }, status: 413, code: "key_too_large", mentions: "key is 4097 bytes" },
  { name: "a multi-byte key over the limit", request: { url: `/v1/kv/${"%C3%A9".repeat(KEY_BYTES_MAX / 2 + 1)}` }, status: 413, code: "key_too_large", mentions: "key" },
  { name: "a value one byte over the limit", request: { method: "PUT", url: "/v1/kv/big", payload: Buffer.alloc(VALUE_BYTES_MAX + 1) }, status: 413, code: "value_too_large", mentions: "value is 1048577 bytes" },
  { name: "a body over the body limit", request: { method: "PUT", url: "/v1/kv/big", payload: Buffer.alloc(BODY_BYTES_MAX + 1) }, status: 413, code: "body_too_large", mentions: `larger than the ${BODY_BYTES_MAX} bytes` },
  { name: "a huge txn body", request: { method: "POST", url: "/v1/txn", payload: Buffer.alloc(BODY_BYTES_MAX + 10, 0x20) }, status: 413, code: "body_too_large", mentions: `larger than the ${BODY_BYTES_MAX} bytes` },
  { name: "bad percent-encoding in the key", request: { url: "/v1/kv/a%zzb" }, status: 400, code: "invalid_key", mentions: "percent-encoded" },
  { name: "percent-encoding that is not UTF-8", request: { method: "PUT", url: "/v1/kv/%FF%FE", payload: "v" }, status: 400, code: "invalid_key", mentions: "percent-encoded UTF-8" },
  { name: "a truncated percent escape", request: { method: "DELETE", url: "/v1/kv/abc%2" }, status: 400, code: "invalid_key", mentions: "key" },
  { name: "an empty key", request: { url: "/v1/kv/" }, status: 400, code: "invalid_key", mentions: "key must not be empty" },
  { name: "an unknown query parameter", request: { method: "PUT", url: "/v1/kv/a?ifModRevison=1", payload: "v" }, status: 400, code: "unknown_field", mentions: 'unknown field "ifModRevison"' },
  { name: "a query parameter on a route that takes none", request: { url: "/v1/status?verbose=1" }, status: 400, code: "unknown_field", mentions: '"verbose"' },
  { name: "a repeated query parameter", request: { url: "/v1/kv?limit=1&limit=2" }, status: 400, code: "invalid_argument", mentions: "limit is given more than once" },
  { name: "bad percent-encoding in a query value", request: { url: "/v1/kv?prefix=%E0%A4" }, status: 400, code: "invalid_argument", mentions: "prefix" },
  { name: "a negative ifModRevision", request: { method: "PUT", url: "/v1/kv/a?ifModRevision=-1", payload: "v" }, status: 400, code: "invalid_argument", mentions: "ifModRevision must be a non-negative integer" },
  { name: "a fractional ifModRevision", request: { method: "DELETE", url: "/v1/kv/a?ifModRevision=1.5" }, status: 400, code: "invalid_argument", mentions: "ifModRevision" },
  { name: "a non-numeric ifModRevision", request: { method: "PUT", url: "/v1/kv/a?ifModRevision=abc", payload: "v" }, status: 400, code: "invalid_argument", mentions: "ifModRevision" },
  { name: "an empty ifModRevision", request: { method: "PUT", url: "/v1/kv/a?ifModRevision=", payload: "v" }, status: 400, code: "invalid_argument", mentions: "ifModRevision" },
  { name: "an ifModRevision beyond safe integers", request: { method: "PUT", url: "/v1/kv/a?ifModRevision=99999999999999999999", payload: "v" }, status: 400, code: "invalid_argument", mentions: "ifModRevision" },
  { name: "a bad lease", request: { method: "PUT", url: "/v1/kv/a?lease=x", payload: "v" }, status: 400, code: "invalid_argument", mentions: "lease" },
  { name: "a zero limit", request: { url: "/v1/kv?limit=0" }, status: 400, code: "invalid_argument", mentions: "limit must be a positive integer" },
  { name: "a negative limit", request: { url: "/v1/kv?limit=-3" }, status: 400, code: "invalid_argument", mentions: "limit" },
  { name: "a non-numeric limit", request: { url: "/v1/kv?limit=ten" }, status: 400, code: "invalid_argument", mentions: "limit" },
  { name: "an empty after", request: { url: "/v1/kv?after=" }, status: 400, code: "invalid_key", mentions: "after" },
  { name: "an unknown consistency", request: { url: "/v1/kv/a?consistency=strong" }, status: 400, code: "invalid_argument", mentions: "consistency must be linearizable or stale" },
  { name: "an unknown encoding", request: { url: "/v1/kv?encoding=hex" }, status: 400, code: "invalid_argument", mentions: "encoding must be utf8 or base64" },
  { name: "a prefix flag that is not a boolean", request: { method: "DELETE", url: "/v1/kv/a?prefix=yes" }, status: 400, code: "invalid_argument", mentions: "prefix must be true or false" },
  { name: "prefix=true with ifModRevision", request: { method: "DELETE", url: "/v1/kv/a?prefix=true&ifModRevision=1" }, status: 400, code: "invalid_argument", mentions: "ifModRevision cannot be combined" },
  { name: "an empty Idempotency-Key", request: { method: "PUT", url: "/v1/kv/a", payload: "v", headers: { "idempotency-key": "" } }, status: 400, code: "invalid_argument", mentions: "Idempotency-Key" },
  { name: "an oversized Idempotency-Key", request: { method: "PUT", url: "/v1/kv/a", payload: "v", headers: { "idempotency-key": "t".repeat(300) } }, status: 400, code: "invalid_argument", mentions: "Idempotency-Key header is 300 bytes" },
  { name: "malformed JSON in a txn", request: { method: "POST", url: "/v1/txn", payload: '{"compare": [' }, status: 400, code: "invalid_json", mentions: "not valid JSON" },
  { name: "an empty txn body", request: { method: "POST", url: "/v1/txn" }, status: 400, code: "invalid_json", mentions: "empty" },
  { name: "a txn that is an array", request: txn([]), status: 400, code: "invalid_argument", mentions: "the transaction must be a JSON object" },
  { name: "an unknown txn field", request: txn({ compares: [] }), status: 400, code: "unknown_field", mentions: 'unknown field "compares"' },
  { name: "an unknown field in an op", request: txn({ success: [{ put: { key: "a", value: "v", ttl: 5 } }] }), status: 400, code: "unknown_field", mentions: '"ttl"' },
  { name: "compare that is not an array", request: txn({ compare: "x" }), status: 400, code: "invalid_argument", mentions: "compare must be an array" },
  { name: "a compare with an unknown op", request: txn({ compare: [{ key: "a", target: "version", op: ">=", value: 1 }] }), status: 400, code: "invalid_argument", mentions: "compare[0].op" },
  { name: "a compare with an unknown target", request: txn({ compare: [{ key: "a", target: "size", op: "==", value: 1 }] }), status: 400, code: "invalid_argument", mentions: "compare[0].target" },
  { name: "a compare version that is a string", request: txn({ compare: [{ key: "a", target: "version", op: "==", value: "1" }] }), status: 400, code: "invalid_argument", mentions: "compare[0].value must be a non-negative integer" },
  { name: "a put value that is a number", request: txn({ success: [{ put: { key: "a", value: 5 } }] }), status: 400, code: "invalid_argument", mentions: "success[0].put.value must be a string" },
  { name: "an op with two kinds", request: txn({ failure: [{ put: { key: "a", value: "v" }, get: { key: "a" } }] }), status: 400, code: "invalid_argument", mentions: "failure[0] must hold exactly one" },
  { name: "a get with both key and prefix", request: txn({ success: [{ get: { key: "a", prefix: "a" } }] }), status: 400, code: "invalid_argument", mentions: "success[0].get" },
  { name: "invalid base64 in a txn value", request: txn({ success: [{ put: { key: "a", value: "not base64!" } }] }, "?encoding=base64"), status: 400, code: "invalid_argument", mentions: "not valid base64" },
  { name: "a lone surrogate in a txn key", request: txn({ success: [{ put: { key: "\ud800", value: "v" } }] }), status: 400, code: "invalid_key", mentions: "lone surrogate" },
  { name: "a txn key over the limit", request: txn({ success: [{ get: { key: "k".repeat(KEY_BYTES_MAX + 1) } }] }), status: 413, code: "key_too_large", mentions: "success[0].get.key" },
  { name: "a txn value over the limit", request: txn({ success: [{ put: { key: "a", value: Buffer.alloc(VALUE_BYTES_MAX + 1).toString("base64") } }] }, "?encoding=base64"), status: 413, code: "value_too_large", mentions: "success[0].put.value" },
  { name: "a txn branch writing a key twice", request: txn({ success: [{ put: { key: "a", value: "1" } }, { put: { key: "a", value: "2" } }] }), status: 400, code: "invalid_argument", mentions: 'puts key "a" twice' },
  { name: "a txn deleting everything by empty prefix", request: txn({ success: [{ delete: { prefix: "" } }] }), status: 400, code: "invalid_argument", mentions: "prefix must not be empty" },
  { name: "a member without a peer", request: { method: "POST", url: "/v1/members", payload: { id: "n9" } }, status: 400, code: "invalid_argument", mentions: "peer must be a string" },
  { name: "a member with a bad peer address", request: { method: "POST", url: "/v1/members", payload: { id: "n9", peer: "nohost" } }, status: 400, code: "invalid_argument", mentions: "peer must be HOST:PORT" },
  { name: "a member with an unknown field", request: { method: "POST", url: "/v1/members", payload: { id: "n9", peer: "h:1", voter: true } }, status: 400, code: "unknown_field", mentions: '"voter"' },
  { name: "a member whose learner flag is a string", request: { method: "POST", url: "/v1/members", payload: { id: "n9", peer: "h:1", learner: "yes" } }, status: 400, code: "invalid_argument", mentions: "learner must be true or false" },
  { name: "a transfer target that is a number", request: { method: "POST", url: "/v1/leader/transfer", payload: { to: 2 } }, status: 400, code: "invalid_argument", mentions: "to must be a string" },
  { name: "an unknown route", request: { url: "/v2/kv/a" }, status: 404, code: "route_not_found", mentions: "no route GET /v2/kv/a" },
  { name: "a method the route does not have", request: { method: "PATCH", url: "/v1/kv/a" }, status: 404, code: "route_not_found", mentions: "PATCH" },
  { name: "an unknown member sub-route", request: { method: "POST", url: "/v1/members/n1/demote" }, status: 404, code: "route_not_found", mentions: "promote" },
];

describe("bad input", () => {
  for (const bad of CASES) {
    it(`${bad.name} → ${bad.status} ${bad.code}`, async () => {
      const response = await app.inject(bad.request);
      expect(response.statusCode).toBe(bad.status);
      expect(response.headers["content-type"]).toMatch(/^application\/json/);
      const body = response.json() as { error: string; code: string };
      expect(Object.keys(body).sort()).toEqual(["code", "error"]);
      expect(body.code).toBe(bad.code);
      expect(body.error).toContain(bad.mentions);
      expect(body.error).not.toMatch(/\n|at .*\.ts:\d+/);
      expect(body.error.length).toBeLessThan(400);
    });
  }

  it("leaves the server serving and the data untouched", async () => {
    expect((await app.inject({ url: "/healthz" })).statusCode).toBe(200);
    const range = (await app.inject({ url: "/v1/kv" })).json();
    expect(range.kvs.map((kv: { key: string }) => kv.key)).toEqual(["existing"]);
    expect(range.revision).toBe(1);
    expect((await app.inject({ method: "PUT", url: "/v1/kv/after", payload: "ok" })).statusCode).toBe(200);
  });

  it("accepts a key of exactly the maximum size", async () => {
    const key = "k".repeat(KEY_BYTES_MAX);
    expect((await app.inject({ method: "PUT", url: `/v1/kv/${key}`, payload: "v" })).statusCode).toBe(200);
    expect((await app.inject({ url: `/v1/kv/${key}` })).json().key).toBe(key);
  });

  it("accepts a value of exactly the maximum size", async () => {
    const value = Buffer.alloc(VALUE_BYTES_MAX, 0x61);
    expect((await app.inject({ method: "PUT", url: "/v1/kv/max", payload: value })).statusCode).toBe(200);
    expect((await app.inject({ url: "/v1/kv/max" })).json().value).toHaveLength(VALUE_BYTES_MAX);
  });
});
