/**
 * The client against the real HTTP server (in-process, on 127.0.0.1:0) over the in-memory node:
 * round trips, typed errors, failover, and retries that never apply a write twice.
 */
// The typed client exercised against the real HTTP server (in-process, on loopback). It lives
// with the CLI, the layer where client and server meet; src/client itself imports nothing
// from the server side (design.md).
import net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { NodeError, type WriteOptions } from "../node/api.js";
import type { CommandBody, CommandResult } from "../kv/index.js";
import { startServer, type ServingServer } from "../server/listen.js";
import { MemoryNode } from "../server/testing/memory-node.js";
import { Client, FlotillaError, endpointUrl, parseEndpointList } from "../client/index.js";

/** Applies a write, then loses the answer (504) the first `lose` times: the retry must not apply it again. */
class LossyNode extends MemoryNode {
  lose = 0;
  readonly keysSeen: (string | undefined)[] = [];

  override async write(command: CommandBody, options: WriteOptions = {}): Promise<CommandResult> {
    this.keysSeen.push(options.idempotencyKey);
    const result = await super.write(command, options);
    if (this.lose > 0) {
      this.lose--;
      throw new NodeError("unknown_outcome", "the answer was lost");
    }
    return result;
  }
}

let node: LossyNode;
let server: ServingServer;
let client: Client;
let deadPort: number;
let hanging: HangingServer;

beforeAll(async () => {
  node = new LossyNode({ id: "n1" });
  server = await startServer(node, "127.0.0.1:0", { logger: false });
  client = new Client({ endpoints: [server.url], retryAfterMsMax: 20 });
  deadPort = await closedPort();
  hanging = await hangingServer();
});

afterAll(async () => {
  await hanging.close();
  await server.close();
  await node.close();
});

afterEach(() => {
  node.lose = 0;
});

describe("round trips", () => {
  it("puts and gets strings and bytes", async () => {
    const put = await client.put("greeting", "héllo");
    expect(put).toEqual({ revision: put.revision, key: "greeting", modRevision: put.revision, version: 1 });
    const kv = await client.get("greeting");
    expect(kv.text).toBe("héllo");
    expect(Buffer.from(kv.value).toString("utf8")).toBe("héllo");
    expect(kv).toMatchObject({ key: "greeting", version: 1, lease: 0, modRevision: put.revision, revision: put.revision });
    expect(Object.keys(kv).sort()).toEqual(["createRevision", "key", "lease", "modRevision", "revision", "value", "version"]);

    const bytes = new Uint8Array([0, 255, 128, 10]);
    await client.put("bin", bytes, { lease: 0 });
    const stored = await client.get("bin", { consistency: "stale" });
    expect(stored.value).toEqual(bytes);
    expect(stored.lease).toBe(0);
    // Leases do not exist yet: a lease id is refused, not stored with an expiry that never comes.
    const refused = (await client.put("bin", "other", { lease: 9 }).catch((e: unknown) => e)) as FlotillaError;
    expect(refused).toMatchObject({ status: 400, code: "bad_request", message: expect.stringContaining("leases are not available yet") });
    expect((await client.get("bin")).value).toEqual(bytes);
  });

  it("throws 404 not_found with the revision for a missing key; find answers null", async () => {
    const error = (await client.get("no-such-key").catch((e: unknown) => e)) as FlotillaError;
    expect(error).toBeInstanceOf(FlotillaError);
    expect(error).toMatchObject({ status: 404, code: "not_found", message: 'key "no-such-key" not found' });
    expect(error.revision).toBeGreaterThan(0);
    expect(await client.find("no-such-key")).toBeNull();
    expect((await client.find("greeting"))!.text).toBe("héllo");
  });

  it("keeps keys with slashes, spaces, plus, percent and question marks intact", async () => {
    for (const key of ["a/b/c", "with space", "1+1=2", "100%", "what?", "é/🚀", "#hash"]) {
      await client.put(key, key);
      expect((await client.get(key)).text).toBe(key);
    }
    const page = await client.range({ prefix: "with sp" });
    expect(page.kvs.map((kv) => kv.key)).toEqual(["with space"]);
  });

  it("deletes a key, or a prefix", async () => {
    await client.put("del/1", "x");
    await client.put("del/2", "x");
    await client.put("del-not", "x");
    expect((await client.delete("del/1")).deleted).toBe(1);
    expect((await client.delete("del/", { prefix: true })).deleted).toBe(1);
    expect(await client.find("del/1")).toBeNull();
    expect((await client.get("del-not")).key).toBe("del-not");
  });

  it("ranges page by page and scans everything", async () => {
    for (let i = 0; i < 7; i++) await client.put(`page/${i}`, String(i));
    const first = await client.range({ prefix: "page/", limit: 3 });
    expect(first.kvs.map((kv) => kv.text)).toEqual(["0", "1", "2"]);
    expect(first.more).toBe(true);
    const second = await client.range({ prefix: "page/", limit: 3, after: "page/2" });
    expect(second.kvs.map((kv) => kv.text)).toEqual(["3", "4", "5"]);
    const all: string[] = [];
    for await (const kv of client.scan({ prefix: "page/", limit: 2 })) all.push(kv.text);
    expect(all).toEqual(["0", "1", "2", "3", "4", "5", "6"]);
  });

  it("runs transactions with byte values", async () => {
    await client.put("txn/a", "1");
    const answer = await client.txn({
      compare: [{ key: "txn/a", target: "value", op: "==", value: new Uint8Array([0x31]) }],
      success: [{ put: { key: "txn/b", value: new Uint8Array([0xff]) } }, { get: { prefix: "txn/" } }],
      failure: [{ delete: { key: "txn/a" } }],
    });
    expect(answer.succeeded).toBe(true);
    const get = answer.results[1]!;
    expect("get" in get && get.get.kvs.map((kv) => [kv.key, Array.from(kv.value)])).toEqual([
      ["txn/a", [0x31]],
      ["txn/b", [0xff]],
    ]);
  });

  it("reads status, changes membership and transfers leadership", async () => {
    const status = await client.status();
    expect(status).toMatchObject({ id: "n1", role: "leader", leader: "n1" });
    expect(await client.members.add({ id: "n2", peer: "127.0.0.1:7382", client: "127.0.0.1:7381", learner: true })).toContainEqual({
      id: "n2",
      peer: "127.0.0.1:7382",
      client: "http://127.0.0.1:7381",
      voter: false,
      role: "learner",
    });
    expect((await client.members.promote("n2")).find((m) => m.id === "n2")!.voter).toBe(true);
    expect((await client.members.remove("n2")).map((m) => m.id)).toEqual(["n1"]);
    expect((await client.members.list()).map((m) => m.id)).toEqual(["n1"]);
    expect(await client.transferLeader("n1")).toEqual({ leader: "n1" });
  });

  it("checks health, readiness and metrics", async () => {
    expect(await client.health()).toBe(true);
    expect(await client.ready()).toBe(true);
    expect(await client.metrics()).toContain("flotilla_http_requests_total");
    expect(await new Client({ endpoints: [`127.0.0.1:${deadPort}`], retries: 0 }).health()).toBe(false);
  });
});

describe("typed errors", () => {
  it("throws 412 precondition_failed with the current kv", async () => {
    await client.put("cas", "v1");
    const error = await client.put("cas", "v2", { ifModRevision: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FlotillaError);
    const failure = error as FlotillaError;
    expect(failure).toMatchObject({ status: 412, code: "precondition_failed" });
    expect(failure.current!.text).toBe("v1");
    expect(failure.message).toMatch(/precondition failed/);
  });

  it("throws the server's status, code and sentence for bad input", async () => {
    const error = (await client.put("k".repeat(5000), "v").catch((e: unknown) => e)) as FlotillaError;
    expect(error).toMatchObject({ status: 413, code: "key_too_large" });
    expect(error.message).toBe("key is 5000 bytes, more than the 4096 allowed");
  });

  it("refuses unusable endpoints and arguments before sending", () => {
    expect(() => new Client({ endpoints: [] })).toThrow(FlotillaError);
    expect(() => new Client({ endpoints: ["ftp://x:1"] })).toThrow(/only http and https/);
    expect(() => new Client({ endpoints: "localhost" })).toThrow(/no port/);
    expect(() => new Client({ endpoints: [server.url], retries: -1 })).toThrow(/retries/);
  });

  it("parses endpoints as users write them", () => {
    expect(endpointUrl("127.0.0.1:7379")).toBe("http://127.0.0.1:7379");
    expect(endpointUrl("[::1]:7379")).toBe("http://[::1]:7379");
    expect(endpointUrl("https://db.example.com/")).toBe("https://db.example.com");
    expect(endpointUrl("http://proxy:8080/flotilla/")).toBe("http://proxy:8080/flotilla");
    expect(parseEndpointList("a:1, b:2,")).toEqual(["http://a:1", "http://b:2"]);
  });
});

describe("failover and retries", () => {
  it("fails over to the next endpoint when the first is a closed port", async () => {
    const failover = new Client({ endpoints: [`127.0.0.1:${deadPort}`, server.url] });
    await failover.put("failover", "ok");
    expect((await failover.get("failover")).text).toBe("ok");
    expect((await node.get("failover")).kv!.version).toBe(1);
  });

  it("fails over when the first endpoint accepts but never answers", async () => {
    const failover = new Client({ endpoints: [hanging.url, server.url], timeoutMs: 300 });
    await failover.put("slow-first", "ok");
    expect((await node.get("slow-first")).kv!.version).toBe(1);
  });

  it("reports every endpoint it tried when none answers", async () => {
    const nowhere = new Client({ endpoints: [`127.0.0.1:${deadPort}`], retries: 2 });
    const error = (await nowhere.get("x").catch((e: unknown) => e)) as FlotillaError;
    expect(error).toMatchObject({ status: 0, code: "unavailable" });
    expect(error.message).toContain(`127.0.0.1:${deadPort}: ECONNREFUSED`);
  });

  it("retries a write whose answer was lost with the same Idempotency-Key: applied once", async () => {
    node.lose = 2;
    const seenBefore = node.keysSeen.length;
    const answer = await client.put("lost-answer", "v");
    expect(answer.version).toBe(1);
    expect((await node.get("lost-answer")).kv!.version).toBe(1);
    const keys = node.keysSeen.slice(seenBefore);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("gives every write its own fresh Idempotency-Key", async () => {
    const seenBefore = node.keysSeen.length;
    await client.put("fresh", "1");
    await client.put("fresh", "1");
    const [first, second] = node.keysSeen.slice(seenBefore);
    expect(first).not.toBe(second);
    expect((await node.get("fresh")).kv!.version).toBe(2);
  });

  it("waits out a 503 and retries", async () => {
    node.failNext("write", new NodeError("no_leader", "electing"), 2);
    expect((await client.put("after-election", "v")).version).toBe(1);
  });

  it("gives up after its retries with the server's 503", async () => {
    const impatient = new Client({ endpoints: [server.url], retries: 1, retryAfterMsMax: 10 });
    node.failNext("read", new NodeError("no_leader", "still electing"), 2);
    const error = (await impatient.get("x").catch((e: unknown) => e)) as FlotillaError;
    expect(error).toMatchObject({ status: 503, code: "no_leader", message: "still electing" });
  });

  it("does not resend a membership change that may have arrived", async () => {
    const once = new Client({ endpoints: [hanging.url, server.url], timeoutMs: 300 });
    const error = (await once.members.add({ id: "n7", peer: "127.0.0.1:7392" }).catch((e: unknown) => e)) as FlotillaError;
    expect(error).toMatchObject({ status: 0, code: "unknown_outcome" });
    expect(node.members().map((m) => m.id)).not.toContain("n7");
  });

  it("does resend a membership change that surely never arrived", async () => {
    const refused = new Client({ endpoints: [`127.0.0.1:${deadPort}`, server.url] });
    expect((await refused.members.add({ id: "n8", peer: "127.0.0.1:7394" })).map((m) => m.id)).toContain("n8");
    await refused.members.remove("n8");
  });

  it("does not retry a 504 for a membership change", async () => {
    node.failNext("membership", new NodeError("unknown_outcome", "deadline passed"));
    const error = (await client.members.add({ id: "n9", peer: "127.0.0.1:7396" }).catch((e: unknown) => e)) as FlotillaError;
    expect(error).toMatchObject({ status: 504, code: "unknown_outcome" });
  });
});

async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

interface HangingServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Accepts connections and reads requests, but never answers. */
async function hangingServer(): Promise<HangingServer> {
  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.resume();
  });
  await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
  const port = (tcp.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}
