/**
 * Member addresses travel in ConfChange.context (opaque to Raft) so every replica, and every
 * node restored from a snapshot, learns them through the log. Format: MessagePack
 * `{ peer: "host:port", client?: "http://host:port" }`.
 */
import { Packr } from "msgpackr";
import type { NodeId } from "../raft/types.js";
import { MalformedCommandError } from "./errors.js";
import { MEMBER_ADDRESS_BYTES_MAX } from "../util/limits.js";

export interface MemberAddresses {
  /** Peer (Raft transport) address, HOST:PORT. */
  readonly peer: string;
  /** Client (HTTP) address; "" when not known yet. */
  readonly client: string;
}

export interface Member extends MemberAddresses {
  readonly id: NodeId;
  readonly voter: boolean;
}

const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

export function encodeMemberContext(addresses: { readonly peer: string; readonly client?: string }): Uint8Array {
  const clean = checkAddresses(addresses);
  return packr.pack(clean.client === "" ? { peer: clean.peer } : clean);
}

/** Throws MalformedCommandError naming what is wrong. */
export function decodeMemberContext(context: Uint8Array): MemberAddresses {
  let raw: unknown;
  try {
    raw = packr.unpack(context);
  } catch (error) {
    throw new MalformedCommandError(`membership context is not valid MessagePack: ${(error as Error).message}`, { cause: error });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new MalformedCommandError("membership context must be an object");
  return checkAddresses(raw as Record<string, unknown>);
}

function checkAddresses(raw: { readonly peer?: unknown; readonly client?: unknown }): MemberAddresses {
  for (const field of Object.keys(raw)) {
    if (field !== "peer" && field !== "client") throw new MalformedCommandError(`membership context has an unknown field ${JSON.stringify(field)}`);
  }
  return { peer: checkAddress(raw.peer, "peer", false), client: checkAddress(raw.client ?? "", "client", true) };
}

function checkAddress(raw: unknown, what: string, emptyAllowed: boolean): string {
  if (typeof raw !== "string") throw new MalformedCommandError(`membership context ${what} address must be a string`);
  if (raw.length === 0 && !emptyAllowed) throw new MalformedCommandError(`membership context ${what} address must not be empty`);
  const bytes = Buffer.byteLength(raw, "utf8");
  if (bytes > MEMBER_ADDRESS_BYTES_MAX) throw new MalformedCommandError(`membership context ${what} address is ${bytes} bytes, more than ${MEMBER_ADDRESS_BYTES_MAX}`);
  return raw;
}
