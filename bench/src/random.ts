/**
 * A small seeded generator (mulberry32) for the load generator's key and operation draws: each
 * connection's sequence depends only on its seed, so both systems get the same requests.
 * Statistical quality well beyond a uniform choice among 10,000 keys is not needed here.
 */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [low, high). */
  int(low: number, high: number): number {
    if (!(high > low)) throw new RangeError(`SeededRandom.int: empty range [${low}, ${high})`);
    return low + Math.floor(this.float() * (high - low));
  }

  /** True with the given probability. */
  chance(probability: number): boolean {
    return this.float() < probability;
  }
}
