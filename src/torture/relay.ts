/**
 * The loopback fallback, for machines where network namespaces are out of reach (not root,
 * no iptables, not Linux). Every node's peer port gets a relay in front of it, in this
 * process: the nodes advertise the relay's port, so every peer connection passes through it.
 *
 * The node processes cannot be reached by the transport's in-process fault hook, so the relay
 * applies the same fault model at the same boundary, one whole frame at a time: it reads the
 * dialer's handshake to learn who is sending, then per frame
 * - on a cut link, drops everything (the connection stays open and silent, a black hole);
 * - on a lossy link, drops Raft message frames at random (snapshot frames are never torn: a
 *   real lossy link delays them, it does not corrupt them).
 * Client traffic does not pass through the relay, so a partition here does not stop a follower
 * from forwarding a client's request to the leader; the namespaces' iptables do.
 */
import net from "node:net";
import { freePort } from "../util/ports.js";
import { PEER_FRAME_BYTES_MAX } from "../util/limits.js";
import { HEALED, linkKey, type Network, type NetworkState, type SlotAddress } from "./network.js";

/** Frame kinds of the peer protocol (src/transport/wire.ts, version 1) the relay tells apart. */
const FRAME_HELLO = 1;
const FRAME_MESSAGE = 4;
const LENGTH_PREFIX_BYTES = 4;

export class LoopbackNetwork implements Network {
  readonly mode = "loopback";
  readonly description = "loopback: a relay in front of every peer port drops frames for partitions and loss";
  readonly #addresses: SlotAddress[];
  readonly #relays: PeerRelay[];
  readonly #slotOf = new Map<string, number>();

  private constructor(addresses: SlotAddress[], relays: PeerRelay[]) {
    this.#addresses = addresses;
    this.#relays = relays;
  }

  static async open(nodes: number, random: () => number = Math.random): Promise<LoopbackNetwork> {
    const addresses: SlotAddress[] = [];
    const relays: PeerRelay[] = [];
    const slotOf = (id: string): number | undefined => network.#slotOf.get(id);
    for (let slot = 0; slot < nodes; slot++) {
      const peerListen = `127.0.0.1:${await freePort()}`;
      const relay = new PeerRelay(slot, peerListen, slotOf, random);
      const relayPort = await relay.listen();
      relays.push(relay);
      addresses.push({ client: `127.0.0.1:${await freePort()}`, peerListen, peerAdvertised: `127.0.0.1:${relayPort}` });
    }
    const network = new LoopbackNetwork(addresses, relays);
    return network;
  }

  address(slot: number): SlotAddress {
    return this.#addresses[slot]!;
  }

  command(_slot: number, nodeArgs: readonly string[]): { file: string; args: string[] } {
    return { file: process.execPath, args: [...nodeArgs] };
  }

  identify(id: string, slot: number): void {
    this.#slotOf.set(id, slot);
  }

  async apply(state: NetworkState): Promise<void> {
    for (const relay of this.#relays) relay.state = state;
  }

  /** Frames the relays dropped, by reason (for tests and the report). */
  dropped(): { cut: number; loss: number } {
    return this.#relays.reduce((sum, relay) => ({ cut: sum.cut + relay.droppedCut, loss: sum.loss + relay.droppedLoss }), { cut: 0, loss: 0 });
  }

  async close(): Promise<void> {
    await Promise.all(this.#relays.map((relay) => relay.close()));
  }

  closeNow(): void {
    for (const relay of this.#relays) void relay.close();
  }
}

/** The relay in front of one node's peer port. */
export class PeerRelay {
  state: NetworkState = HEALED;
  droppedCut = 0;
  droppedLoss = 0;
  readonly #slot: number;
  readonly #target: { host: string; port: number };
  readonly #slotOf: (id: string) => number | undefined;
  readonly #random: () => number;
  readonly #server = net.createServer((socket) => this.#accept(socket));
  readonly #sockets = new Set<net.Socket>();

  constructor(slot: number, target: string, slotOf: (id: string) => number | undefined, random: () => number) {
    this.#slot = slot;
    const colon = target.lastIndexOf(":");
    this.#target = { host: target.slice(0, colon), port: Number(target.slice(colon + 1)) };
    this.#slotOf = slotOf;
    this.#random = random;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(0, "127.0.0.1", () => resolve((this.#server.address() as net.AddressInfo).port));
    });
  }

  close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #accept(inbound: net.Socket): void {
    const outbound = net.connect(this.#target.port, this.#target.host);
    for (const socket of [inbound, outbound]) {
      this.#sockets.add(socket);
      socket.setNoDelay(true);
      socket.on("error", () => undefined);
      socket.on("close", () => {
        this.#sockets.delete(socket);
        inbound.destroy();
        outbound.destroy();
      });
    }
    // The acceptor's answers (handshake, snapshot acks) go back untouched: on a cut link the
    // dialer's frames never arrive, so there is nothing to answer.
    outbound.pipe(inbound);
    const frames = new FrameSplitter();
    let from: number | undefined;
    let raw = false;
    const send = (bytes: Buffer): void => {
      if (bytes.length > 0 && !outbound.write(bytes) && !inbound.isPaused()) {
        inbound.pause();
        outbound.once("drain", () => inbound.resume());
      }
    };
    inbound.on("data", (chunk: Buffer) => {
      if (raw) return send(chunk);
      for (const frame of frames.push(chunk)) {
        if (frame === "garbage") {
          // Not our protocol's framing: pass the rest through and let the node refuse it.
          raw = true;
          return send(frames.rest());
        }
        if (from === undefined && frame[LENGTH_PREFIX_BYTES] === FRAME_HELLO) from = helloSender(frame, this.#slotOf);
        if (this.#passes(from, frame)) send(frame);
      }
    });
  }

  #passes(from: number | undefined, frame: Buffer): boolean {
    if (from === undefined) return true;
    const link = linkKey(from, this.#slot);
    if (this.state.cuts.has(link)) {
      this.droppedCut++;
      return false;
    }
    const rate = this.state.loss.get(link) ?? 0;
    if (rate > 0 && frame[LENGTH_PREFIX_BYTES] === FRAME_MESSAGE && this.#random() < rate) {
      this.droppedLoss++;
      return false;
    }
    return true;
  }
}

/** Splits a byte stream into whole frames (u32 big-endian length, then that many bytes). */
export class FrameSplitter {
  #chunks: Buffer[] = [];
  #buffered = 0;

  push(chunk: Buffer): (Buffer | "garbage")[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const frames: (Buffer | "garbage")[] = [];
    for (;;) {
      if (this.#buffered < LENGTH_PREFIX_BYTES) return frames;
      const head = this.#peek(LENGTH_PREFIX_BYTES);
      const length = head.readUInt32BE(0);
      if (length === 0 || length > PEER_FRAME_BYTES_MAX) {
        frames.push("garbage");
        return frames;
      }
      if (this.#buffered < LENGTH_PREFIX_BYTES + length) return frames;
      frames.push(this.#take(LENGTH_PREFIX_BYTES + length));
    }
  }

  /** Whatever is buffered, once the stream turned out not to be frames. */
  rest(): Buffer {
    const all = Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#buffered = 0;
    return all;
  }

  #peek(bytes: number): Buffer {
    if (this.#chunks[0]!.length < bytes) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0]!.subarray(0, bytes);
  }

  #take(bytes: number): Buffer {
    if (this.#chunks[0]!.length < bytes) this.#chunks = [Buffer.concat(this.#chunks)];
    const first = this.#chunks[0]!;
    const frame = first.subarray(0, bytes);
    if (first.length === bytes) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(bytes);
    this.#buffered -= bytes;
    return frame;
  }
}

/**
 * The dialer's node id from a Hello frame: a MessagePack array
 * ["flotilla-peer", version, clusterId, from, to, purpose]. Undefined when it does not parse
 * or names a node no slot holds (the relay then passes the connection through unharmed).
 */
export function helloSender(frame: Buffer, slotOf: (id: string) => number | undefined): number | undefined {
  try {
    const reader = new PackReader(frame.subarray(LENGTH_PREFIX_BYTES + 1));
    const count = reader.arrayHeader();
    if (count < 4) return undefined;
    const fields = [reader.value(), reader.value(), reader.value(), reader.value()];
    return typeof fields[3] === "string" ? slotOf(fields[3]) : undefined;
  } catch {
    return undefined;
  }
}

/** Just enough MessagePack to read a handshake: arrays, strings and unsigned integers. */
class PackReader {
  readonly #bytes: Buffer;
  #offset = 0;

  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  arrayHeader(): number {
    const tag = this.#u8();
    if (tag >= 0x90 && tag <= 0x9f) return tag & 0x0f;
    if (tag === 0xdc) return this.#uint(2);
    throw new Error("not an array");
  }

  value(): string | number {
    const tag = this.#u8();
    if (tag <= 0x7f) return tag;
    if (tag >= 0xa0 && tag <= 0xbf) return this.#string(tag & 0x1f);
    switch (tag) {
      case 0xcc:
        return this.#uint(1);
      case 0xcd:
        return this.#uint(2);
      case 0xce:
        return this.#uint(4);
      case 0xd9:
        return this.#string(this.#uint(1));
      case 0xda:
        return this.#string(this.#uint(2));
      case 0xdb:
        return this.#string(this.#uint(4));
      default:
        throw new Error(`unexpected MessagePack tag 0x${tag.toString(16)}`);
    }
  }

  #u8(): number {
    return this.#uint(1);
  }

  #uint(bytes: 1 | 2 | 4): number {
    if (this.#offset + bytes > this.#bytes.length) throw new Error("truncated");
    const value = this.#bytes.readUIntBE(this.#offset, bytes);
    this.#offset += bytes;
    return value;
  }

  #string(length: number): string {
    if (this.#offset + length > this.#bytes.length) throw new Error("truncated");
    const text = this.#bytes.toString("utf8", this.#offset, this.#offset + length);
    this.#offset += length;
    return text;
  }
}
