import { describe, expect, it } from "vitest";
import { lineUp, type TraceLine } from "./timeline.js";

/** Two writes (entries 7 and 8) through leader n1 and follower n2, times in ms. */
function traces(): TraceLine[] {
  const write = (t: number, index: number): TraceLine[] => [
    { at: t, node: "n1", step: "http-in" },
    { at: t + 0.1, node: "n1", step: "proposed", first: index, last: index },
    { at: t + 0.15, node: "n1", step: "append-sent", peer: "n2", first: index, last: index },
    { at: t + 0.4, node: "n2", step: "append-received", peer: "n1", first: index, last: index },
    { at: t + 0.9, node: "n2", step: "ack-sent", peer: "n1", last: index },
    { at: t + 1.2, node: "n1", step: "committed", first: index, last: index },
    { at: t + 1.5, node: "n1", step: "http-out" },
  ];
  // The follower's commit notice of the first write comes after the second request arrived.
  return [...write(100, 7), ...write(102, 8), { at: 102.05, node: "n2", step: "committed", first: 7, last: 7 }].sort((a, b) => a.at - b.at);
}

describe("lineUp", () => {
  it("finds each step of each write by its log index and reports the median time since the request arrived", () => {
    const steps = lineUp(traces(), "n1", 0);
    const at = (step: string, node: string) => steps.find((s) => s.step === step && s.node === node);
    expect(at("proposed", "n1")).toMatchObject({ medianUs: 100, writes: 2 });
    expect(at("append-received (n1)", "n2")).toMatchObject({ medianUs: 400, writes: 2 });
    expect(at("committed", "n1")).toMatchObject({ medianUs: 1200, writes: 2 });
    // A follower's step of write 7 counts even after write 8 began; write 8's own were not seen.
    expect(at("committed", "n2")).toMatchObject({ medianUs: 2050, writes: 1 });
    expect(steps.map((s) => s.medianUs)).toEqual([...steps.map((s) => s.medianUs)].sort((a, b) => a - b));
  });

  it("skips the warm-up writes", () => {
    expect(lineUp(traces(), "n1", 1).find((s) => s.step === "proposed")).toMatchObject({ writes: 1 });
  });
});
