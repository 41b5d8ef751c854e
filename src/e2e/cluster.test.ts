/**
 * Process tests (design.md, "How it is tested", 4): three real `flotilla start` processes on
 * loopback, SIGKILL and restarts, all through the public API.
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FlotillaError } from "../client/index.js";
import { ProcessCluster, sleep } from "./cluster.js";

let cluster: ProcessCluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const decoder = new TextDecoder();
const text = (value: Uint8Array): string => decoder.decode(value);

describe("a three-node cluster of real processes", () => {
  it("accepts writes through every node and serves them from every node", async () => {
    cluster = await ProcessCluster.start(3);
    for (const id of ["n1", "n2", "n3"]) {
      await cluster.client([id]).put(`written-through-${id}`, `value from ${id}`);
    }
    for (const reader of ["n1", "n2", "n3"]) {
      const client = cluster.client([reader]);
      for (const writer of ["n1", "n2", "n3"]) {
        const got = await client.get(`written-through-${writer}`);
        expect(text(got.value)).toBe(`value from ${writer}`);
        const stale = await client.get(`written-through-${writer}`, { consistency: "stale" }).catch(() => undefined);
        if (stale) expect(text(stale.value)).toBe(`value from ${writer}`);
      }
    }
  });

  it("elects a new leader within seconds after SIGKILL of the leader, and the killed node catches up", async () => {
    cluster = await ProcessCluster.start(3);
    const client = cluster.client();
    await client.put("before", "1");
    const leader = await cluster.leader();
    await cluster.stop(leader, "SIGKILL");
    const survivors = ["n1", "n2", "n3"].filter((id) => id !== leader);
    const started = Date.now();
    await cluster.client(survivors).put("after", "2");
    const failoverMs = Date.now() - started;
    expect(failoverMs).toBeLessThan(10_000);
    cluster.launch(leader);
    await cluster.waitReady([leader]);
    const restarted = cluster.client([leader]);
    expect(text((await restarted.get("after", { consistency: "linearizable" })).value)).toBe("2");
    expect(text((await restarted.get("before")).value)).toBe("1");
  });

  it("catches up a node that was down for more than a snapshot's worth of writes (by snapshot)", async () => {
    cluster = await ProcessCluster.start(3, { extraArgs: ["--snapshot-entries", "50", "--snapshot-catchup-entries", "10"] });
    const leader = await cluster.leader();
    const down = ["n1", "n2", "n3"].find((id) => id !== leader)!;
    await cluster.stop(down, "SIGKILL");
    const client = cluster.client(["n1", "n2", "n3"].filter((id) => id !== down));
    for (let i = 0; i < 300; i++) await client.put(`bulk/${String(i).padStart(3, "0")}`, `v${i}`);
    cluster.launch(down);
    await cluster.waitReady([down]);
    const local = cluster.client([down]);
    const deadline = Date.now() + 20_000;
    let count = 0;
    while (Date.now() < deadline) {
      count = (await local.range({ prefix: "bulk/", consistency: "stale", limit: 1000 })).kvs.length;
      if (count === 300) break;
      await sleep(200);
    }
    expect(count).toBe(300);
    const metrics = await local.metrics();
    expect(metrics).toMatch(/flotilla_snapshots_installed_total\{[^}]*\} [1-9]/);
  });

  it("loses no acknowledged write when every node is SIGKILLed during a burst of writes", async () => {
    cluster = await ProcessCluster.start(3);
    const client = cluster.client();
    const acknowledged: string[] = [];
    let stop = false;
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const key = `burst/${w}/${i}`;
        try {
          await client.put(key, key);
          acknowledged.push(key);
        } catch {
          // unacknowledged: may or may not be there, either is fine
        }
      }
    });
    await sleep(1500);
    await Promise.all(["n1", "n2", "n3"].map((id) => cluster!.stop(id, "SIGKILL")));
    stop = true;
    await Promise.all(writers);
    expect(acknowledged.length).toBeGreaterThan(20);
    for (const id of ["n1", "n2", "n3"]) cluster.launch(id);
    await cluster.waitReady(["n1", "n2", "n3"]);
    const after = cluster.client();
    const present = new Set((await after.range({ prefix: "burst/", limit: 10_000 })).kvs.map((kv) => kv.key));
    const missing = acknowledged.filter((key) => !present.has(key));
    expect(missing).toEqual([]);
  });

  it("keeps every node running when random bytes arrive on the peer ports", async () => {
    cluster = await ProcessCluster.start(3);
    for (const id of ["n1", "n2", "n3"]) {
      for (const garbage of [Buffer.from("GET / HTTP/1.1\r\n\r\n"), Buffer.alloc(4096, 0xff), Buffer.from([0, 0, 0, 5, 1, 2]), Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7919) % 256))]) {
        await new Promise<void>((resolve) => {
          const [host, port] = cluster!.node(id).peerAddress.split(":") as [string, string];
          const socket = net.connect(Number(port), host, () => socket.end(garbage));
          socket.on("error", () => resolve());
          socket.on("close", () => resolve());
          socket.resume();
        });
      }
    }
    await sleep(300);
    for (const id of ["n1", "n2", "n3"]) expect(cluster.isRunning(id)).toBe(true);
    await cluster.client().put("still", "serving");
    expect(text((await cluster.client(["n3"]).get("still")).value)).toBe("serving");
  });
});

describe("the write-ahead log on disk", () => {
  it("recovers from a torn tail: the last record cut short is dropped and the node serves", async () => {
    cluster = await ProcessCluster.start(1);
    const client = cluster.client();
    for (let i = 0; i < 20; i++) await client.put(`k${i}`, `v${i}`);
    await cluster.stop("n1", "SIGKILL");
    const segment = lastSegment(cluster.node("n1").dataDir);
    const size = fs.statSync(segment).size;
    // Append half a record's worth of garbage-free bytes: a write cut in the middle.
    fs.appendFileSync(segment, Buffer.from([0, 0, 1, 0, 2, 7, 7]));
    expect(fs.statSync(segment).size).toBe(size + 7);
    cluster.launch("n1");
    await cluster.waitReady(["n1"]);
    expect(text((await client.get("k19")).value)).toBe("v19");
    await client.put("after-recovery", "ok");
  });

  it("refuses to start on a corrupted record, with a message naming the file and offset", async () => {
    cluster = await ProcessCluster.start(1);
    const client = cluster.client();
    for (let i = 0; i < 20; i++) await client.put(`k${i}`, `value-${i}`.repeat(10));
    await cluster.stop("n1", "SIGKILL");
    const segment = lastSegment(cluster.node("n1").dataDir);
    const bytes = fs.readFileSync(segment);
    // In the middle of the records: a killed node leaves the zeros its WAL wrote ahead of them.
    let recordsEnd = bytes.length;
    while (recordsEnd > 0 && bytes[recordsEnd - 1] === 0) recordsEnd--;
    const middle = Math.floor(recordsEnd / 2);
    bytes[middle] = bytes[middle]! ^ 0xff;
    fs.writeFileSync(segment, bytes);
    cluster.launch("n1");
    const code = await cluster.node("n1").exit;
    expect(code).not.toBe(0);
    expect(cluster.node("n1").output).toContain(path.basename(segment));
    expect(cluster.node("n1").output).toMatch(/(byte|offset) \d+/);
  });
});

describe("bad client input against a real process", () => {
  it("answers clear 4xx errors and keeps serving", async () => {
    cluster = await ProcessCluster.start(1);
    const base = `http://${cluster.node("n1").clientAddress}`;
    const cases: { request: () => Promise<Response>; status: number }[] = [
      { request: () => fetch(`${base}/v1/kv/${"k".repeat(5000)}`, { method: "PUT", body: "v" }), status: 413 },
      { request: () => fetch(`${base}/v1/kv/ok`, { method: "PUT", body: Buffer.alloc(1024 * 1024 + 1) }), status: 413 },
      { request: () => fetch(`${base}/v1/kv/ok`, { method: "PUT", body: Buffer.alloc(2 * 1024 * 1024) }), status: 413 },
      { request: () => fetch(`${base}/v1/kv/%E0%A4%A`, { method: "GET" }), status: 400 },
      { request: () => fetch(`${base}/v1/txn`, { method: "POST", body: "{not json", headers: { "content-type": "application/json" } }), status: 400 },
      { request: () => fetch(`${base}/v1/txn`, { method: "POST", body: JSON.stringify({ compare: [], success: [{ put: { key: "a" } }] }), headers: { "content-type": "application/json" } }), status: 400 },
      { request: () => fetch(`${base}/v1/txn`, { method: "POST", body: JSON.stringify({ compare: [], success: [], failure: [], surprise: 1 }), headers: { "content-type": "application/json" } }), status: 400 },
      { request: () => fetch(`${base}/v1/kv/ok?ifModRevision=-1`, { method: "PUT", body: "v" }), status: 400 },
      { request: () => fetch(`${base}/v1/kv/ok?consistency=eventual`), status: 400 },
    ];
    for (const { request, status } of cases) {
      const response = await request();
      const body = (await response.json()) as { error: string; code: string };
      expect(response.status).toBe(status);
      expect(body.error.length).toBeGreaterThan(10);
      expect(body.code).toMatch(/^[a-z_]+$/);
    }
    const client = cluster.client();
    await client.put("ok", "still serving");
    expect(text((await client.get("ok")).value)).toBe("still serving");
    await expect(client.get("missing")).rejects.toBeInstanceOf(FlotillaError);
  });
});

function lastSegment(dataDir: string): string {
  const walDir = path.join(dataDir, "wal");
  const segments = fs.readdirSync(walDir).filter((name) => name.endsWith(".wal")).sort();
  if (segments.length === 0) throw new Error(`no WAL segment in ${walDir}: ${fs.readdirSync(walDir).join(", ")}`);
  return path.join(walDir, segments.at(-1)!);
}
