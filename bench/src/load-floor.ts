/**
 * The service floor under load: the least a three-node cluster of this design must do for each
 * write, done the cheapest way in Node.js, taking the benchmark's own load. Three helper
 * processes, each an HTTP server for clients (`PUT /v1/kv/<key>`, the raw value, as api.md):
 *
 * - a follower forwards each write to the leader over its peer connection;
 * - the leader gathers the writes of one event-loop turn into a batch, sends the batch to both
 *   followers and appends it to its own log, one write and one fdatasync for all batches
 *   gathered while the last fdatasync ran (group commit);
 * - each follower appends and fdatasyncs the batches the same way and acknowledges them;
 * - once a batch is durable on the leader and one follower, the leader applies it to SQLite (an
 *   upsert per write, WAL mode, synchronous=NORMAL), answers its own clients, and tells the
 *   followers, which apply it the same way and answer theirs. As Flotilla's state machine does,
 *   the SQLite transaction stays open across batches and commits every tick or 1,000 writes
 *   (the log, not SQLite, makes a write durable).
 *
 * No terms, elections, checks, events or metrics: what Flotilla spends beyond this is the cost
 * of its own code, and what this reaches is about the most any implementation of the design
 * could on this machine.
 *
 * Its maps and queues hold at most what the harness's closed loop has in flight (one request
 * per connection), so they need no limits of their own: these processes serve the harness only.
 *
 * Peer frames: [u32 length][u8 kind][body]. Leader → follower: BATCH [u32 batch][records],
 * COMMIT [u32 batch]. Follower → leader: FORWARD [u32 seq][key/value], ACK [u32 batch].
 * A record in a batch: [u8 origin][u32 seq][u16 key length][key][u32 value length][value].
 */
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { GeneratorPool } from "./generator-pool.js";
import { cpuSecondsOf } from "./proc-stats.js";
import { FLOOR_KEYS, FLOOR_VALUE_BYTES, openFloorKv, withFloorCluster } from "./replication-floor.js";
import { FLOOR_COMMIT_INTERVAL_MS, FLOOR_COMMIT_WRITES_MAX } from "./limits.js";

const BATCH = 1;
const COMMIT = 2;
const FORWARD = 3;
const ACK = 4;
const LEADER_ORIGIN = 0;
const LOAD_FLOOR_MODES = { follower: "load-floor-follower", leader: "load-floor-leader" } as const;
/** Load before the measured window: connections open, code and SQLite's pages warm up. */
const LOAD_FLOOR_WARMUP_MS = 1000;
const KEY_PATH_PREFIX = "/v1/kv/";
/** GET: how many writes this process has answered. */
const ANSWERED_PATH = "/answered";

export interface LoadFloor {
  readonly clients: number;
  readonly opsPerSecond: number;
  /** CPU of the three processes per write, all their threads. */
  readonly cpuUsPerOp: number;
  readonly errors: number;
  /** Writes each process answered (leader first): every one of them serves its clients. */
  readonly answered: readonly number[];
}

/** Runs the floor's three processes in a folder of `folder` under `clients` writers for `seconds`. */
export async function measureLoadFloor(folder: string, seconds: number, clients: number): Promise<LoadFloor> {
  return withFloorCluster(folder, LOAD_FLOOR_MODES, async (leader, followers) => {
    // Spread over all three, leader first, as the benchmark spreads its connections.
    const ports = [leader.clientPort, ...followers.map((f) => f.clientPort)];
    const targets = Array.from({ length: clients }, (_, i) => `127.0.0.1:${ports[i % ports.length]!}`);
    const pool = await GeneratorPool.start([{ system: "flotilla", targets, keyPrefix: "key", keyCount: FLOOR_KEYS, valueBytes: FLOOR_VALUE_BYTES, readFraction: 0, consistency: "linearizable", seed: 1 }]);
    let result;
    let cpuUsed;
    try {
      await new Promise((resolve) => setTimeout(resolve, LOAD_FLOOR_WARMUP_MS));
      const pids = [leader, ...followers].map((helper) => helper.pid);
      const cpu = (): number => pids.reduce((sum, pid) => sum + cpuSecondsOf(fs.readFileSync(`/proc/${pid}/stat`, "utf8")), 0);
      const cpuBefore = cpu();
      pool.measure();
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      cpuUsed = cpu() - cpuBefore;
      result = await pool.stop();
    } catch (error) {
      pool.kill();
      throw error;
    }
    const writes = result.all.count;
    const answered = await Promise.all(ports.map(async (port) => Number(await (await fetch(`http://127.0.0.1:${port}${ANSWERED_PATH}`)).text())));
    return {
      clients,
      opsPerSecond: (writes * 1000) / result.windowMs,
      cpuUsPerOp: writes > 0 ? (cpuUsed * 1e6) / writes : 0,
      errors: Object.values(result.errors).reduce((sum, count) => sum + count, 0),
      answered,
    };
  });
}

// ---------------------------------------------------------------------------------------
// The processes

type Listening = (port: number, clientPort: number) => void;

export function runLoadFloorLeader(dir: string, followerPorts: readonly number[], listening: Listening): void {
  const log = groupCommitLog(dir);
  const state = openState(dir);
  const followers = followerPorts.map((port) => net.connect({ host: "127.0.0.1", port, noDelay: true }));
  const acked = followers.map(() => 0);
  const batches = new Map<number, Buffer>();
  const answers: Answers = { waiting: new Map(), count: 0 };
  let pending: Buffer[] = [];
  let flushScheduled = false;
  let lastBatch = 0;
  let ownDurable = 0;
  let committed = 0;
  let seq = 0;

  const propose = (record: Buffer): void => {
    pending.push(record);
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(() => {
      flushScheduled = false;
      const records = Buffer.concat(pending);
      pending = [];
      const batch = ++lastBatch;
      batches.set(batch, records);
      const frame = peerFrame(BATCH, batch, records);
      for (const follower of followers) follower.write(frame);
      log.append(records, () => {
        ownDurable = batch;
        commit();
      });
    });
  };

  const commit = (): void => {
    const upTo = Math.min(ownDurable, Math.max(...acked));
    if (upTo <= committed) return;
    const applied: Buffer[] = [];
    for (let batch = committed + 1; batch <= upTo; batch++) {
      applied.push(batches.get(batch)!);
      batches.delete(batch);
    }
    const commitFrame = peerFrame(COMMIT, upTo);
    for (const follower of followers) follower.write(commitFrame);
    committed = upTo;
    state.apply(applied, (origin, recordSeq, revision) => {
      if (origin === LEADER_ORIGIN) answer(answers, recordSeq, revision);
    });
  };

  followers.forEach((follower, i) =>
    onPeerFrames(follower, (kind, number, body) => {
      if (kind === ACK) {
        acked[i] = Math.max(acked[i]!, number);
        commit();
      } else if (kind === FORWARD) {
        propose(Buffer.concat([originHeader(i + 1, number), body]));
      }
    }),
  );

  const server = clientServer(answers, (key, value, response) => {
    answers.waiting.set(++seq, response);
    propose(Buffer.concat([originHeader(LEADER_ORIGIN, seq), keyValue(key, value)]));
  });
  server.listen(0, "127.0.0.1", () => listening(0, (server.address() as net.AddressInfo).port));
}

export function runLoadFloorFollower(dir: string, origin: number, listening: Listening): void {
  const log = groupCommitLog(dir);
  const state = openState(dir);
  const batches = new Map<number, Buffer>();
  const answers: Answers = { waiting: new Map(), count: 0 };
  let leader: net.Socket | undefined;
  let applied = 0;
  let seq = 0;
  // Acknowledgements and forwarded writes leave together, one socket write per turn, as Flotilla's transport does.
  let outgoing: Buffer[] = [];
  let ackTo = 0;
  let flushScheduled = false;
  const flushSoon = (): void => {
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(() => {
      flushScheduled = false;
      if (ackTo > 0) outgoing.push(peerFrame(ACK, ackTo));
      ackTo = 0;
      if (outgoing.length > 0) leader?.write(Buffer.concat(outgoing));
      outgoing = [];
    });
  };

  const peers = net.createServer((socket) => {
    leader = socket;
    socket.setNoDelay(true);
    onPeerFrames(socket, (kind, number, body) => {
      if (kind === BATCH) {
        const records = Buffer.from(body);
        batches.set(number, records);
        log.append(records, () => {
          ackTo = number;
          flushSoon();
        });
      } else if (kind === COMMIT) {
        const records: Buffer[] = [];
        for (let batch = applied + 1; batch <= number; batch++) {
          records.push(batches.get(batch)!);
          batches.delete(batch);
        }
        applied = number;
        state.apply(records, (recordOrigin, recordSeq, revision) => {
          if (recordOrigin === origin) answer(answers, recordSeq, revision);
        });
      }
    });
    socket.on("error", () => socket.destroy());
  });
  const server = clientServer(answers, (key, value, response) => {
    answers.waiting.set(++seq, response);
    outgoing.push(peerFrame(FORWARD, seq, keyValue(key, value)));
    flushSoon();
  });
  peers.listen(0, "127.0.0.1", () => server.listen(0, "127.0.0.1", () => listening((peers.address() as net.AddressInfo).port, (server.address() as net.AddressInfo).port)));
}

/** Appends byte runs to one file: one write and one fdatasync for everything gathered meanwhile. */
function groupCommitLog(dir: string): { append(bytes: Uint8Array, durable: () => void): void } {
  const fd = fs.openSync(path.join(fs.mkdtempSync(path.join(dir, "log-")), "log"), "w");
  let position = 0;
  let waiting: { bytes: Uint8Array; durable: () => void }[] = [];
  let syncing = false;
  const sync = (): void => {
    const group = waiting;
    waiting = [];
    syncing = true;
    for (const { bytes } of group) {
      fs.writeSync(fd, bytes, 0, bytes.byteLength, position);
      position += bytes.byteLength;
    }
    fs.fdatasync(fd, (error) => {
      if (error !== null) throw error;
      syncing = false;
      for (const { durable } of group) durable();
      if (waiting.length > 0) sync();
    });
  };
  return {
    append(bytes, durable) {
      waiting.push({ bytes, durable });
      if (!syncing) sync();
    },
  };
}

/**
 * Flotilla's kv table, an upsert per write, in a transaction left open across batches and
 * committed every FLOOR_COMMIT_INTERVAL_MS or FLOOR_COMMIT_WRITES_MAX writes, as the node does.
 */
function openState(dir: string): { apply(batches: readonly Buffer[], applied: (origin: number, seq: number, revision: number) => void): void } {
  const { db, upsert } = openFloorKv(fs.mkdtempSync(path.join(dir, "state-")));
  let revision = 0;
  let uncommitted = 0;
  const commit = (): void => {
    if (db.inTransaction) db.exec("COMMIT");
    uncommitted = 0;
  };
  setInterval(commit, FLOOR_COMMIT_INTERVAL_MS).unref();
  return {
    apply(batches, applied) {
      if (!db.inTransaction) db.exec("BEGIN");
      for (const records of batches) {
        for (let at = 0; at < records.length; ) {
          const origin = records.readUInt8(at);
          const seq = records.readUInt32BE(at + 1);
          const keyLength = records.readUInt16BE(at + 5);
          const key = records.subarray(at + 7, at + 7 + keyLength);
          const valueLength = records.readUInt32BE(at + 7 + keyLength);
          const valueAt = at + 11 + keyLength;
          revision++;
          upsert.get(key, records.subarray(valueAt, valueAt + valueLength), revision, revision);
          applied(origin, seq, revision);
          uncommitted++;
          at = valueAt + valueLength;
        }
      }
      if (uncommitted >= FLOOR_COMMIT_WRITES_MAX) commit();
    },
  };
}

interface Answers {
  readonly waiting: Map<number, http.ServerResponse>;
  count: number;
}

function clientServer(answers: Answers, write: (key: string, value: Buffer, response: http.ServerResponse) => void): http.Server {
  const server = http.createServer((request, response) => {
    if (request.method === "GET" && request.url === ANSWERED_PATH) {
      response.end(String(answers.count));
      return;
    }
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const url = request.url ?? "";
      if (request.method !== "PUT" || !url.startsWith(KEY_PATH_PREFIX)) {
        response.writeHead(404).end();
        return;
      }
      write(decodeURIComponent(url.slice(KEY_PATH_PREFIX.length)), Buffer.concat(chunks), response);
    });
  });
  server.keepAliveTimeout = 60_000;
  return server;
}

function answer(answers: Answers, seq: number, revision: number): void {
  const response = answers.waiting.get(seq);
  if (response === undefined) return;
  answers.waiting.delete(seq);
  answers.count++;
  const body = `{"revision":${revision}}`;
  response.writeHead(200, { "content-type": "application/json", "content-length": body.length });
  response.end(body);
}

function originHeader(origin: number, seq: number): Buffer {
  const header = Buffer.allocUnsafe(5);
  header.writeUInt8(origin, 0);
  header.writeUInt32BE(seq, 1);
  return header;
}

function keyValue(key: string, value: Buffer): Buffer {
  const keyBytes = Buffer.from(key);
  const out = Buffer.allocUnsafe(6 + keyBytes.length + value.length);
  out.writeUInt16BE(keyBytes.length, 0);
  keyBytes.copy(out, 2);
  out.writeUInt32BE(value.length, 2 + keyBytes.length);
  value.copy(out, 6 + keyBytes.length);
  return out;
}

function peerFrame(kind: number, number: number, body?: Uint8Array): Buffer {
  const bodyLength = body?.byteLength ?? 0;
  const frame = Buffer.allocUnsafe(9 + bodyLength);
  frame.writeUInt32BE(5 + bodyLength, 0);
  frame.writeUInt8(kind, 4);
  frame.writeUInt32BE(number, 5);
  if (body !== undefined) frame.set(body, 9);
  return frame;
}

/** Splits a peer byte stream into frames (TCP may join or cut them). */
function onPeerFrames(socket: net.Socket, handle: (kind: number, number: number, body: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
      const length = pending.readUInt32BE(0);
      handle(pending.readUInt8(4), pending.readUInt32BE(5), pending.subarray(9, 4 + length));
      pending = pending.subarray(4 + length);
    }
  });
}
