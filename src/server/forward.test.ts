/**
 * Forwarding: a follower relays what it cannot serve to the leader's real HTTP server, exactly
 * (method, path, query, Idempotency-Key, body bytes), and relays the answer; a request that was
 * already forwarded once is never forwarded again.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { createHttpServer } from "./app.js";
import { FORWARDED_HEADER, FORWARDED_TO_HEADER } from "./forward.js";
import { startServer, type ServingServer } from "./listen.js";
import { MemoryNode } from "./testing/memory-node.js";

let leaderNode: MemoryNode;
let leader: ServingServer;
let followerNode: MemoryNode;
let follower: FastifyInstance;

beforeAll(async () => {
  leaderNode = new MemoryNode({ id: "n1" });
  leader = await startServer(leaderNode, "127.0.0.1:0", { logger: false });
  followerNode = new MemoryNode({ id: "n2", follower: { leaderId: "n1", leaderClientUrl: leader.url } });
  follower = createHttpServer(followerNode, { logger: false });
});

afterAll(async () => {
  await follower.close();
  await leader.close();
  await Promise.all([leaderNode.close(), followerNode.close()]);
});

describe("a follower forwards to the leader", () => {
  it("relays a write and its answer; the value lands on the leader", async () => {
    const bytes = Buffer.from([0x00, 0xff, 0x10, 0x80]);
    const response = await follower.inject({ method: "PUT", url: "/v1/kv/dir%2Fa%20b?ifModRevision=0", payload: bytes, headers: { "content-type": "image/png" } });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ revision: 1, key: "dir/a b", modRevision: 1, version: 1 });
    expect(response.headers[FORWARDED_TO_HEADER]).toBe(leader.url);
    const stored = await leaderNode.get("dir/a b");
    expect(Buffer.from(stored.kv!.value)).toEqual(bytes);
    expect((await followerNode.get("dir/a b", { consistency: "stale" })).kv).toBeNull();
  });

  it("carries the Idempotency-Key, so a retry through the follower applies nothing twice", async () => {
    const headers = { "idempotency-key": "forwarded-once" };
    const first = await follower.inject({ method: "PUT", url: "/v1/kv/idem", payload: "v", headers });
    const retry = await follower.inject({ method: "PUT", url: "/v1/kv/idem", payload: "v", headers });
    expect(retry.json()).toEqual(first.json());
    expect((await leaderNode.get("idem")).kv!.version).toBe(1);
  });

  it("relays error answers with their shape (404 with revision, 412 with current)", async () => {
    const missing = await follower.inject({ url: "/v1/kv/nothing-here" });
    expect(missing.statusCode).toBe(404);
    const { revision } = await leaderNode.get("nothing-here");
    expect(missing.json()).toEqual({ error: 'key "nothing-here" not found', code: "not_found", revision });
    await leaderNode.write({ type: "put", payload: { key: "cas", value: Buffer.from("1") } });
    const refused = await follower.inject({ method: "PUT", url: "/v1/kv/cas?ifModRevision=0", payload: "2" });
    expect(refused.statusCode).toBe(412);
    expect(refused.json()).toMatchObject({ code: "precondition_failed", current: { key: "cas", value: "1" } });
  });

  it("relays a txn with its JSON body and query", async () => {
    const body = { success: [{ put: { key: "t", value: Buffer.from("hi").toString("base64") } }, { get: { key: "t" } }] };
    const response = await follower.inject({ method: "POST", url: "/v1/txn?encoding=base64", payload: body });
    expect(response.statusCode).toBe(200);
    expect(response.json().results[1].get.kvs[0].value).toBe(Buffer.from("hi").toString("base64"));
  });

  it("serves stale reads itself, without forwarding", async () => {
    const response = await follower.inject({ url: "/v1/kv/t?consistency=stale" });
    expect(response.statusCode).toBe(404);
    expect(response.headers[FORWARDED_TO_HEADER]).toBeUndefined();
  });

  it("answers GET /v1/members with the leader's view", async () => {
    const response = await follower.inject({ url: "/v1/members" });
    expect(response.statusCode).toBe(200);
    expect(response.headers[FORWARDED_TO_HEADER]).toBe(leader.url);
    expect(response.json().members.map((m: { id: string }) => m.id)).toEqual(leaderNode.members().map((m) => m.id));
    const local = await follower.inject({ url: "/v1/members", headers: { [FORWARDED_HEADER]: "1" } });
    expect(local.json().members).toContainEqual({ id: "n1", peer: "127.0.0.1:0", client: leader.url, voter: true, role: "leader" });
    expect(local.headers[FORWARDED_TO_HEADER]).toBeUndefined();
  });

  it("relays membership changes", async () => {
    const response = await follower.inject({ method: "POST", url: "/v1/members", payload: { id: "n3", peer: "127.0.0.1:7384" } });
    expect(response.statusCode).toBe(200);
    expect(leaderNode.members().map((m) => m.id)).toEqual(["n1", "n3"]);
  });
});

describe("loop prevention and failures", () => {
  it("never forwards a request that was already forwarded twice; once is passed on (a leader that just handed over)", async () => {
    const before = leaderNode.writeCalls;
    for (const hops of ["2", "not-a-number"]) {
      const response = await follower.inject({ method: "PUT", url: "/v1/kv/loop", payload: "v", headers: { [FORWARDED_HEADER]: hops } });
      expect(response.statusCode).toBe(503);
      expect(response.headers["retry-after"]).toBe("1");
      expect(response.json()).toMatchObject({ code: "no_leader" });
      expect(response.json().error).toMatch(/already forwarded/);
    }
    expect(leaderNode.writeCalls).toBe(before);
    const passedOn = await follower.inject({ method: "PUT", url: "/v1/kv/loop", payload: "v", headers: { [FORWARDED_HEADER]: "1" } });
    expect(passedOn.statusCode).toBe(200);
    expect(leaderNode.writeCalls).toBe(before + 1);
  });

  it("stops after two hops when two nodes each think the other leads", async () => {
    const nodeA = new MemoryNode({ id: "a", follower: { leaderId: "b", leaderClientUrl: "http://127.0.0.1:1" } });
    const serverA = await startServer(nodeA, "127.0.0.1:0", { logger: false });
    const nodeB = new MemoryNode({ id: "b", follower: { leaderId: "a", leaderClientUrl: serverA.url } });
    const serverB = await startServer(nodeB, "127.0.0.1:0", { logger: false });
    const appA = createHttpServer(new MemoryNode({ id: "a2", follower: { leaderId: "b", leaderClientUrl: serverB.url } }), { logger: false });
    try {
      const response = await appA.inject({ method: "PUT", url: "/v1/kv/ping-pong", payload: "v" });
      expect(response.statusCode).toBe(503);
      expect(response.json().code).toBe("no_leader");
      expect(response.headers["retry-after"]).toBe("1");
      expect(response.headers[FORWARDED_TO_HEADER]).toBe(serverB.url);
    } finally {
      await appA.close();
      await serverB.close();
      await serverA.close();
      await Promise.all([nodeA.close(), nodeB.close()]);
    }
  });

  it("answers 503 no_leader when the leader cannot be reached", async () => {
    const port = await closedPort();
    const lonely = createHttpServer(new MemoryNode({ id: "x", follower: { leaderId: "gone", leaderClientUrl: `http://127.0.0.1:${port}` } }), { logger: false });
    const response = await lonely.inject({ method: "PUT", url: "/v1/kv/a", payload: "v" });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ code: "no_leader" });
    expect(response.json().error).toContain(`127.0.0.1:${port}`);
    await lonely.close();
  });

  it("answers 503 not_leader, naming the leader, when forwarding is off", async () => {
    const direct = createHttpServer(new MemoryNode({ id: "y", follower: { leaderId: "n1", leaderClientUrl: leader.url } }), { logger: false, forward: false });
    const response = await direct.inject({ method: "PUT", url: "/v1/kv/a", payload: "v" });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ error: "this node follows n1", code: "not_leader", leader: leader.url });
    await direct.close();
  });
});

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
