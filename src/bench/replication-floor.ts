/**
 * The floor for one client writing to a three-node cluster on this machine, measured rather
 * than added up: a bare replicated write with no Raft, no HTTP, no SQLite. Three helper
 * processes: a "leader" that takes a fixed-size record from the client over TCP, sends it to
 * two "followers" and appends it to its own file with an fdatasync in the thread pool (as a
 * Node.js WAL does); each follower appends and fdatasyncs its copy and answers one byte. The
 * leader answers the client once its own copy and one follower's are durable, as a Raft
 * leader of three does. Every step a real system takes is here, each done the cheapest way,
 * so no implementation in Node.js on this machine writes faster through this topology.
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { startHelper } from "./generator-pool.js";

/** One log record: about what a 100-byte put costs in the WAL (header, entry, command). */
export const FLOOR_RECORD_BYTES = 233;
/** Writes made before the measured ones (connections, files and code warm up). */
const FLOOR_WARMUP_WRITES = 200;

export interface ReplicationFloor {
  readonly medianMs: number;
  readonly meanMs: number;
  readonly p99Ms: number;
  readonly writes: number;
}

/** Runs the probe for about `seconds`, with its files in `folder` (removed afterwards). */
export async function measureReplicationFloor(folder: string, seconds: number): Promise<ReplicationFloor> {
  const dir = fs.mkdtempSync(path.join(folder, "floor-"));
  const followers = [await startHelper("floor-follower", [dir]), await startHelper("floor-follower", [dir])];
  const leader = await startHelper("floor-leader", [dir, ...followers.map((f) => String(f.port))]);
  const socket = net.connect({ host: "127.0.0.1", port: leader.port, noDelay: true });
  try {
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const record = Buffer.alloc(FLOOR_RECORD_BYTES, 0x61);
    const write = (): Promise<number> =>
      new Promise((resolve) => {
        const started = performance.now();
        socket.once("data", () => resolve(performance.now() - started));
        socket.write(record);
      });
    for (let i = 0; i < FLOOR_WARMUP_WRITES; i++) await write();
    const samples: number[] = [];
    const deadline = performance.now() + seconds * 1000;
    while (performance.now() < deadline) samples.push(await write());
    samples.sort((a, b) => a - b);
    return {
      medianMs: samples[Math.floor(samples.length / 2)]!,
      meanMs: samples.reduce((sum, sample) => sum + sample, 0) / samples.length,
      p99Ms: samples[Math.floor(samples.length * 0.99)]!,
      writes: samples.length,
    };
  } finally {
    socket.destroy();
    for (const helper of [leader, ...followers]) helper.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
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

/** The leader: replicates each record to both followers while syncing its own copy; answers after its own and one follower's. */
export function runFloorLeader(dir: string, followerPorts: readonly number[], listening: (port: number) => void): void {
  const append = openLog(dir);
  const followers = followerPorts.map((port) => net.connect({ host: "127.0.0.1", port, noDelay: true }));
  // Followers answer in order, one byte a record: record n is on follower i once acked[i] ≥ n.
  const acked = followers.map(() => 0);
  let received = 0;
  let ownDurable = 0;
  let answered = 0;
  let client: net.Socket | undefined;
  const answerDurable = (): void => {
    while (answered < received && ownDurable > answered && Math.max(...acked) > answered) {
      answered++;
      client?.write("k");
    }
  };
  followers.forEach((follower, i) =>
    follower.on("data", (acks: Buffer) => {
      acked[i]! += acks.length;
      answerDurable();
    }),
  );
  const server = net.createServer((socket) => {
    client = socket;
    socket.setNoDelay(true);
    onRecords(socket, (record) => {
      received++;
      for (const follower of followers) follower.write(record);
      void append(record).then(() => {
        ownDurable++;
        answerDurable();
      });
    });
    socket.on("error", () => socket.destroy());
  });
  server.listen(0, "127.0.0.1", () => listening((server.address() as net.AddressInfo).port));
}
