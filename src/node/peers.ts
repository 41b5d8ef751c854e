/**
 * The peer directory: which members the network dials, and at which addresses. It follows the
 * applied membership, fills in what a lagging node cannot know yet, and refuses removed members.
 *
 * A node that lagged behind a membership change cannot answer a member added meanwhile (it has
 * no address for it), and if that member now leads, the node cannot catch up to learn it from
 * the log: its rejections of the leader's appends never arrive. So when the network is asked to
 * send to a peer it does not know, this node asks the peers it knows for their member lists
 * (over the peer connections: its state machine may hold no client address for them) and keeps
 * the addresses it lacked until its own state machine lists them (a fault run in CI found a
 * node stuck this way). At most one round per NODE_PEER_LOOKUP_INTERVAL_MS.
 */
import { NODE_PEER_LOOKUP_INTERVAL_MS } from "../util/limits.js";
import type { ReplicaContext } from "./context.js";
import { encodeForwardFrame } from "./forwarding.js";

export class PeerDirectory {
  readonly #ctx: ReplicaContext;
  /** Peers whose address came from another member's list, not (yet) from this node's state machine. */
  readonly #learned = new Set<string>();
  #refused = new Set<string>();
  #lookupAt = -Infinity;

  constructor(ctx: ReplicaContext) {
    this.#ctx = ctx;
  }

  /** Dials every member at its recorded address, forgets the others, refuses removed ones. */
  sync(extra: Readonly<Record<string, string>> = {}): void {
    const { network, id } = this.#ctx;
    const known = new Set<string>();
    for (const member of this.#ctx.members()) {
      if (member.id === id || !member.peer) continue;
      known.add(member.id);
      this.#learned.delete(member.id);
      network.addPeer(member.id, member.peer);
    }
    // Addresses learned outside this node's state machine (from the join, or the unapplied log)
    // are kept like those learned from other members: replaying old membership changes must
    // not leave a joining node knowing only members that are long gone.
    for (const [peer, address] of Object.entries(extra)) {
      if (peer === id || known.has(peer) || address === "") continue;
      this.#learned.add(peer);
      network.addPeer(peer, address);
    }
    for (const peer of network.peers().keys()) if (!known.has(peer) && !this.#learned.has(peer)) network.removePeer(peer);
    const refused = new Set(this.#ctx.machine.removedMembers().filter((peer) => peer !== id));
    for (const peer of refused) if (!this.#refused.has(peer)) network.refusePeer(peer);
    for (const peer of this.#refused) if (!refused.has(peer)) network.acceptPeer(peer);
    this.#refused = refused;
  }

  /** The network had a message for a peer it does not know: ask the known peers (rate-limited). */
  lookUp(): void {
    const { clock, network, id, bootId } = this.#ctx;
    const now = clock.now();
    if (now - this.#lookupAt < NODE_PEER_LOOKUP_INTERVAL_MS) return;
    this.#lookupAt = now;
    const request = encodeForwardFrame({ kind: "peers?", requestId: `${id}.${bootId}.peers` });
    for (const peer of network.peers().keys()) network.sendApp(peer, request);
  }

  /** Another node asks which members and peer addresses this one knows. */
  answerLookup(peer: string, requestId: string): void {
    const peers = new Map<string, string>();
    for (const member of this.#ctx.members()) if (member.peer) peers.set(member.id, member.peer);
    if (!peers.has(this.#ctx.id)) peers.set(this.#ctx.id, this.#ctx.peerAddress);
    this.#ctx.network.sendApp(peer, encodeForwardFrame({ kind: "peers", requestId, peers }));
  }

  /** Another node's answer: keep the addresses this one lacked. */
  learn(from: string, peers: ReadonlyMap<string, string>): void {
    const { network, id, logger } = this.#ctx;
    const known = network.peers();
    for (const [peer, address] of peers) {
      if (peer === id || address === "" || known.has(peer) || this.#refused.has(peer)) continue;
      this.#learned.add(peer);
      network.addPeer(peer, address);
      logger.info({ peer, address, from }, "learned the address of a member added while this node lagged");
    }
  }
}
