/** Test support for src/transport: real transports on loopback, raw sockets, waiting. */
import { connect, type Socket } from "node:net";
import { EntryType, makeMessage, MessageType, type Message, type NodeId } from "../../raft/types.js";
import { Rng } from "../../util/rng.js";
import type { TransportLimits } from "../context.js";
import { FrameReader } from "../frame-reader.js";
import type { TransportLogger } from "../logger.js";
import { Transport } from "../transport.js";
import { encodeHello, FrameKind, type ConnectionPurpose } from "../wire.js";
import { Packr, RESERVE_START_SPACE } from "msgpackr";

export interface LogEntry {
  readonly level: "info" | "warn" | "error";
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

export class CapturingLogger implements TransportLogger {
  readonly entries: LogEntry[] = [];
  info(fields: object, message: string): void {
    this.entries.push({ level: "info", fields: fields as Record<string, unknown>, message });
  }
  warn(fields: object, message: string): void {
    this.entries.push({ level: "warn", fields: fields as Record<string, unknown>, message });
  }
  error(fields: object, message: string): void {
    this.entries.push({ level: "error", fields: fields as Record<string, unknown>, message });
  }
  /** Every logged reason/message, for matching what a person reading the log would see. */
  text(): string {
    return this.entries.map((e) => `${e.level} ${e.message} ${JSON.stringify(e.fields)}`).join("\n");
  }
}

export interface TestNode {
  readonly id: NodeId;
  readonly transport: Transport;
  readonly address: string;
  readonly logger: CapturingLogger;
  readonly received: Message[];
  /** App frames received: [from, bytes (copied)]. */
  readonly apps: Array<[NodeId, Uint8Array]>;
  readonly unreachable: NodeId[];
  readonly snapshotResults: Array<{ peer: NodeId; ok: boolean }>;
  /** Every onRefusedAsRemoved(peer) call, in order. */
  readonly refusedAsRemoved: NodeId[];
}

export interface TestNodeOptions {
  /** Default "test-cluster"; null starts the transport outside any cluster (no clusterId option). */
  readonly clusterId?: string | null;
  readonly listenAddress?: string;
  readonly peers?: Record<NodeId, string>;
  readonly limits?: Partial<TransportLimits>;
  readonly seed?: number;
  /** Called after each received message is recorded (e.g. to act from inside the delivery). */
  readonly onMessage?: (message: Message) => void;
}

const open: Transport[] = [];

export async function startNode(id: NodeId, options: TestNodeOptions = {}): Promise<TestNode> {
  const logger = new CapturingLogger();
  const received: Message[] = [];
  const apps: Array<[NodeId, Uint8Array]> = [];
  const unreachable: NodeId[] = [];
  const snapshotResults: Array<{ peer: NodeId; ok: boolean }> = [];
  const refusedAsRemoved: NodeId[] = [];
  const clusterId = options.clusterId === undefined ? "test-cluster" : options.clusterId;
  const transport = new Transport({
    nodeId: id,
    ...(clusterId === null ? {} : { clusterId }),
    listenAddress: options.listenAddress ?? "127.0.0.1:0",
    peers: options.peers ?? {},
    logger,
    rng: new Rng(options.seed ?? 1),
    limits: { reconnectBackoffMinMs: 10, reconnectBackoffMaxMs: 100, ...options.limits },
    onMessage: (m) => {
      received.push(m);
      options.onMessage?.(m);
    },
    onApp: (peer, payload) => apps.push([peer, payload.slice()]),
    onUnreachable: (peer) => unreachable.push(peer),
    onSnapshotSent: (peer, ok) => snapshotResults.push({ peer, ok }),
    onRefusedAsRemoved: (peer) => refusedAsRemoved.push(peer),
  });
  open.push(transport);
  const address = await transport.start();
  return { id, transport, address, logger, received, apps, unreachable, snapshotResults, refusedAsRemoved };
}

/** Starts nodes on ephemeral ports, then tells each about all the others. */
export async function startCluster(ids: readonly NodeId[], options: TestNodeOptions = {}): Promise<TestNode[]> {
  const nodes = await Promise.all(ids.map((id, i) => startNode(id, { ...options, seed: (options.seed ?? 1) + i })));
  for (const node of nodes) for (const other of nodes) if (other !== node) node.transport.addPeer(other.id, other.address);
  return nodes;
}

export async function closeAll(): Promise<void> {
  await Promise.all(open.splice(0).map((t) => t.close()));
}

/** Waits until `condition` holds; fails with `what` if it never does (a generous bound, not a timing assertion). */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A port that was free a moment ago (bind port 0, read it, close). */
export { freePort } from "../../util/ports.js";

/** One message of every network type (except snapshot), with entries that exercise the codec. */
export function sampleMessages(from: NodeId, to: NodeId): Message[] {
  const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
  const big = 2 ** 40;
  return [
    makeMessage({
      type: MessageType.Append,
      from,
      to,
      term: 7,
      logTerm: 6,
      index: big,
      commit: big - 3,
      entries: [
        { term: 6, index: big + 1, type: EntryType.Normal, data: bytes(0, 0) },
        { term: 7, index: big + 2, type: EntryType.ConfChange, data: bytes(300, 1) },
        { term: 7, index: big + 3, type: EntryType.Normal, data: bytes(70_000, 2) },
      ],
    }),
    makeMessage({ type: MessageType.AppendResponse, from, to, term: 7, index: 41, reject: true, rejectHint: 17, logTerm: 3 }),
    makeMessage({ type: MessageType.Vote, from, to, term: 8, index: 100, logTerm: 7 }),
    makeMessage({ type: MessageType.VoteResponse, from, to, term: 8, reject: false }),
    makeMessage({ type: MessageType.PreVote, from, to, term: 9, index: 100, logTerm: 7, context: "transfer" }),
    makeMessage({ type: MessageType.PreVoteResponse, from, to, term: 9, reject: true }),
    makeMessage({ type: MessageType.Heartbeat, from, to, term: 7, commit: 99, context: "7.12" }),
    makeMessage({ type: MessageType.HeartbeatResponse, from, to, term: 7, context: "7.12" }),
    makeMessage({ type: MessageType.TimeoutNow, from, to, term: 7 }),
    makeMessage({ type: MessageType.ReadIndex, from, to, term: 7, context: "read-ü-1" }),
    makeMessage({ type: MessageType.ReadIndexResponse, from, to, term: 7, index: 55, context: "read-ü-1" }),
    makeMessage({ type: MessageType.Append, from, to, term: 7, logTerm: 7, index: 55, commit: 55 }),
  ];
}

export function heartbeat(from: NodeId, to: NodeId, commit: number): Message {
  return makeMessage({ type: MessageType.Heartbeat, from, to, term: 1, commit });
}

/** A raw TCP client that records the frames it is sent and whether it was closed. */
export class RawPeer {
  readonly socket: Socket;
  readonly frames: Array<{ kind: number; body: Buffer }> = [];
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    const reader = new FrameReader(64 * 1024 * 1024);
    socket.on("data", (chunk: Buffer) => {
      reader.push(chunk, (kind, body) => {
        this.frames.push({ kind, body: Buffer.from(body) });
        return true;
      });
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
    });
  }

  static async connect(address: string): Promise<RawPeer> {
    const [host, port] = address.split(":");
    const socket = connect({ host: host!, port: Number(port) });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new RawPeer(socket);
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }
}

const rawPackr = new Packr({ useRecords: false });

/** A frame with any MessagePack body: for sending well-framed but invalid content. */
export function rawFrame(kind: number, value: unknown): Buffer {
  const frame = rawPackr.pack(value, RESERVE_START_SPACE | 5);
  frame.writeUInt32BE(frame.length - 4, 0);
  frame[4] = kind;
  return frame;
}

/** A raw peer that has completed a handshake (a stream one by default) as node `from` with the node at `address`. */
export async function handshakenRawPeer(address: string, from: NodeId, to: NodeId, clusterId = "test-cluster", purpose: ConnectionPurpose = "stream"): Promise<RawPeer> {
  const peer = await RawPeer.connect(address);
  peer.write(encodeHello({ clusterId, from, to, purpose }));
  await waitFor(() => peer.frames.length > 0 || peer.closed, "handshake reply");
  if (peer.frames[0]?.kind !== FrameKind.HelloAccepted) throw new Error("handshake not accepted");
  return peer;
}
