/**
 * The simulator's own replicated state machine: a tiny in-memory key-value map. It is not
 * src/kv (SQLite) on purpose: thousands of seeds must run in minutes, and what the simulator
 * proves is the consensus core beneath any state machine.
 */
import type { KvOutput } from "../check/index.js";

/** A client's write or compare-and-set, as it travels through the log. `op` is unique per run. */
export type KvCommand =
  | { readonly op: string; readonly kind: "write"; readonly key: string; readonly value: string }
  | { readonly op: string; readonly kind: "cas"; readonly key: string; readonly expected: string | null; readonly value: string };

export class KvCommandError extends Error {
  override name = "KvCommandError";
  readonly code = "sim_command_invalid";
}

/** A deliberate bug, for the test that proves the checker catches a broken state machine. */
export type KvMachineBug = "lost-write";

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeCommand(command: KvCommand): Uint8Array {
  return utf8Encoder.encode(JSON.stringify(command));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  let raw: unknown;
  try {
    raw = JSON.parse(utf8Decoder.decode(data));
  } catch (error) {
    throw new KvCommandError(`entry is not a JSON command: ${(error as Error).message}`);
  }
  const fields = raw as Record<string, unknown>;
  const isString = (value: unknown): value is string => typeof value === "string";
  if (typeof raw !== "object" || raw === null || !isString(fields.op) || !isString(fields.key) || !isString(fields.value)) {
    throw new KvCommandError("command needs string op, key and value");
  }
  if (fields.kind === "write") return { op: fields.op, kind: "write", key: fields.key, value: fields.value };
  if (fields.kind === "cas" && (fields.expected === null || isString(fields.expected))) {
    return { op: fields.op, kind: "cas", key: fields.key, expected: fields.expected, value: fields.value };
  }
  throw new KvCommandError(`unknown command kind ${JSON.stringify(fields.kind)} or bad expected value`);
}

export class KvMachine {
  readonly #data: Map<string, string>;
  readonly #bug: KvMachineBug | undefined;
  #digest: string | undefined;

  constructor(bug?: KvMachineBug, data = new Map<string, string>()) {
    this.#bug = bug;
    this.#data = data;
  }

  apply(command: KvCommand): KvOutput {
    this.#digest = undefined;
    if (command.kind === "write") {
      if (!(this.#bug === "lost-write" && loses(command.op))) this.#data.set(command.key, command.value);
      return { kind: "write" };
    }
    const current = this.#data.get(command.key) ?? null;
    if (current !== command.expected) return { kind: "cas", succeeded: false };
    this.#data.set(command.key, command.value);
    return { kind: "cas", succeeded: true };
  }

  read(key: string): string | null {
    return this.#data.get(key) ?? null;
  }

  /** The snapshot image: sorted [key, value] pairs as JSON. */
  image(): Uint8Array {
    return utf8Encoder.encode(this.digest());
  }

  /** Two machines with equal digests hold equal data. */
  digest(): string {
    this.#digest ??= JSON.stringify([...this.#data].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return this.#digest;
  }

  static restore(image: Uint8Array, bug?: KvMachineBug): KvMachine {
    if (image.length === 0) return new KvMachine(bug);
    let pairs: unknown;
    try {
      pairs = JSON.parse(utf8Decoder.decode(image));
    } catch (error) {
      throw new KvCommandError(`snapshot image is not JSON: ${(error as Error).message}`);
    }
    const valid = Array.isArray(pairs) && pairs.every((pair) => Array.isArray(pair) && pair.length === 2 && pair.every((part) => typeof part === "string"));
    if (!valid) throw new KvCommandError("snapshot image is not a list of [key, value] string pairs");
    return new KvMachine(bug, new Map(pairs as [string, string][]));
  }
}

/** The lost-write bug drops one write in four, chosen by op id so every replica drops the same. */
function loses(op: string): boolean {
  let hash = 0;
  for (let i = 0; i < op.length; i++) hash = (Math.imul(hash, 31) + op.charCodeAt(i)) >>> 0;
  return hash % 4 === 0;
}
