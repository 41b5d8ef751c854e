/** Every route of api.md, in-process (app.inject), against the in-memory node: exact response shapes. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { NodeError } from "../node/api.js";
import { createHttpServer } from "./app.js";
import { MemoryNode } from "./testing/memory-node.js";

let node: MemoryNode;
let app: FastifyInstance;

beforeEach(() => {
  node = new MemoryNode({ id: "n1", clientUrl: "http://127.0.0.1:7379" });
  app = createHttpServer(node, { logger: false });
});

afterEach(async () => {
  await app.close();
  await node.close();
});

async function put(key: string, value: string | Buffer, query = "", headers: Record<string, string> = {}) {
  return app.inject({ method: "PUT", url: `/v1/kv/${key}${query}`, payload: value, headers });
}

describe("PUT /v1/kv/{key}", () => {
  it("stores the body and answers revision, key, modRevision, version", async () => {
    const first = await put("greeting", "hello");
    expect(first.statusCode).toBe(200);
    expect(first.headers["content-type"]).toMatch(/^application\/json/);
    expect(first.json()).toEqual({ revision: 1, key: "greeting", modRevision: 1, version: 1 });
    const second = await put("greeting", "hello again");
    expect(second.json()).toEqual({ revision: 2, key: "greeting", modRevision: 2, version: 2 });
  });

  it("takes the body as bytes whatever its content type, empty included", async () => {
    expect((await put("a", "{not json", "", { "content-type": "application/json" })).statusCode).toBe(200);
    expect((await put("b", "x=1", "", { "content-type": "application/x-www-form-urlencoded" })).statusCode).toBe(200);
    expect((await put("c", "", "")).statusCode).toBe(200);
    expect((await app.inject({ method: "GET", url: "/v1/kv/a" })).json().value).toBe("{not json");
    expect((await app.inject({ method: "GET", url: "/v1/kv/c" })).json().value).toBe("");
  });

  it("writes only when ifModRevision matches; 0 means only if absent", async () => {
    expect((await put("k", "v1", "?ifModRevision=0")).statusCode).toBe(200);
    const refused = await put("k", "v2", "?ifModRevision=0");
    expect(refused.statusCode).toBe(412);
    expect(refused.json()).toEqual({
      error: expect.stringContaining("modRevision 1"),
      code: "precondition_failed",
      current: { key: "k", value: "v1", createRevision: 1, modRevision: 1, version: 1, lease: 0 },
      revision: 1,
    });
    expect((await put("k", "v2", "?ifModRevision=1")).json()).toEqual({ revision: 2, key: "k", modRevision: 2, version: 2 });
  });

  it("answers 412 with current null when the key is absent", async () => {
    const refused = await put("missing", "v", "?ifModRevision=3");
    expect(refused.statusCode).toBe(412);
    expect(refused.json()).toMatchObject({ code: "precondition_failed", current: null });
    expect(refused.json().error).toMatch(/does not exist/);
  });

  it("refuses a lease id while leases do not exist (400 bad_request, nothing written); lease=0 is no lease", async () => {
    const refused = await put("leased", "v", "?lease=5");
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toEqual({ error: "leases are not available yet: lease must be 0 (no lease) or left out, not 5", code: "bad_request" });
    expect((await app.inject({ url: "/v1/kv/leased" })).statusCode).toBe(404);
    expect((await put("leased", "v", "?lease=0")).statusCode).toBe(200);
    expect((await app.inject({ url: "/v1/kv/leased" })).json().lease).toBe(0);
  });

  it("returns the first result for a retry with the same Idempotency-Key, applying nothing twice", async () => {
    const first = await put("once", "v", "", { "idempotency-key": "token-1" });
    const retry = await put("once", "v", "", { "idempotency-key": "token-1" });
    expect(retry.statusCode).toBe(200);
    expect(retry.json()).toEqual(first.json());
    expect((await app.inject({ url: "/v1/kv/once" })).json()).toMatchObject({ version: 1, modRevision: 1, revision: 1 });
    const other = await put("once", "v", "", { "idempotency-key": "token-2" });
    expect(other.json()).toMatchObject({ version: 2 });
  });

  it("answers 422 idempotency_key_reused, applying nothing, when a key comes back with a different request", async () => {
    const first = await put("account/a", "100", "", { "idempotency-key": "pay-1" });
    for (const reused of [
      await put("account/b", "100", "", { "idempotency-key": "pay-1" }),
      await put("account/a", "999", "", { "idempotency-key": "pay-1" }),
      await app.inject({ method: "DELETE", url: "/v1/kv/account/a", headers: { "idempotency-key": "pay-1" } }),
    ]) {
      expect(reused.statusCode).toBe(422);
      expect(reused.json()).toMatchObject({ code: "idempotency_key_reused", revision: 1 });
      expect(reused.json().error).toMatch(/already used, for a different request .* nothing was applied/);
    }
    expect((await app.inject({ url: "/v1/kv/account/b" })).statusCode).toBe(404);
    expect((await app.inject({ url: "/v1/kv/account/a" })).json()).toMatchObject({ value: "100", version: 1 });
    // The retry of the first request still gets its own answer.
    expect((await put("account/a", "100", "", { "idempotency-key": "pay-1" })).json()).toEqual(first.json());
  });
});

describe("GET /v1/kv/{key}", () => {
  it("answers the kv and the store's revision", async () => {
    await put("a", "1");
    await put("b", "2");
    const response = await app.inject({ url: "/v1/kv/a" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ key: "a", value: "1", createRevision: 1, modRevision: 1, version: 1, lease: 0, revision: 2 });
  });

  it("answers 404 with error, code and revision for a missing key", async () => {
    await put("a", "1");
    const response = await app.inject({ url: "/v1/kv/nope" });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: 'key "nope" not found', code: "not_found", revision: 1 });
  });

  it("serves stale reads locally", async () => {
    await put("a", "1");
    expect((await app.inject({ url: "/v1/kv/a?consistency=stale" })).json().value).toBe("1");
    expect((await app.inject({ url: "/v1/kv/a?consistency=linearizable" })).json().value).toBe("1");
  });

  it("takes the key from the raw path, percent-decoded once, slashes and all", async () => {
    await put("dir%2Fsub/file%20name%25", "x");
    expect((await app.inject({ url: "/v1/kv/dir/sub/file%20name%25" })).json().key).toBe("dir/sub/file name%");
    await put("%C3%A9t%C3%A9", "summer");
    expect((await app.inject({ url: "/v1/kv/%C3%A9t%C3%A9" })).json()).toMatchObject({ key: "été", value: "summer" });
  });
});

describe("values", () => {
  const binary = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x80]);

  it("round-trips bytes with encoding=base64", async () => {
    await put("bin", binary);
    const response = await app.inject({ url: "/v1/kv/bin?encoding=base64" });
    expect(response.json().value).toBe(binary.toString("base64"));
    expect(response.json().encoding).toBeUndefined();
    expect(Buffer.from(response.json().value, "base64")).toEqual(binary);
  });

  it("sends a non-UTF-8 value as base64, marked, when base64 was not asked for", async () => {
    await put("bin", binary);
    const response = await app.inject({ url: "/v1/kv/bin" });
    expect(response.json()).toMatchObject({ value: binary.toString("base64"), encoding: "base64" });
  });

  it("keeps UTF-8 exactly, a leading byte-order mark included", async () => {
    const text = "\uFEFFzażółć 🚀";
    await put("t", Buffer.from(text, "utf8"));
    const response = await app.inject({ url: "/v1/kv/t" });
    expect(response.json().value).toBe(text);
    expect(response.json().encoding).toBeUndefined();
  });
});

describe("DELETE /v1/kv/{key}", () => {
  it("deletes one key and answers revision and deleted", async () => {
    await put("a", "1");
    const response = await app.inject({ method: "DELETE", url: "/v1/kv/a" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ revision: 2, deleted: 1 });
    expect((await app.inject({ url: "/v1/kv/a" })).statusCode).toBe(404);
    expect((await app.inject({ method: "DELETE", url: "/v1/kv/a" })).json()).toEqual({ revision: 2, deleted: 0 });
  });

  it("deletes every key with a prefix when prefix=true", async () => {
    for (const key of ["app/a", "app/b", "apple", "other"]) await put(key, "x");
    const response = await app.inject({ method: "DELETE", url: "/v1/kv/app/?prefix=true" });
    expect(response.json()).toEqual({ revision: 5, deleted: 2 });
    const left = (await app.inject({ url: "/v1/kv" })).json().kvs.map((kv: { key: string }) => kv.key);
    expect(left).toEqual(["apple", "other"]);
  });

  it("honours ifModRevision with a 412 carrying the current kv", async () => {
    await put("a", "1");
    const refused = await app.inject({ method: "DELETE", url: "/v1/kv/a?ifModRevision=7" });
    expect(refused.statusCode).toBe(412);
    expect(refused.json()).toMatchObject({ code: "precondition_failed", current: { key: "a", value: "1", modRevision: 1 } });
    expect((await app.inject({ method: "DELETE", url: "/v1/kv/a?ifModRevision=1" })).json()).toEqual({ revision: 2, deleted: 1 });
  });
});

describe("GET /v1/kv (range)", () => {
  beforeEach(async () => {
    for (const key of ["a/1", "a/2", "a/3", "b/1"]) await put(key, key.toUpperCase());
  });

  it("lists keys with a prefix in key order", async () => {
    const response = await app.inject({ url: "/v1/kv?prefix=a%2F" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      revision: 4,
      kvs: [
        { key: "a/1", value: "A/1", createRevision: 1, modRevision: 1, version: 1, lease: 0 },
        { key: "a/2", value: "A/2", createRevision: 2, modRevision: 2, version: 1, lease: 0 },
        { key: "a/3", value: "A/3", createRevision: 3, modRevision: 3, version: 1, lease: 0 },
      ],
      more: false,
    });
  });

  it("pages with limit and after", async () => {
    const page1 = (await app.inject({ url: "/v1/kv?limit=2" })).json();
    expect(page1.kvs.map((kv: { key: string }) => kv.key)).toEqual(["a/1", "a/2"]);
    expect(page1.more).toBe(true);
    const page2 = (await app.inject({ url: "/v1/kv?limit=2&after=a%2F2" })).json();
    expect(page2.kvs.map((kv: { key: string }) => kv.key)).toEqual(["a/3", "b/1"]);
    expect(page2.more).toBe(false);
  });

  it("lowers a limit above the maximum instead of refusing it", async () => {
    expect((await app.inject({ url: "/v1/kv?limit=99999999" })).json().kvs).toHaveLength(4);
  });

  it("answers an empty list for a prefix nothing has", async () => {
    expect((await app.inject({ url: "/v1/kv?prefix=zzz&consistency=stale" })).json()).toEqual({ revision: 4, kvs: [], more: false });
  });
});

describe("POST /v1/txn", () => {
  it("runs the success branch when every compare holds", async () => {
    await put("x", "1");
    const body = {
      compare: [{ key: "x", target: "value", op: "==", value: "1" }],
      success: [{ put: { key: "y", value: "2" } }, { get: { key: "x" } }, { delete: { prefix: "nothing/" } }],
      failure: [{ put: { key: "z", value: "no" } }],
    };
    const response = await app.inject({ method: "POST", url: "/v1/txn", payload: body });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      succeeded: true,
      revision: 2,
      results: [
        { put: { key: "y", modRevision: 2, version: 1 } },
        { get: { kvs: [{ key: "x", value: "1", createRevision: 1, modRevision: 1, version: 1, lease: 0 }], more: false } },
        { delete: { deleted: 0 } },
      ],
    });
  });

  it("runs the failure branch otherwise", async () => {
    const body = { compare: [{ key: "x", target: "version", op: ">", value: 0 }], success: [{ put: { key: "y", value: "2" } }], failure: [{ put: { key: "z", value: "3" } }] };
    const response = await app.inject({ method: "POST", url: "/v1/txn", payload: body });
    expect(response.json()).toEqual({ succeeded: false, revision: 1, results: [{ put: { key: "z", modRevision: 1, version: 1 } }] });
  });

  it("carries values as base64 both ways with encoding=base64", async () => {
    const bytes = Buffer.from([0xff, 0x00, 0x41]);
    const body = { success: [{ put: { key: "b", value: bytes.toString("base64") } }, { get: { prefix: "" } }] };
    const response = await app.inject({ method: "POST", url: "/v1/txn?encoding=base64", payload: body });
    expect(response.json().results[1].get.kvs[0].value).toBe(bytes.toString("base64"));
    expect((await app.inject({ url: "/v1/kv/b?encoding=base64" })).json().value).toBe(bytes.toString("base64"));
  });

  it("refuses a put with a lease while leases do not exist, naming it; lease 0 is no lease", async () => {
    const body = { success: [{ put: { key: "a", value: "1", lease: 0 } }], failure: [{ put: { key: "b", value: "2", lease: 7 } }] };
    const refused = await app.inject({ method: "POST", url: "/v1/txn", payload: body });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toEqual({ error: "leases are not available yet: failure[0].put.lease must be 0 (no lease) or left out, not 7", code: "bad_request" });
    expect((await app.inject({ url: "/v1/kv/a" })).statusCode).toBe(404);
    body.failure = [];
    expect((await app.inject({ method: "POST", url: "/v1/txn", payload: body })).json()).toMatchObject({ succeeded: true, results: [{ put: { key: "a", version: 1 } }] });
  });

  it("accepts an empty transaction", async () => {
    const response = await app.inject({ method: "POST", url: "/v1/txn", payload: {} });
    expect(response.json()).toEqual({ succeeded: true, revision: 0, results: [] });
  });
});

describe("cluster routes", () => {
  it("GET /v1/status answers this node's view", async () => {
    await put("a", "1");
    const response = await app.inject({ url: "/v1/status" });
    expect(response.json()).toEqual({
      id: "n1",
      role: "leader",
      term: 1,
      leader: "n1",
      commitIndex: 1,
      appliedIndex: 1,
      members: [{ id: "n1", peer: "127.0.0.1:0", client: "http://127.0.0.1:7379", voter: true, role: "leader" }],
      clusterId: "memory-cluster",
    });
  });

  it("adds, lists, promotes and removes members", async () => {
    const added = await app.inject({ method: "POST", url: "/v1/members", payload: { id: "n2", peer: "127.0.0.1:7382", client: "127.0.0.1:7381", learner: true } });
    expect(added.statusCode).toBe(200);
    expect(added.json().members).toContainEqual({ id: "n2", peer: "127.0.0.1:7382", client: "http://127.0.0.1:7381", voter: false, role: "learner" });
    expect((await app.inject({ url: "/v1/members" })).json().members).toHaveLength(2);
    const promoted = await app.inject({ method: "POST", url: "/v1/members/n2/promote" });
    expect(promoted.json().members).toContainEqual({ id: "n2", peer: "127.0.0.1:7382", client: "http://127.0.0.1:7381", voter: true, role: "follower" });
    const removed = await app.inject({ method: "DELETE", url: "/v1/members/n2" });
    expect(removed.json()).toEqual({ members: [{ id: "n1", peer: "127.0.0.1:0", client: "http://127.0.0.1:7379", voter: true, role: "leader" }] });
  });

  it("answers 409 for a refused membership change and 404 for an unknown member", async () => {
    const conflict = await app.inject({ method: "POST", url: "/v1/members", payload: { id: "n1", peer: "127.0.0.1:1" } });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toEqual({ error: "n1 is already a member", code: "conflict" });
    const missing = await app.inject({ method: "DELETE", url: "/v1/members/ghost" });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe("not_found");
  });

  it("with a join token, adding a member needs it: 403 forbidden without or with a wrong one", async () => {
    const guarded = createHttpServer(node, { logger: false, joinToken: "s3cret" });
    try {
      const member = { id: "n2", peer: "127.0.0.1:7382", learner: true };
      const missing = await guarded.inject({ method: "POST", url: "/v1/members", payload: member });
      expect(missing.statusCode).toBe(403);
      expect(missing.json()).toMatchObject({ code: "forbidden", error: expect.stringContaining("x-flotilla-join-token") });
      const wrong = await guarded.inject({ method: "POST", url: "/v1/members", payload: member, headers: { "x-flotilla-join-token": "guess" } });
      expect(wrong.statusCode).toBe(403);
      expect(node.members().map((m) => m.id)).toEqual(["n1"]);
      const right = await guarded.inject({ method: "POST", url: "/v1/members", payload: member, headers: { "x-flotilla-join-token": "s3cret" } });
      expect(right.statusCode).toBe(200);
      expect(node.members().map((m) => m.id)).toEqual(["n1", "n2"]);
      // Reads and the other routes do not need it.
      expect((await guarded.inject({ url: "/v1/members" })).statusCode).toBe(200);
    } finally {
      await guarded.close();
    }
  });

  it("POST /v1/leader/transfer answers the leader, with or without a body", async () => {
    expect((await app.inject({ method: "POST", url: "/v1/leader/transfer" })).json()).toEqual({ leader: "n1" });
    expect((await app.inject({ method: "POST", url: "/v1/leader/transfer", payload: { to: "n1" } })).json()).toEqual({ leader: "n1" });
  });

  it("GET /healthz and /readyz", async () => {
    expect((await app.inject({ url: "/healthz" })).statusCode).toBe(200);
    expect((await app.inject({ url: "/readyz" })).json()).toEqual({ status: "ready", id: "n1" });
  });

  it("GET /readyz answers 503 with Retry-After when the node is not ready", async () => {
    const notReady = Object.assign(Object.create(node) as MemoryNode, { isReady: () => false });
    const other = createHttpServer(notReady, { logger: false });
    const response = await other.inject({ url: "/readyz" });
    expect(response.statusCode).toBe(503);
    expect(response.headers["retry-after"]).toBe("1");
    expect(response.json().code).toBe("not_ready");
    await other.close();
  });

  it("GET /metrics serves Prometheus text with the node's and the HTTP metrics", async () => {
    await put("a", "1");
    await app.inject({ url: "/v1/kv/missing" });
    const response = await app.inject({ url: "/metrics" });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^text\/plain/);
    expect(response.body).toContain("flotilla_memory_applied_index 1");
    expect(response.body).toMatch(/flotilla_http_requests_total\{method="PUT",route="\/v1\/kv\/\*",status="200"\} 1/);
    expect(response.body).toMatch(/flotilla_http_requests_total\{method="GET",route="\/v1\/kv\/\*",status="404"\} 1/);
    expect(response.body).toContain("flotilla_http_request_duration_seconds_bucket");
  });
});

describe("node errors", () => {
  const cases: { error: NodeError; status: number; code: string; retryAfter: boolean }[] = [
    { error: new NodeError("no_leader", "no leader is known"), status: 503, code: "no_leader", retryAfter: true },
    { error: new NodeError("overloaded", "the proposal queue is full"), status: 503, code: "overloaded", retryAfter: true },
    { error: new NodeError("shutting_down", "the node is stopping"), status: 503, code: "shutting_down", retryAfter: true },
    { error: new NodeError("unknown_outcome", "the deadline passed"), status: 504, code: "unknown_outcome", retryAfter: false },
  ];
  for (const { error, status, code, retryAfter } of cases) {
    it(`maps ${error.code} to ${status}`, async () => {
      node.failNext("write", error);
      const response = await put("a", "1");
      expect(response.statusCode).toBe(status);
      expect(response.json()).toEqual({ error: error.message, code });
      expect(response.headers["retry-after"] !== undefined).toBe(retryAfter);
    });
  }

  it("answers an unexpected exception with a 500 that leaks nothing, and keeps serving", async () => {
    const broken = Object.assign(Object.create(node) as MemoryNode, {
      get: async () => {
        throw new TypeError("secret internal detail at /some/file.ts:12");
      },
    });
    const other = createHttpServer(broken, { logger: false });
    const response = await other.inject({ url: "/v1/kv/a" });
    expect(response.statusCode).toBe(500);
    expect(response.json().code).toBe("internal");
    expect(response.body).not.toContain("secret");
    expect((await other.inject({ url: "/healthz" })).statusCode).toBe(200);
    await other.close();
  });
});
