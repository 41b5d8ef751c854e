import { describe, expect, it } from "vitest";
import { SeededRandom } from "./random.js";
import { Histogram } from "./histogram.js";

function exactQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

describe("Histogram", () => {
  it("is exact for small latencies", () => {
    const histogram = new Histogram();
    for (let us = 1; us <= 100; us++) histogram.record(us);
    expect(histogram.quantileUs(0.5)).toBe(50);
    expect(histogram.quantileUs(0.99)).toBe(99);
    expect(histogram.quantileUs(1)).toBe(100);
    expect(histogram.meanUs()).toBeCloseTo(50.5);
  });

  it("keeps every percentile within 1% of the exact one across six orders of magnitude", () => {
    const random = new SeededRandom(42);
    const histogram = new Histogram();
    const values: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      const value = Math.floor(Math.exp(random.float() * Math.log(5_000_000)));
      values.push(value);
      histogram.record(value);
    }
    values.sort((a, b) => a - b);
    for (const q of [0.1, 0.5, 0.9, 0.99, 0.999]) {
      const exact = exactQuantile(values, q);
      expect(Math.abs(histogram.quantileUs(q) - exact) / exact).toBeLessThan(0.01);
    }
    expect(histogram.maxUs()).toBe(values[values.length - 1]);
  });

  it("merges by adding counts: two halves give the whole", () => {
    const random = new SeededRandom(7);
    const whole = new Histogram();
    const left = new Histogram();
    const right = new Histogram();
    for (let i = 0; i < 10_000; i++) {
      const value = random.int(0, 200_000);
      whole.record(value);
      (i % 2 === 0 ? left : right).record(value);
    }
    const merged = Histogram.from(left.toData());
    merged.add(right.toData());
    expect(merged.count).toBe(whole.count);
    for (const q of [0.5, 0.99, 0.999]) expect(merged.quantileUs(q)).toBe(whole.quantileUs(q));
    expect(merged.toData()).toEqual(whole.toData());
  });

  it("clamps absurd latencies instead of growing, and reports 0 when empty", () => {
    const histogram = new Histogram();
    expect(histogram.quantileUs(0.99)).toBe(0);
    histogram.record(1e15);
    histogram.record(-5);
    expect(histogram.count).toBe(2);
    expect(histogram.maxUs()).toBe(2 ** 30);
    expect(histogram.quantileUs(0.5)).toBe(0);
  });

  it("rejects a histogram whose bucket index is out of range", () => {
    expect(() => Histogram.from({ buckets: [[1e9, 1]], count: 1, sumUs: 1, minUs: 1, maxUs: 1 })).toThrow(/out of range/);
  });
});
