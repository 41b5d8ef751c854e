/**
 * The simulated network: the twin of src/transport behind the driver's PeerNetwork port. Each
 * message and app frame gets a delivery time (latency plus, with the reorder fault, random
 * jitter), may be lost or duplicated, and is dropped on arrival when a partition cuts its
 * link. Links are directed, so one-way partitions are just one direction blocked.
 *
 * It reports back to senders what the TCP transport learns from its connections: a snapshot
 * delivered or failed, a peer unreachable (an append lost, a peer unknown), a handshake
 * refused because the sender was removed. Those reports are never lost themselves.
 */
import { MessageType, type Message, type NodeId } from "../raft/index.js";
import type { PeerEvents, PeerNetwork } from "../node/ports.js";
import { SIM_MESSAGES_IN_FLIGHT_MAX } from "../util/limits.js";
import type { Rng } from "../util/rng.js";
import type { FaultRates } from "./faults.js";
import type { Owner, Scheduler } from "./scheduler.js";

export interface NetworkCounters {
  sent: number;
  lost: number;
  duplicated: number;
  /** Dropped because the queue of messages in flight was full. */
  overflowed: number;
  /** App frames (forwarded writes, leader requests, lookups) sent. */
  frames: number;
}

/** What the simulation watches on the wire (durability promises, the trace digest). */
export interface NetworkObserver {
  sending(message: Message): void;
  delivering(message: Message): void;
}

interface Attached {
  readonly owner: Owner;
  readonly events: PeerEvents;
  readonly endpoint: SimEndpoint;
}

export class SimNetwork {
  readonly #scheduler: Scheduler;
  readonly #rng: Rng;
  readonly #rates: FaultRates;
  readonly #observer: NetworkObserver;
  readonly #tickMs: number;
  readonly #attached = new Map<NodeId, Attached>();
  /** Directed links that are cut, as "from>to". */
  readonly #blocked = new Set<string>();
  /** A filter the nemesis may put on what leaves a node (true: drop it). */
  #hold: ((message: Message) => boolean) | undefined;
  #inFlight = 0;
  #reliable = false;
  readonly counters: NetworkCounters = { sent: 0, lost: 0, duplicated: 0, overflowed: 0, frames: 0 };

  constructor(scheduler: Scheduler, rng: Rng, rates: FaultRates, observer: NetworkObserver, tickMs: number) {
    this.#scheduler = scheduler;
    this.#rng = rng;
    this.#rates = rates;
    this.#observer = observer;
    this.#tickMs = tickMs;
  }

  /** A node (re)starts: its new life's endpoint, reporting to `events`. */
  attach(id: NodeId, owner: Owner, events: PeerEvents): SimEndpoint {
    const endpoint = new SimEndpoint(this, id);
    this.#attached.set(id, { owner, events, endpoint });
    return endpoint;
  }

  /** A node went down or stopped: nothing reaches it until it attaches again. */
  detach(id: NodeId): void {
    this.#attached.delete(id);
  }

  isUp(id: NodeId): boolean {
    const attached = this.#attached.get(id);
    return attached !== undefined && attached.owner.alive;
  }

  /** The healed phase: no loss, no duplication, no jitter, no partitions, no holds from now on. */
  makeReliable(): void {
    this.#reliable = true;
    this.#blocked.clear();
    this.#hold = undefined;
  }

  get reliable(): boolean {
    return this.#reliable;
  }

  block(from: NodeId, to: NodeId): void {
    if (!this.#reliable && from !== to) this.#blocked.add(`${from}>${to}`);
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.#blocked.size > 0 && this.#blocked.has(`${from}>${to}`);
  }

  healPartitions(): void {
    this.#blocked.clear();
  }

  get partitioned(): boolean {
    return this.#blocked.size > 0;
  }

  /** Drops every message `hold` selects until released (the nemesis holding a new leader's entries back). */
  setHold(hold: ((message: Message) => boolean) | undefined): void {
    if (!this.#reliable) this.#hold = hold;
  }

  get holding(): boolean {
    return this.#hold !== undefined;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  // ---------------------------------------------------------------------------------------

  /** From `sender`'s endpoint, which knows `message.to` as a peer. */
  send(message: Message): void {
    this.counters.sent++;
    this.#observer.sending(message);
    if (!this.#reliable && (this.#rng.chance(this.#rates.lossRate) || this.#hold?.(message) === true)) {
      this.counters.lost++;
      this.#reportDropped(message);
      return;
    }
    this.#carry(message.from, message.to, () => this.#deliver(message), () => this.#reportDropped(message));
    if (!this.#reliable && this.#rng.chance(this.#rates.duplicateRate)) {
      this.counters.duplicated++;
      this.#carry(message.from, message.to, () => this.#deliver(message), () => this.#reportDropped(message));
    }
  }

  /** An app frame; false when the sender would know at once that it cannot be sent (peer down). */
  sendApp(from: NodeId, to: NodeId, payload: Uint8Array): boolean {
    if (!this.isUp(to)) return false;
    this.counters.frames++;
    if (!this.#reliable && this.#rng.chance(this.#rates.lossRate)) return true; // lost with the connection
    const copy = payload.slice(); // the receiver gets bytes of its own, as from a socket
    this.#carry(from, to, () => this.#attached.get(to)?.events.app(from, copy), () => {});
    return true;
  }

  /** A peer the sender does not know: the transport drops the message and says so, whatever it was. */
  unknownPeer(message: Message): void {
    if (message.type === MessageType.Snapshot) this.#report(message.from, (events) => events.snapshotSent(message.to, false));
    this.#report(message.from, (events) => events.unreachable(message.to));
  }

  /** Schedules the arrival of something from `from` at `to`: delivered unless a partition or a refusal stops it there. */
  #carry(from: NodeId, to: NodeId, arrive: () => void, dropped: () => void): void {
    if (this.#inFlight >= SIM_MESSAGES_IN_FLIGHT_MAX) {
      this.counters.overflowed++;
      return;
    }
    this.#inFlight++;
    this.#scheduler.after(this.#delayMs(), () => {
      this.#inFlight--;
      const receiver = this.#attached.get(to);
      if (receiver === undefined || !receiver.owner.alive || this.isBlocked(from, to)) return dropped();
      if (receiver.endpoint.refuses(from)) {
        // The handshake is refused as removed: the sender's transport learns it.
        this.#report(from, (events) => events.refusedAsRemoved(to));
        return dropped();
      }
      arrive();
    });
  }

  #deliver(message: Message): void {
    const receiver = this.#attached.get(message.to);
    if (receiver === undefined) return;
    this.#observer.delivering(message);
    receiver.events.message(message);
    if (message.type === MessageType.Snapshot) this.#report(message.from, (events) => events.snapshotSent(message.to, true));
  }

  /** What the sender's transport learns when `message` did not get through. */
  #reportDropped(message: Message): void {
    if (message.type === MessageType.Snapshot) this.#report(message.from, (events) => events.snapshotSent(message.to, false));
    else if (message.type === MessageType.Append) this.#report(message.from, (events) => events.unreachable(message.to));
  }

  /** A report to a node's transport, a moment later (as from a connection's callback), if that life still runs. */
  #report(to: NodeId, report: (events: PeerEvents) => void): void {
    const attached = this.#attached.get(to);
    if (attached === undefined) return;
    this.#scheduler.after(1, () => report(attached.events), attached.owner);
  }

  #delayMs(): number {
    const latency = 1 + this.#rng.int(0, 3);
    if (this.#reliable || this.#rates.jitterTicksMax === 0) return latency;
    return latency + this.#rng.int(0, this.#rates.jitterTicksMax * this.#tickMs + 1);
  }
}

/** One node's side of the simulated network: its address book, and what it refuses. */
export class SimEndpoint implements PeerNetwork {
  readonly #network: SimNetwork;
  readonly #id: NodeId;
  readonly #peers = new Map<NodeId, string>();
  readonly #refused = new Set<NodeId>();

  constructor(network: SimNetwork, id: NodeId) {
    this.#network = network;
    this.#id = id;
  }

  send(messages: readonly Message[]): void {
    for (const message of messages) {
      if (this.#peers.has(message.to)) this.#network.send(message);
      else this.#network.unknownPeer(message);
    }
  }

  flush(): void {}

  sendApp(to: NodeId, payload: Uint8Array): boolean {
    if (!this.#peers.has(to)) return false;
    return this.#network.sendApp(this.#id, to, payload);
  }

  addPeer(id: NodeId, address: string): void {
    if (id !== this.#id && !this.#refused.has(id)) this.#peers.set(id, address);
  }

  removePeer(id: NodeId): void {
    this.#peers.delete(id);
  }

  peers(): ReadonlyMap<NodeId, string> {
    return this.#peers;
  }

  refusePeer(id: NodeId): void {
    this.#refused.add(id);
    this.#peers.delete(id);
  }

  acceptPeer(id: NodeId): void {
    this.#refused.delete(id);
  }

  refuses(id: NodeId): boolean {
    return this.#refused.has(id);
  }
}
