/**
 * The one way to reach the leader: writes, membership changes, leadership transfers and the
 * leader's view of the members travel from any node to the leader over the peer connections
 * (rqlite's cluster service, on Flotilla's own transport), never over HTTP between nodes.
 *
 * A write: the follower sends the encoded command; the leader proposes it and answers with the
 * entry's (index, term), or refuses with an error code (then nothing was proposed). The
 * follower then waits for that entry to apply *locally* and answers its client from its own
 * state machine, which is deterministic, so the result is the leader's. If the answer is lost,
 * the entry's request id still settles the write when it applies.
 *
 * Any other request (a LeaderRequest): the leader runs it with its own checks and answers
 * with the outcome, or refuses.
 *
 * The same frames carry a member lookup: a node asked to send to a peer it has no address for
 * (a member added while it lagged) asks the peers it knows for theirs.
 *
 * Frames are MessagePack tuples inside the transport's app frames:
 *   [1, requestId, timeoutMs, command]   any → leader: a write (requestId: the command's own)
 *   [2, requestId, index, term]          leader → sender: proposed there
 *   [3, requestId, code, message]        leader → sender: refused, nothing done
 *   [4, requestId, 0, 0]                 any → any: which members and peer addresses do you know?
 *   [5, requestId, 0, [[id, peer], ...]] the answer, from the answering node's state machine
 *   [6, requestId, timeoutMs, request]   any → leader: a LeaderRequest
 *   [7, requestId, 0, answer]            leader → sender: its outcome
 * Every field is checked: a frame from a peer is untrusted input.
 */
import { Packr, Unpackr } from "msgpackr";
import { COMMAND_BYTES_MAX, MEMBER_ADDRESS_BYTES_MAX, PEER_ID_LENGTH_MAX, PEERS_IN_LOOKUP_MAX, REQUEST_ID_BYTES_MAX } from "../util/limits.js";
import type { AddMemberRequest, MemberRole, MemberStatus, NodeErrorCode } from "./api.js";

/** What only the leader can do, asked by any node on its client's behalf. */
export type LeaderRequest =
  | { readonly op: "add-member"; readonly member: AddMemberRequest }
  | { readonly op: "remove-member"; readonly id: string }
  | { readonly op: "promote-member"; readonly id: string }
  | { readonly op: "transfer-leader"; readonly to?: string }
  | { readonly op: "members" };

/** The leader's outcome of a LeaderRequest: the members as it sees them, or who leads now. */
export type LeaderAnswer = { readonly members: readonly MemberStatus[] } | { readonly leader: string };

export type ForwardFrame =
  | { readonly kind: "write"; readonly requestId: string; readonly timeoutMs: number; readonly command: Uint8Array }
  | { readonly kind: "accepted"; readonly requestId: string; readonly index: number; readonly term: number }
  | { readonly kind: "refused"; readonly requestId: string; readonly code: NodeErrorCode; readonly message: string }
  | { readonly kind: "peers?"; readonly requestId: string }
  | { readonly kind: "peers"; readonly requestId: string; readonly peers: ReadonlyMap<string, string> }
  | { readonly kind: "request"; readonly requestId: string; readonly timeoutMs: number; readonly request: LeaderRequest }
  | { readonly kind: "answer"; readonly requestId: string; readonly answer: LeaderAnswer };

export class ForwardProtocolError extends Error {
  override name = "ForwardProtocolError";
}

const WRITE = 1;
const ACCEPTED = 2;
const REFUSED = 3;
const PEERS_REQUEST = 4;
const PEERS = 5;
const REQUEST = 6;
const ANSWER = 7;
const MESSAGE_LENGTH_MAX = 1024;
const REFUSAL_CODES: ReadonlySet<string> = new Set<NodeErrorCode>(["not_leader", "no_leader", "unknown_outcome", "overloaded", "conflict", "not_found", "bad_request", "shutting_down"]);
const MEMBER_ROLES: ReadonlySet<string> = new Set<MemberRole>(["leader", "follower", "learner"]);

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
    case "request":
      return packr.pack([REQUEST, frame.requestId, frame.timeoutMs, frame.request]);
    case "answer":
      return packr.pack([ANSWER, frame.requestId, 0, frame.answer]);
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
    case REQUEST:
      return { kind: "request", requestId, timeoutMs: count(third, "timeoutMs"), request: leaderRequest(fourth) };
    case ANSWER:
      return { kind: "answer", requestId, answer: leaderAnswer(fourth) };
    default:
      throw new ForwardProtocolError(`unknown forward frame kind ${JSON.stringify(kind)}`);
  }
}

function count(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw new ForwardProtocolError(`forward frame: ${what} is not a non-negative integer`);
  return value;
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) throw new ForwardProtocolError(`${what} is not a map`);
  return value as Record<string, unknown>;
}

function nodeId(value: unknown, what: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > PEER_ID_LENGTH_MAX) throw new ForwardProtocolError(`${what} is not a node id (1..${PEER_ID_LENGTH_MAX} characters)`);
  return value;
}

function address(value: unknown, what: string): string {
  if (typeof value !== "string" || Buffer.byteLength(value) > MEMBER_ADDRESS_BYTES_MAX) throw new ForwardProtocolError(`${what} is not an address of at most ${MEMBER_ADDRESS_BYTES_MAX} bytes`);
  return value;
}

function flag(value: unknown, what: string): boolean | undefined {
  if (value === undefined || typeof value === "boolean") return value;
  throw new ForwardProtocolError(`${what} is not a boolean`);
}

function optionalCount(value: unknown, what: string): number | undefined {
  return value === undefined ? undefined : count(value, what);
}

function peerList(value: unknown): ReadonlyMap<string, string> {
  if (!Array.isArray(value) || value.length > PEERS_IN_LOOKUP_MAX) throw new ForwardProtocolError(`peer list: not a list of at most ${PEERS_IN_LOOKUP_MAX} members`);
  const peers = new Map<string, string>();
  for (const pair of value as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2) throw new ForwardProtocolError("peer list: a member is not an [id, peer] pair");
    const [id, peer] = pair as unknown[];
    peers.set(nodeId(id, "peer list: a member id"), address(peer, `peer list: ${String(id)}'s address`));
  }
  return peers;
}

function leaderRequest(value: unknown): LeaderRequest {
  const request = record(value, "leader request");
  switch (request.op) {
    case "add-member": {
      const member = record(request.member, "add-member request");
      const id = nodeId(member.id, "add-member id");
      const peer = address(member.peer, "add-member peer");
      const client = member.client === undefined ? undefined : address(member.client, "add-member client");
      const learner = flag(member.learner, "add-member learner");
      const autoPromote = flag(member.autoPromote, "add-member autoPromote");
      return {
        op: "add-member",
        member: {
          id,
          peer,
          ...(client === undefined ? {} : { client }),
          ...(learner === undefined ? {} : { learner }),
          ...(autoPromote === undefined ? {} : { autoPromote }),
        },
      };
    }
    case "remove-member":
      return { op: "remove-member", id: nodeId(request.id, "remove-member id") };
    case "promote-member":
      return { op: "promote-member", id: nodeId(request.id, "promote-member id") };
    case "transfer-leader":
      return request.to === undefined ? { op: "transfer-leader" } : { op: "transfer-leader", to: nodeId(request.to, "transfer-leader to") };
    case "members":
      return { op: "members" };
    default:
      throw new ForwardProtocolError(`unknown leader request ${JSON.stringify(request.op)}`);
  }
}

function leaderAnswer(value: unknown): LeaderAnswer {
  const answer = record(value, "leader answer");
  if (answer.leader !== undefined) return { leader: typeof answer.leader === "string" && answer.leader === "" ? "" : nodeId(answer.leader, "answer leader") };
  if (!Array.isArray(answer.members) || answer.members.length > PEERS_IN_LOOKUP_MAX) throw new ForwardProtocolError(`answer members: not a list of at most ${PEERS_IN_LOOKUP_MAX}`);
  return { members: answer.members.map((member: unknown, i: number) => memberStatus(member, `answer members[${i}]`)) };
}

function memberStatus(value: unknown, what: string): MemberStatus {
  const member = record(value, what);
  const role = member.role;
  if (typeof role !== "string" || !MEMBER_ROLES.has(role)) throw new ForwardProtocolError(`${what}.role is not leader, follower or learner`);
  const voter = flag(member.voter, `${what}.voter`);
  if (voter === undefined) throw new ForwardProtocolError(`${what}.voter is missing`);
  const matchIndex = optionalCount(member.matchIndex, `${what}.matchIndex`);
  const lag = optionalCount(member.lag, `${what}.lag`);
  const lastContactMs = optionalCount(member.lastContactMs, `${what}.lastContactMs`);
  return {
    id: nodeId(member.id, `${what}.id`),
    peer: address(member.peer, `${what}.peer`),
    client: address(member.client, `${what}.client`),
    voter,
    role: role as MemberRole,
    ...(matchIndex === undefined ? {} : { matchIndex }),
    ...(lag === undefined ? {} : { lag }),
    ...(lastContactMs === undefined ? {} : { lastContactMs }),
  };
}
