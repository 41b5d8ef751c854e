/**
 * A latency histogram with bounded memory and relative precision (HdrHistogram's log-linear
 * layout): values below 256 µs are exact, above that each power of two is cut into 128 equal
 * buckets, so a percentile is within 0.8% of the true value at any magnitude. Histograms from
 * several generator processes merge by adding their counts.
 */
import { assert } from "./assert.js";
import { BENCH_LATENCY_US_MAX } from "./limits.js";

const SUB_BUCKET_BITS = 8;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
const HALF_SUB_BUCKETS = SUB_BUCKETS >> 1;
const TOP_BIT = 31 - Math.clz32(BENCH_LATENCY_US_MAX);
const BUCKETS = SUB_BUCKETS + (TOP_BIT - SUB_BUCKET_BITS + 1) * HALF_SUB_BUCKETS;

/** A histogram as it travels between processes: [bucket index, count] pairs, plus exact extremes. */
export interface HistogramData {
  readonly buckets: readonly (readonly [number, number])[];
  readonly count: number;
  readonly sumUs: number;
  readonly minUs: number;
  readonly maxUs: number;
}

export class Histogram {
  readonly #counts = new Float64Array(BUCKETS);
  #count = 0;
  #sumUs = 0;
  #minUs = Infinity;
  #maxUs = 0;

  static from(data: HistogramData): Histogram {
    const histogram = new Histogram();
    histogram.add(data);
    return histogram;
  }

  get count(): number {
    return this.#count;
  }

  /** Records one latency, in microseconds (fractions are dropped; beyond the maximum it is clamped). */
  record(latencyUs: number): void {
    const value = Math.min(Math.max(0, Math.floor(latencyUs)), BENCH_LATENCY_US_MAX);
    this.#counts[bucketOf(value)]! += 1;
    this.#count += 1;
    this.#sumUs += value;
    if (value < this.#minUs) this.#minUs = value;
    if (value > this.#maxUs) this.#maxUs = value;
  }

  add(data: HistogramData): void {
    for (const [index, count] of data.buckets) {
      assert(Number.isInteger(index) && index >= 0 && index < BUCKETS, `histogram bucket ${index} out of range`);
      this.#counts[index]! += count;
    }
    this.#count += data.count;
    this.#sumUs += data.sumUs;
    if (data.count > 0) {
      this.#minUs = Math.min(this.#minUs, data.minUs);
      this.#maxUs = Math.max(this.#maxUs, data.maxUs);
    }
  }

  /** The latency (µs) at or below which a fraction q of the recorded values lie; 0 when empty. */
  quantileUs(q: number): number {
    assert(q >= 0 && q <= 1, `quantile ${q} outside [0, 1]`);
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let index = 0; index < BUCKETS; index++) {
      seen += this.#counts[index]!;
      if (seen >= rank) return Math.min(Math.max(midpointOf(index), this.#minUs), this.#maxUs);
    }
    return this.#maxUs;
  }

  meanUs(): number {
    return this.#count === 0 ? 0 : this.#sumUs / this.#count;
  }

  maxUs(): number {
    return this.#maxUs;
  }

  toData(): HistogramData {
    const buckets: [number, number][] = [];
    for (let index = 0; index < BUCKETS; index++) {
      const count = this.#counts[index]!;
      if (count > 0) buckets.push([index, count]);
    }
    return { buckets, count: this.#count, sumUs: this.#sumUs, minUs: this.#count === 0 ? 0 : this.#minUs, maxUs: this.#maxUs };
  }
}

function bucketOf(value: number): number {
  if (value < SUB_BUCKETS) return value;
  const topBit = 31 - Math.clz32(value);
  const shift = topBit - SUB_BUCKET_BITS + 1;
  return SUB_BUCKETS + (shift - 1) * HALF_SUB_BUCKETS + ((value >>> shift) - HALF_SUB_BUCKETS);
}

/** The middle of the range of values that land in a bucket. */
function midpointOf(index: number): number {
  if (index < SUB_BUCKETS) return index;
  const shift = Math.floor((index - SUB_BUCKETS) / HALF_SUB_BUCKETS) + 1;
  const mantissa = ((index - SUB_BUCKETS) % HALF_SUB_BUCKETS) + HALF_SUB_BUCKETS;
  const low = mantissa * 2 ** shift;
  return low + (2 ** shift - 1) / 2;
}
