/**
 * Writes forwarded from a follower to the leader over the peer connections (rqlite's cluster
 * service, on Flotilla's own transport): no HTTP between nodes on the hot path.
 *
 * The follower sends the encoded command; the leader proposes it and answers with the entry's
 * (index, term), or refuses with an error code (then nothing was proposed). The follower then
 * waits for that entry to apply *locally* and answers its client from its own state machine,
 * which is deterministic, so the result is the leader's. If the answer is lost, the entry's
 * request id still settles the write when it applies.
 *
 * The same app frames carry a member lookup: a node asked to send to a peer it has no address
 * for (a member added while it lagged) asks the peers it knows for theirs.
 *
 * Frames are MessagePack tuples inside the transport's app frames:
 *   [1, requestId, timeoutMs, command]   follower → leader (requestId: the command's own)
 *   [2, requestId, index, term]          leader → follower: proposed there
 *   [3, requestId, code, message]        leader → follower: refused, nothing proposed
 *   [4, requestId, 0, 0]                 any → any: which members and peer addresses do you know?
 *   [5, requestId, 0, [[id, peer], ...]] the answer, from the answering node's state machine
 * Every field is checked: a frame from a peer is untrusted input.
 */
import { Packr, Unpackr } from "msgpackr";
import { COMMAND_BYTES_MAX, MEMBER_ADDRESS_BYTES_MAX, PEER_ID_LENGTH_MAX, PEERS_IN_LOOKUP_MAX, REQUEST_ID_BYTES_MAX } from "../util/limits.js";
import type { NodeErrorCode } from "./api.js";

export type ForwardFrame =
  | { readonly kind: "write"; readonly requestId: string; readonly timeoutMs: number; readonly command: Uint8Array }
  | { readonly kind: "accepted"; readonly requestId: string; readonly index: number; readonly term: number }
  | { readonly kind: "refused"; readonly requestId: string; readonly code: NodeErrorCode; readonly message: string }
  | { readonly kind: "peers?"; readonly requestId: string }
  | { readonly kind: "peers"; readonly requestId: string; readonly peers: ReadonlyMap<string, string> };

export class ForwardProtocolError extends Error {
  override name = "ForwardProtocolError";
}

const WRITE = 1;
const ACCEPTED = 2;
const REFUSED = 3;
const PEERS_REQUEST = 4;
const PEERS = 5;
const MESSAGE_LENGTH_MAX = 1024;
const REFUSAL_CODES: ReadonlySet<string> = new Set<NodeErrorCode>(["not_leader", "no_leader", "unknown_outcome", "overloaded", "conflict", "not_found", "bad_request", "shutting_down"]);

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

export function encodeForwardFrame(frame: ForwardFrame): Uint8Array {
  switch (frame.kind) {
    case "write":
      return packr.pack([WRITE, frame.requestId, frame.timeoutMs, frame.command]);
    case "accepted":
      return packr.pack([ACCEPTED, frame.requestId, frame.index, frame.term]);
    case "refused":
      return packr.pack([REFUSED, frame.requestId, frame.code, frame.message.slice(0, MESSAGE_LENGTH_MAX)]);
    case "peers?":
      return packr.pack([PEERS_REQUEST, frame.requestId, 0, 0]);
    case "peers":
      return packr.pack([PEERS, frame.requestId, 0, [...frame.peers].slice(0, PEERS_IN_LOOKUP_MAX)]);
  }
}

/** Decodes and checks a frame; throws ForwardProtocolError naming the problem. */
export function decodeForwardFrame(bytes: Uint8Array): ForwardFrame {
  let tuple: unknown;
  try {
    tuple = unpackr.unpack(bytes);
  } catch (error) {
    throw new ForwardProtocolError(`forward frame is not valid MessagePack: ${(error as Error).message}`);
  }
  if (!Array.isArray(tuple) || tuple.length !== 4) throw new ForwardProtocolError("forward frame is not a 4-element tuple");
  const [kind, id, third, fourth] = tuple as unknown[];
  if (typeof id !== "string" || id.length === 0 || Buffer.byteLength(id) > REQUEST_ID_BYTES_MAX) throw new ForwardProtocolError("forward frame: requestId is not a short non-empty string");
  const requestId = id;
  switch (kind) {
    case WRITE: {
      if (!(fourth instanceof Uint8Array)) throw new ForwardProtocolError("forwarded write: command is not bytes");
      if (fourth.byteLength > COMMAND_BYTES_MAX) throw new ForwardProtocolError(`forwarded write: command is ${fourth.byteLength} bytes, more than ${COMMAND_BYTES_MAX}`);
      return { kind: "write", requestId, timeoutMs: count(third, "timeoutMs"), command: fourth };
    }
    case ACCEPTED:
      return { kind: "accepted", requestId, index: count(third, "index"), term: count(fourth, "term") };
    case REFUSED:
      if (typeof third !== "string" || !REFUSAL_CODES.has(third)) throw new ForwardProtocolError(`forward refusal: unknown code ${JSON.stringify(third)}`);
      if (typeof fourth !== "string" || fourth.length > MESSAGE_LENGTH_MAX) throw new ForwardProtocolError("forward refusal: message is not a short string");
      return { kind: "refused", requestId, code: third as NodeErrorCode, message: fourth };
    case PEERS_REQUEST:
      return { kind: "peers?", requestId };
    case PEERS:
      return { kind: "peers", requestId, peers: peerList(fourth) };
    default:
      throw new ForwardProtocolError(`unknown forward frame kind ${JSON.stringify(kind)}`);
  }
}

function count(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw new ForwardProtocolError(`forward frame: ${what} is not a non-negative integer`);
  return value;
}

function peerList(value: unknown): ReadonlyMap<string, string> {
  if (!Array.isArray(value) || value.length > PEERS_IN_LOOKUP_MAX) throw new ForwardProtocolError(`peer list: not a list of at most ${PEERS_IN_LOOKUP_MAX} members`);
  const peers = new Map<string, string>();
  for (const pair of value as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2) throw new ForwardProtocolError("peer list: a member is not an [id, peer] pair");
    const [id, peer] = pair as unknown[];
    if (typeof id !== "string" || id.length === 0 || id.length > PEER_ID_LENGTH_MAX) throw new ForwardProtocolError("peer list: a member id is not a short non-empty string");
    if (typeof peer !== "string" || Buffer.byteLength(peer) > MEMBER_ADDRESS_BYTES_MAX) throw new ForwardProtocolError(`peer list: ${id}'s address is not a short string`);
    peers.set(id, peer);
  }
  return peers;
}
