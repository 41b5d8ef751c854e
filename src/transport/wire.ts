/**
 * The peer wire protocol, version 1. Every frame is a u32 big-endian length, then a one-byte
 * kind, then the body (the length counts the kind byte and the body). Bodies are MessagePack
 * tuples (positional arrays: smaller and faster than maps, and the shape is fixed), except
 * snapshot chunks, which are raw bytes.
 *
 * A connection starts with the dialer's Hello; the acceptor answers HelloAccepted or
 * HelloRefused. A "stream" connection then carries Message frames from the dialer only; a
 * "snapshot" connection carries one SnapshotHeader and its chunks, answered by a SnapshotAck.
 *
 * Everything decoded here is validated field by field: a frame from a peer is untrusted input.
 */
import { Packr, RESERVE_START_SPACE, Unpackr } from "msgpackr";
import { EntryType, isLocalMessage, MessageType, type ConfState, type Entry, type Message, type NodeId, type SnapshotMeta } from "../raft/types.js";
import { assert } from "../util/assert.js";
import { PEER_ID_LENGTH_MAX } from "../util/limits.js";
import { TransportError } from "./errors.js";
import { MESSAGE_TUPLE_LENGTH, writeMessageFrame } from "./message-writer.js";

export const PROTOCOL_MAGIC = "flotilla-peer";
export const PROTOCOL_VERSION = 1;
/** u32 length + u8 kind. */
export const FRAME_HEADER_BYTES = 5;
export const LENGTH_PREFIX_BYTES = 4;

export enum FrameKind {
  Hello = 1,
  HelloAccepted = 2,
  HelloRefused = 3,
  Message = 4,
  SnapshotHeader = 5,
  SnapshotChunk = 6,
  SnapshotAck = 7,
  /** Opaque bytes of the node's own protocol (forwarded writes), carried on the stream. */
  App = 8,
}

/**
 * A queued app frame: bytes the node encodes and decodes itself. The transport only bounds
 * its size and delivers it from the peer of the handshake, in order with the Raft messages.
 */
export interface AppFrame {
  readonly appPayload: Uint8Array;
}

export function isAppFrame(item: Message | AppFrame): item is AppFrame {
  return (item as AppFrame).appPayload !== undefined;
}

export type ConnectionPurpose = "stream" | "snapshot";

export interface Hello {
  readonly clusterId: string;
  /** The dialer. */
  readonly from: NodeId;
  /** Whom the dialer believes it reached: a node at a reused address refuses. */
  readonly to: NodeId;
  readonly purpose: ConnectionPurpose;
}

export interface HelloAccepted {
  readonly clusterId: string;
  readonly nodeId: NodeId;
}

/**
 * Machine-readable refusal codes a dialer acts on (the reason is for people). "removed": the
 * acceptor removed the dialer from the cluster (etcd answers a removed member the same way), so
 * the dialer learns it is no longer a member. A refusal without a code carries none on the wire.
 */
export const REFUSAL_CODE_REMOVED = "removed";
/** A refusal without a machine-readable code (another cluster, another node, ...). */
export const REFUSAL_CODE_NONE = "";
/** Longest refusal code accepted from a peer: codes are short words; a newer peer may send one this node does not know. */
export const REFUSAL_CODE_LENGTH_MAX = 32;

export interface HelloRefused {
  /** Why, for the logs of both sides. */
  readonly reason: string;
  /** REFUSAL_CODE_REMOVED, REFUSAL_CODE_NONE, or a code of a newer peer (treated as none). */
  readonly code: string;
}

export interface SnapshotHeader {
  /** The snapshot message with `snapshot.data` still empty: the chunks carry it. */
  readonly message: Message;
  readonly totalBytes: number;
}

export interface SnapshotAck {
  readonly ok: boolean;
  readonly reason: string;
}

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

const NETWORK_MESSAGE_TYPES: ReadonlySet<string> = new Set(Object.values(MessageType).filter((type) => !isLocalMessage(type)));
const ENTRY_FIELDS = 4;
const NO_FIELDS: readonly unknown[] = Object.freeze([]);
const REASON_LENGTH_MAX = 512;

export function isNetworkMessageType(type: MessageType): boolean {
  return NETWORK_MESSAGE_TYPES.has(type);
}

// ---------------------------------------------------------------------------------------
// Encoding

/**
 * Packs `value` behind a reserved frame header, so the frame is one Buffer and the entry data
 * is copied exactly once (into the frame).
 */
function encodeFrame(kind: FrameKind, value: unknown): Buffer {
  const frame = packr.pack(value, RESERVE_START_SPACE | FRAME_HEADER_BYTES);
  frame.writeUInt32BE(frame.length - LENGTH_PREFIX_BYTES, 0);
  frame[LENGTH_PREFIX_BYTES] = kind;
  return frame;
}

/** The header of a frame whose body the caller writes separately (snapshot chunks: no copy). */
export function encodeFrameHeader(kind: FrameKind, bodyBytes: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(bodyBytes + 1, 0);
  header[LENGTH_PREFIX_BYTES] = kind;
  return header;
}

export function encodeHello(hello: Hello): Buffer {
  return encodeFrame(FrameKind.Hello, [PROTOCOL_MAGIC, PROTOCOL_VERSION, hello.clusterId, hello.from, hello.to, hello.purpose]);
}

export function encodeHelloAccepted(accepted: HelloAccepted): Buffer {
  return encodeFrame(FrameKind.HelloAccepted, [PROTOCOL_MAGIC, PROTOCOL_VERSION, accepted.clusterId, accepted.nodeId]);
}

/**
 * `[reason]`, or `[reason, code]` when there is a code: a refusal without one keeps the 1-tuple
 * that peers older than the code decode, so only the "removed" refusal is new to them.
 */
export function encodeHelloRefused(refused: HelloRefused): Buffer {
  assert(refused.code.length <= REFUSAL_CODE_LENGTH_MAX, () => `refusal code ${JSON.stringify(refused.code)} exceeds ${REFUSAL_CODE_LENGTH_MAX} characters`);
  const reason = refused.reason.slice(0, REASON_LENGTH_MAX);
  return encodeFrame(FrameKind.HelloRefused, refused.code === REFUSAL_CODE_NONE ? [reason] : [reason, refused.code]);
}

export function encodeMessage(message: Message): Buffer {
  const frame = writeMessageFrame(message, FRAME_HEADER_BYTES);
  frame.writeUInt32BE(frame.length - LENGTH_PREFIX_BYTES, 0);
  frame[LENGTH_PREFIX_BYTES] = FrameKind.Message;
  return frame;
}

export function encodeAppFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
  frame.writeUInt32BE(payload.byteLength + 1, 0);
  frame[LENGTH_PREFIX_BYTES] = FrameKind.App;
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

export function encodeSnapshotHeader(message: Message): Buffer {
  assert(message.type === MessageType.Snapshot && message.snapshot !== undefined, "a snapshot header needs a snapshot message");
  return encodeFrame(FrameKind.SnapshotHeader, [messageTuple(message), message.snapshot.data.byteLength]);
}

export function encodeSnapshotAck(ack: SnapshotAck): Buffer {
  return encodeFrame(FrameKind.SnapshotAck, [ack.ok, ack.reason.slice(0, REASON_LENGTH_MAX)]);
}

/** The tuple msgpackr packs for a snapshot header; message-writer.ts writes the same shape by hand. */
export function messageTuple(m: Message): unknown[] {
  const meta = m.snapshot?.meta;
  return [
    m.type,
    m.from,
    m.to,
    m.term,
    m.logTerm,
    m.index,
    m.commit,
    m.reject,
    m.rejectHint,
    flattenEntries(m.entries),
    m.context ?? null,
    meta === undefined ? null : [meta.index, meta.term, meta.confState.voters, meta.confState.learners],
  ];
}

/** Entries as one flat array [term, index, type, data, term, ...]: no array per entry. */
function flattenEntries(entries: readonly Entry[]): readonly unknown[] {
  if (entries.length === 0) return NO_FIELDS;
  const flat = new Array<unknown>(entries.length * ENTRY_FIELDS);
  let at = 0;
  for (const entry of entries) {
    flat[at++] = entry.term;
    flat[at++] = entry.index;
    flat[at++] = entry.type;
    flat[at++] = entry.data;
  }
  return flat;
}

/**
 * Bytes a message is counted for in a peer queue: an upper bound of its encoded frame, cheap
 * to compute (no encoding).
 */
export function estimateMessageBytes(m: Message): number {
  let bytes = 96 + 3 * (m.from.length + m.to.length + (m.context?.length ?? 0));
  for (const entry of m.entries) bytes += entry.data.byteLength + 32;
  return bytes;
}

// ---------------------------------------------------------------------------------------
// Decoding and validation

function badMessage(reason: string): never {
  throw new TransportError("bad-message", reason);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  return typeof value === "object" ? `an object (${(value as object).constructor?.name ?? "no prototype"})` : typeof value;
}

/**
 * Decodes from a plain Uint8Array view of the frame, so the byte strings msgpackr returns are
 * plain Uint8Array views too (it subarrays its source): entry data arrives as the type that
 * was sent, without a copy and without a second view per entry.
 */
function unpack(body: Uint8Array, what: string): unknown {
  const source = body.constructor === Uint8Array ? body : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  try {
    return unpackr.unpack(source);
  } catch (error) {
    return badMessage(`${what} is not valid MessagePack: ${(error as Error).message}`);
  }
}

function tuple(value: unknown, length: number, what: string): readonly unknown[] {
  if (!Array.isArray(value) || value.length !== length) badMessage(`${what} must be an array of ${length}, got ${describe(value)}`);
  return value;
}

function uint(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) badMessage(`${what} must be a non-negative integer, got ${describe(value)}`);
  return value as number;
}

function bool(value: unknown, what: string): boolean {
  if (typeof value !== "boolean") badMessage(`${what} must be a boolean, got ${describe(value)}`);
  return value;
}

function text(value: unknown, lengthMax: number, what: string): string {
  if (typeof value !== "string" || value.length > lengthMax) badMessage(`${what} must be a string of at most ${lengthMax} characters, got ${describe(value)}`);
  return value;
}

export function id(value: unknown, what: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > PEER_ID_LENGTH_MAX) {
    badMessage(`${what} must be a non-empty string of at most ${PEER_ID_LENGTH_MAX} characters, got ${describe(value)}`);
  }
  return value;
}

function bytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) badMessage(`${what} must be bytes, got ${describe(value)}`);
  return value;
}

function ids(value: unknown, what: string): NodeId[] {
  if (!Array.isArray(value)) badMessage(`${what} must be an array of node ids, got ${describe(value)}`);
  return value.map((item, i) => id(item, `${what}[${i}]`));
}

export function decodeHello(body: Uint8Array): Hello {
  const fields = unpack(body, "hello");
  if (!Array.isArray(fields) || fields[0] !== PROTOCOL_MAGIC) {
    throw new TransportError("bad-frame", "not a Flotilla peer handshake (magic missing)");
  }
  const version = uint(fields[1], "hello.version");
  if (version !== PROTOCOL_VERSION) {
    throw new TransportError("handshake-refused", `unsupported protocol version ${version} (this node speaks ${PROTOCOL_VERSION})`);
  }
  tuple(fields, 6, "hello");
  const purpose = fields[5];
  if (purpose !== "stream" && purpose !== "snapshot") badMessage(`hello.purpose must be "stream" or "snapshot", got ${describe(purpose)}`);
  return { clusterId: id(fields[2], "hello.clusterId"), from: id(fields[3], "hello.from"), to: id(fields[4], "hello.to"), purpose };
}

export function decodeHelloAccepted(body: Uint8Array): HelloAccepted {
  const fields = tuple(unpack(body, "hello-accepted"), 4, "hello-accepted");
  if (fields[0] !== PROTOCOL_MAGIC) throw new TransportError("bad-frame", "not a Flotilla peer handshake (magic missing)");
  const version = uint(fields[1], "hello-accepted.version");
  if (version !== PROTOCOL_VERSION) {
    throw new TransportError("handshake-refused", `peer speaks protocol version ${version} (this node speaks ${PROTOCOL_VERSION})`);
  }
  return { clusterId: id(fields[2], "hello-accepted.clusterId"), nodeId: id(fields[3], "hello-accepted.nodeId") };
}

/** Accepts `[reason]` (peers older than the code, and refusals without one) and `[reason, code]`. */
export function decodeHelloRefused(body: Uint8Array): HelloRefused {
  const fields = unpack(body, "hello-refused");
  if (!Array.isArray(fields) || (fields.length !== 1 && fields.length !== 2)) {
    badMessage(`hello-refused must be an array of 1 or 2, got ${describe(fields)}`);
  }
  const reason = text(fields[0], REASON_LENGTH_MAX, "hello-refused.reason");
  const code = fields.length === 2 ? text(fields[1], REFUSAL_CODE_LENGTH_MAX, "hello-refused.code") : REFUSAL_CODE_NONE;
  return { reason, code };
}

export function decodeSnapshotAck(body: Uint8Array): SnapshotAck {
  const fields = tuple(unpack(body, "snapshot-ack"), 2, "snapshot-ack");
  return { ok: bool(fields[0], "snapshot-ack.ok"), reason: text(fields[1], REASON_LENGTH_MAX, "snapshot-ack.reason") };
}

export function decodeMessage(body: Uint8Array): Message {
  const message = messageFromTuple(unpack(body, "message"));
  if (message.type === MessageType.Snapshot) badMessage("a snapshot message must travel on a snapshot connection");
  return message;
}

export function decodeSnapshotHeader(body: Uint8Array): SnapshotHeader {
  const fields = tuple(unpack(body, "snapshot header"), 2, "snapshot header");
  const message = messageFromTuple(fields[0]);
  if (message.type !== MessageType.Snapshot) badMessage(`a snapshot header must carry a snapshot message, got ${message.type}`);
  return { message, totalBytes: uint(fields[1], "snapshot header.totalBytes") };
}

function messageFromTuple(value: unknown): Message {
  const f = tuple(value, MESSAGE_TUPLE_LENGTH, "message");
  const type = f[0];
  if (typeof type !== "string" || !NETWORK_MESSAGE_TYPES.has(type)) badMessage(`message.type must be a network message type, got ${describe(type)}`);
  const index = uint(f[5], "message.index");
  const message: {
    -readonly [K in keyof Message]: Message[K];
  } = {
    type: type as MessageType,
    from: id(f[1], "message.from"),
    to: id(f[2], "message.to"),
    term: uint(f[3], "message.term"),
    logTerm: uint(f[4], "message.logTerm"),
    index,
    entries: entriesFromFlat(f[9], type === MessageType.Append ? index + 1 : undefined),
    commit: uint(f[6], "message.commit"),
    reject: bool(f[7], "message.reject"),
    rejectHint: uint(f[8], "message.rejectHint"),
  };
  if (f[10] !== null) message.context = text(f[10], Number.MAX_SAFE_INTEGER, "message.context");
  if ((f[11] !== null) !== (type === MessageType.Snapshot)) badMessage("message.snapshot must be present exactly on snapshot messages");
  if (f[11] !== null) message.snapshot = { meta: snapshotMetaFromTuple(f[11]), data: EMPTY_BYTES };
  return message;
}

const EMPTY_BYTES = new Uint8Array(0);

function entriesFromFlat(value: unknown, firstIndex: number | undefined): Entry[] {
  if (!Array.isArray(value) || value.length % ENTRY_FIELDS !== 0) badMessage(`message.entries must be a flat array of [term, index, type, data] groups, got ${describe(value)}`);
  const entries = new Array<Entry>(value.length / ENTRY_FIELDS);
  let expectedIndex = firstIndex ?? value[1];
  // The hot loop of every append: checks inline, error text built only on failure.
  for (let i = 0, at = 0; i < entries.length; i++, at += ENTRY_FIELDS) {
    const term: unknown = value[at];
    const index: unknown = value[at + 1];
    const type: unknown = value[at + 2];
    const data: unknown = value[at + 3];
    if (!Number.isSafeInteger(term) || (term as number) < 0) uint(term, `message.entries[${i}].term`);
    if (!Number.isSafeInteger(index) || (index as number) < 0) uint(index, `message.entries[${i}].index`);
    if (type !== EntryType.Normal && type !== EntryType.ConfChange) entryType(type, `message.entries[${i}].type`);
    if (!(data instanceof Uint8Array)) bytes(data, `message.entries[${i}].data`);
    if (index !== expectedIndex) badMessage(`message.entries[${i}].index must be ${expectedIndex} (entries are consecutive and follow message.index), got ${index}`);
    expectedIndex = (index as number) + 1;
    entries[i] = { term: term as number, index: index as number, type: type as EntryType, data: data as Uint8Array };
  }
  return entries;
}

function entryType(value: unknown, what: string): EntryType {
  if (value !== EntryType.Normal && value !== EntryType.ConfChange) badMessage(`${what} must be an EntryType, got ${describe(value)}`);
  return value;
}

function snapshotMetaFromTuple(value: unknown): SnapshotMeta {
  const f = tuple(value, 4, "message.snapshot.meta");
  const confState: ConfState = { voters: ids(f[2], "message.snapshot.meta.voters"), learners: ids(f[3], "message.snapshot.meta.learners") };
  return { index: uint(f[0], "message.snapshot.meta.index"), term: uint(f[1], "message.snapshot.meta.term"), confState };
}
