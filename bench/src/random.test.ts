import { describe, expect, it } from "vitest";
import { SeededRandom } from "./random.js";

describe("SeededRandom", () => {
  it("repeats its sequence for a seed, and differs between seeds", () => {
    const draw = (seed: number): number[] => {
      const random = new SeededRandom(seed);
      return Array.from({ length: 20 }, () => random.int(0, 1_000_000));
    };
    expect(draw(5)).toEqual(draw(5));
    expect(draw(5)).not.toEqual(draw(6));
  });

  it("spreads int() evenly over its range and keeps within it", () => {
    const random = new SeededRandom(11);
    const counts = new Array<number>(10).fill(0);
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const value = random.int(0, 10);
      if (value >= 0 && value < 10 && Number.isInteger(value)) counts[value]!++;
      else outside++;
    }
    expect(outside).toBe(0);
    // Each bucket expects 10,000 (standard deviation ~95 for a fair draw): ±500 is over five.
    for (const count of counts) expect(Math.abs(count - 10_000)).toBeLessThan(500);
  });

  it("answers chance() with about the asked probability", () => {
    const random = new SeededRandom(3);
    let hits = 0;
    for (let i = 0; i < 100_000; i++) if (random.chance(0.1)) hits++;
    // Expected 10,000, standard deviation ~95.
    expect(Math.abs(hits - 10_000)).toBeLessThan(500);
  });
});
