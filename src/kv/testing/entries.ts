/** Builders for the kv tests: log entries holding commands, as Raft would commit them. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { encodeCommand, type Command, type CommandBody } from "../command.js";
import type { CommandInput, Membership, MembershipInput } from "../input.js";
import { encodeMemberContext } from "../membership.js";

const utf8 = new TextEncoder();

export function bytes(text: string): Uint8Array {
  return utf8.encode(text);
}

export function text(value: Uint8Array): string {
  return Buffer.from(value).toString("utf8");
}

/** Hands out consecutive indexes, like a Raft log, with the commands and membership changes the node would hand kv. */
export class EntryLog {
  #nextIndex: number;
  #requests = 0;
  term: number;

  constructor(firstIndex = 1, term = 1) {
    this.#nextIndex = firstIndex;
    this.term = term;
  }

  command(body: CommandBody, idempotencyKey?: string): CommandInput {
    const requestId = `req-${++this.#requests}`;
    const command: Command = idempotencyKey === undefined ? { ...body, requestId } : { ...body, requestId, idempotencyKey };
    return this.raw(encodeCommand(command));
  }

  put(key: string, value: string, extra: { lease?: number; ifModRevision?: number } = {}, idempotencyKey?: string): CommandInput {
    return this.command({ type: "put", payload: { key, value: bytes(value), ...extra } }, idempotencyKey);
  }

  del(key: string, ifModRevision?: number): CommandInput {
    return this.command({ type: "delete", payload: ifModRevision === undefined ? { key } : { key, ifModRevision } });
  }

  delPrefix(prefix: string): CommandInput {
    return this.command({ type: "deleteRange", payload: { prefix } });
  }

  /** A command entry with arbitrary data (a leader's empty no-op, or deliberately malformed bytes). */
  raw(data: Uint8Array): CommandInput {
    return { kind: "command", index: this.#nextIndex++, term: this.term, data };
  }

  /**
   * A membership change about `node`, with the membership after it; `addresses` travel as the
   * change's context (none: a removal, or a promotion that keeps the known addresses).
   */
  membership(node: string, membership: Membership, addresses?: { peer: string; client?: string; autoPromote?: boolean }): MembershipInput {
    const index = this.#nextIndex++;
    const base = { kind: "membership", index, term: this.term, node, membership } as const;
    return addresses === undefined ? base : { ...base, context: encodeMemberContext(addresses) };
  }
}

/** A fresh directory for file-backed stores; removed by the returned cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-kv-"));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
