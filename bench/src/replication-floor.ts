/**
 * The floor for one client writing to a three-node cluster on this machine, measured rather
 * than added up: a bare replicated write with no Raft, no HTTP, no SQLite. Three helper
 * processes: a "leader" that takes a fixed-size record from the client over TCP, sends it to
 * two "followers" and appends it to its own file with an fdatasync in the thread pool (as a
 * Node.js WAL does); each follower appends and fdatasyncs its copy and answers one byte. The
 * leader answers the client once its own copy and one follower's are durable, as a Raft
 * leader of three does. Every step a real system takes is here, each done the cheapest way,
 * so no implementation in Node.js on this machine writes faster through this topology.
 *
 * The service floor adds the two steps this design puts on the same path (design.md): the
 * write comes and goes over HTTP, and the leader applies it to SQLite before it answers.
 */
import Database from "better-sqlite3";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { startHelper, type Helper } from "./generator-pool.js";
import type { HelperMode } from "./generator-process.js";
import { HttpConnection } from "./http-connection.js";

/** One log record: about what a 100-byte put costs in the WAL (header, entry, command). */
export const FLOOR_RECORD_BYTES = 233;
/** Writes made before the measured ones (connections, files and code warm up). */
const FLOOR_WARMUP_WRITES = 200;
/** The floors' values and keys: the benchmark's 100-byte workloads. */
export const FLOOR_VALUE_BYTES = 100;
export const FLOOR_KEYS = 10_000;

/**
 * A floor's state machine: a SQLite file in `dir` in WAL mode with synchronous=NORMAL, holding
 * Flotilla's kv table, and the upsert of a put (returning the key's version), as the node runs it.
 */
export function openFloorKv(dir: string): { readonly db: Database.Database; readonly upsert: Database.Statement<[Buffer, Buffer, number, number], { version: number }> } {
  const db = new Database(path.join(dir, "state.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec("CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB NOT NULL, create_revision INTEGER NOT NULL, mod_revision INTEGER NOT NULL, version INTEGER NOT NULL, lease INTEGER NOT NULL) WITHOUT ROWID");
  const upsert = db.prepare<[Buffer, Buffer, number, number], { version: number }>(
    `INSERT INTO kv (key, value, create_revision, mod_revision, version, lease) VALUES (?, ?, ?, ?, 1, 0)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision, version = version + 1
     RETURNING version`,
  );
  return { db, upsert };
}

export interface ReplicationFloor {
  readonly medianMs: number;
  readonly meanMs: number;
  readonly p99Ms: number;
  readonly writes: number;
}

/** Runs the probe for about `seconds`, with its files in `folder` (removed afterwards). */
export async function measureReplicationFloor(folder: string, seconds: number): Promise<ReplicationFloor> {
  return withFloorCluster(folder, FLOOR_MODES, async ({ port }) => {
    const socket = net.connect({ host: "127.0.0.1", port, noDelay: true });
    try {
      await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
      const record = Buffer.alloc(FLOOR_RECORD_BYTES, 0x61);
      return await sampleWrites(seconds, () => new Promise<void>((resolve) => {
        socket.once("data", () => resolve());
        socket.write(record);
      }));
    } finally {
      socket.destroy();
    }
  });
}

/**
 * The same floor with what this design adds on the critical path, each done the cheapest way:
 * the write arrives and is answered over HTTP/1.1 (node:http, keep-alive), and once it is
 * durable on the leader and one follower the leader upserts the key into SQLite (WAL mode,
 * synchronous=NORMAL, Flotilla's kv table) before it answers. No Raft, no checks, no events:
 * whatever Flotilla adds beyond this is the cost of its own code.
 */
export async function measureServiceFloor(folder: string, seconds: number): Promise<ReplicationFloor> {
  return withFloorCluster(folder, SERVICE_FLOOR_MODES, async ({ port }) => {
    const connection = new HttpConnection(`127.0.0.1:${port}`);
    try {
      await connection.open();
      const value = Buffer.alloc(FLOOR_VALUE_BYTES, 0x62);
      let n = 0;
      return await sampleWrites(seconds, async () => {
        const key = `key${n++ % FLOOR_KEYS}`;
        const response = await connection.request(`PUT /${key} HTTP/1.1\r\nhost: floor\r\ncontent-type: application/octet-stream\r\ncontent-length: ${value.length}\r\n\r\n`, value);
        if (response.status !== 200) throw new Error(`the service floor's leader answered ${response.status}`);
      });
    } finally {
      connection.close();
    }
  });
}

const FLOOR_MODES = { follower: "floor-follower", leader: "floor-leader" } as const;
const SERVICE_FLOOR_MODES = { follower: "floor-follower", leader: "floor-service-leader" } as const;

/**
 * A floor's three helper processes in a fresh folder of `folder`, removed afterwards with them:
 * followers 1 and 2 (`follower DIR N`), then the leader connected to them (`leader DIR PORT PORT`).
 */
export async function withFloorCluster<T>(folder: string, modes: { readonly follower: HelperMode; readonly leader: HelperMode }, measure: (leader: Helper, followers: readonly Helper[]) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(folder, "floor-"));
  const helpers: Helper[] = [];
  try {
    const followers = [await startHelper(modes.follower, [dir, "1"]), await startHelper(modes.follower, [dir, "2"])];
    helpers.push(...followers);
    const leader = await startHelper(modes.leader, [dir, ...followers.map((f) => String(f.port))]);
    helpers.push(leader);
    return await measure(leader, followers);
  } finally {
    for (const helper of helpers) helper.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Warms up, then times sequential writes for about `seconds`. */
async function sampleWrites(seconds: number, write: () => Promise<void>): Promise<ReplicationFloor> {
  for (let i = 0; i < FLOOR_WARMUP_WRITES; i++) await write();
  const samples: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  while (performance.now() < deadline) {
    const started = performance.now();
    await write();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return {
    medianMs: samples[Math.floor(samples.length / 2)]!,
    meanMs: samples.reduce((sum, sample) => sum + sample, 0) / samples.length,
    p99Ms: samples[Math.floor(samples.length * 0.99)]!,
    writes: samples.length,
  };
}

/** Appends records to a fresh file in `dir`, each made durable before its callback. */
function openLog(dir: string): (record: Buffer) => Promise<void> {
  const fd = fs.openSync(path.join(fs.mkdtempSync(path.join(dir, "log-")), "log"), "w");
  let position = 0;
  return (record) => {
    fs.writeSync(fd, record, 0, record.length, position);
    position += record.length;
    return new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error === null ? resolve() : reject(error))));
  };
}

/** Splits a byte stream into whole records (TCP may join or cut them). */
function onRecords(socket: net.Socket, handle: (record: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= FLOOR_RECORD_BYTES) {
      handle(pending.subarray(0, FLOOR_RECORD_BYTES));
      pending = pending.subarray(FLOOR_RECORD_BYTES);
    }
  });
}

/** A follower: appends and syncs each record, then answers one byte. */
export function runFloorFollower(dir: string, listening: (port: number) => void): void {
  const append = openLog(dir);
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    onRecords(socket, (record) => void append(record).then(() => socket.write("a")));
    socket.on("error", () => socket.destroy());
  });
  server.listen(0, "127.0.0.1", () => listening((server.address() as net.AddressInfo).port));
}

/**
 * The leader's replication: each record goes to both followers while the leader syncs its own
 * copy; the returned promise resolves once its own copy and one follower's are durable, in
 * order, as a Raft leader of three commits.
 */
function startReplication(dir: string, followerPorts: readonly number[]): { replicate: (record: Buffer) => Promise<void>; close: () => void } {
  const append = openLog(dir);
  const followers = followerPorts.map((port) => net.connect({ host: "127.0.0.1", port, noDelay: true }));
  // Followers answer in order, one byte a record: record n is on follower i once acked[i] ≥ n.
  const acked = followers.map(() => 0);
  const waiting: (() => void)[] = [];
  let received = 0;
  let ownDurable = 0;
  let committed = 0;
  const commitDurable = (): void => {
    while (committed < received && ownDurable > committed && Math.max(...acked) > committed) {
      committed++;
      waiting.shift()!();
    }
  };
  followers.forEach((follower, i) =>
    follower.on("data", (acks: Buffer) => {
      acked[i]! += acks.length;
      commitDurable();
    }),
  );
  const replicate = (record: Buffer): Promise<void> =>
    new Promise<void>((resolve) => {
      received++;
      waiting.push(resolve);
      for (const follower of followers) follower.write(record);
      void append(record).then(() => {
        ownDurable++;
        commitDurable();
      });
    });
  return { replicate, close: () => followers.forEach((follower) => follower.destroy()) };
}

/** The leader of the bare floor: records in over TCP, one byte back once committed. */
export function runFloorLeader(dir: string, followerPorts: readonly number[], listening: (port: number) => void): void {
  const { replicate } = startReplication(dir, followerPorts);
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    onRecords(socket, (record) => void replicate(record).then(() => socket.write("k")));
    socket.on("error", () => socket.destroy());
  });
  server.listen(0, "127.0.0.1", () => listening((server.address() as net.AddressInfo).port));
}

/** The leader of the service floor: `PUT /<key>` in over HTTP, replicated, upserted into SQLite, answered. Returns its closer. */
export function runServiceFloorLeader(dir: string, followerPorts: readonly number[], listening: (port: number) => void): () => void {
  const replication = startReplication(dir, followerPorts);
  const { db, upsert } = openFloorKv(dir);
  let revision = 0;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const value = Buffer.concat(chunks);
      const record = Buffer.alloc(FLOOR_RECORD_BYTES);
      value.copy(record, 0, 0, Math.min(value.length, FLOOR_RECORD_BYTES));
      void replication.replicate(record).then(() => {
        revision++;
        const row = upsert.get(Buffer.from(request.url!.slice(1)), value, revision, revision)!;
        const body = JSON.stringify({ revision, version: row.version });
        response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        response.end(body);
      });
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => listening((server.address() as net.AddressInfo).port));
  return () => {
    server.closeAllConnections();
    server.close();
    replication.close();
    db.close();
  };
}
