/**
 * Membership changes travel through the log as ConfChange entries, one server at a time.
 * The encoding is a tiny versioned binary layout so that raft needs no codec library.
 */
import { assert } from "../util/assert.js";
import { ConfChangeType, type ConfChange, type ConfState, type NodeId } from "./types.js";

const CONF_CHANGE_FORMAT_VERSION = 1;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

export class ConfChangeDecodeError extends Error {
  override name = "ConfChangeDecodeError";
}

/** Layout: version u8, type u8, id length u16, id UTF-8, context length u32, context bytes. */
export function encodeConfChange(change: ConfChange): Uint8Array {
  const id = utf8Encoder.encode(change.node);
  const context = change.context ?? new Uint8Array(0);
  const out = new Uint8Array(2 + 2 + id.length + 4 + context.length);
  const view = new DataView(out.buffer);
  out[0] = CONF_CHANGE_FORMAT_VERSION;
  out[1] = change.type;
  view.setUint16(2, id.length);
  out.set(id, 4);
  view.setUint32(4 + id.length, context.length);
  out.set(context, 8 + id.length);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const fail = (why: string): never => {
    throw new ConfChangeDecodeError(`malformed membership change entry: ${why}`);
  };
  if (data.length < 8) fail(`${data.length} bytes is too short`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data[0] !== CONF_CHANGE_FORMAT_VERSION) fail(`unknown format version ${data[0]}`);
  const type = data[1]!;
  if (type !== ConfChangeType.AddVoter && type !== ConfChangeType.AddLearner && type !== ConfChangeType.Remove) fail(`unknown change type ${type}`);
  const idLength = view.getUint16(2);
  if (4 + idLength + 4 > data.length) fail("node id runs past the end");
  const contextLength = view.getUint32(4 + idLength);
  if (8 + idLength + contextLength !== data.length) fail("context length does not match the entry size");
  let node: NodeId = "";
  try {
    node = utf8Decoder.decode(data.subarray(4, 4 + idLength));
  } catch {
    fail("node id is not UTF-8");
  }
  if (node.length === 0) fail("empty node id");
  const context = data.slice(8 + idLength);
  return context.length > 0 ? { type, node, context } : { type, node };
}

/** The membership that results from applying one change to `conf`. */
export function applyChange(conf: ConfState, change: ConfChange): ConfState {
  const voters = conf.voters.filter((id) => id !== change.node);
  const learners = conf.learners.filter((id) => id !== change.node);
  if (change.type === ConfChangeType.AddVoter) voters.push(change.node);
  else if (change.type === ConfChangeType.AddLearner) {
    // etcd's rule: a voter is never demoted straight to a learner by AddLearner.
    if (conf.voters.includes(change.node)) voters.push(change.node);
    else learners.push(change.node);
  }
  voters.sort();
  learners.sort();
  const result: ConfState = { voters, learners };
  assert(!voters.some((id) => learners.includes(id)), "a node is never both voter and learner");
  return result;
}

export function isMember(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}
