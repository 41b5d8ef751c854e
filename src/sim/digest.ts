/**
 * A running 64-bit FNV-1a hash (two 32-bit lanes) of everything a run does. Two runs of one
 * seed must end with the same digest: that is the determinism test, and it is what makes a
 * printed seed a faithful replay.
 */
const FNV_PRIME = 0x01000193;

export class TraceDigest {
  #low = 0x811c9dc5;
  #high = 0x050c5d1f;
  #events = 0;

  /** Mixes one integer (any safe integer; negative and fractional values are folded). */
  number(value: number): void {
    const low = value >>> 0;
    const high = Math.floor(value / 4294967296) >>> 0;
    this.#mix32(low);
    this.#mix32(high);
  }

  string(text: string): void {
    this.number(text.length);
    for (let i = 0; i < text.length; i++) this.#mix32(text.charCodeAt(i));
  }

  bytes(data: Uint8Array): void {
    this.number(data.length);
    for (let i = 0; i < data.length; i++) this.#mix32(data[i]!);
  }

  /** Marks the start of an event of the given kind, so different event sequences differ. */
  event(kind: string): void {
    this.#events++;
    this.string(kind);
  }

  get events(): number {
    return this.#events;
  }

  hex(): string {
    return (this.#high >>> 0).toString(16).padStart(8, "0") + (this.#low >>> 0).toString(16).padStart(8, "0");
  }

  #mix32(value: number): void {
    this.#low = Math.imul(this.#low ^ (value & 0xffff), FNV_PRIME);
    this.#high = Math.imul(this.#high ^ (value >>> 16) ^ (this.#low >>> 7), FNV_PRIME);
  }
}

/** A 32-bit FNV-1a hash of bytes: identifies an entry's payload in the invariant tables. */
export function hashBytes(data: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) hash = Math.imul(hash ^ data[i]!, FNV_PRIME);
  return hash >>> 0;
}
