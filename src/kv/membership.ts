/**
 * Member addresses travel in ConfChange.context (opaque to Raft) so every replica, and every
 * node restored from a snapshot, learns them through the log. Format: MessagePack
 * `{ peer: "host:port", client?: "http://host:port" }`.
 */
import { Packr } from "msgpackr";
import { MalformedCommandError } from "./errors.js";
import { MEMBER_ADDRESS_BYTES_MAX } from "../util/limits.js";

export interface MemberAddresses {
  /** Peer (Raft transport) address, HOST:PORT. */
  readonly peer: string;
  /** Client (HTTP) address; "" when not known yet. */
  readonly client: string;
  /** A learner that joined on its own (--join): the leader promotes it once it has caught up. */
  readonly autoPromote: boolean;
}

export interface Member extends MemberAddresses {
  readonly id: string;
  readonly voter: boolean;
}

const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

export function encodeMemberContext(addresses: { readonly peer: string; readonly client?: string; readonly autoPromote?: boolean }): Uint8Array {
  const clean = checkAddresses(addresses);
  const wire: Record<string, unknown> = { peer: clean.peer };
  if (clean.client !== "") wire.client = clean.client;
  if (clean.autoPromote) wire.autoPromote = true;
  return packr.pack(wire);
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

function checkAddresses(raw: { readonly peer?: unknown; readonly client?: unknown; readonly autoPromote?: unknown }): MemberAddresses {
  for (const field of Object.keys(raw)) {
    if (field !== "peer" && field !== "client" && field !== "autoPromote") throw new MalformedCommandError(`membership context has an unknown field ${JSON.stringify(field)}`);
  }
  const autoPromote = raw.autoPromote ?? false;
  if (typeof autoPromote !== "boolean") throw new MalformedCommandError("membership context autoPromote must be a boolean");
  return { peer: checkAddress(raw.peer, "peer", false), client: checkAddress(raw.client ?? "", "client", true), autoPromote };
}

function checkAddress(raw: unknown, what: string, emptyAllowed: boolean): string {
  if (typeof raw !== "string") throw new MalformedCommandError(`membership context ${what} address must be a string`);
  if (raw.length === 0 && !emptyAllowed) throw new MalformedCommandError(`membership context ${what} address must not be empty`);
  const bytes = Buffer.byteLength(raw, "utf8");
  if (bytes > MEMBER_ADDRESS_BYTES_MAX) throw new MalformedCommandError(`membership context ${what} address is ${bytes} bytes, more than ${MEMBER_ADDRESS_BYTES_MAX}`);
  return raw;
}
