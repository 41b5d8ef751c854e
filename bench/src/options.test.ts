import { describe, expect, it } from "vitest";
import { parseBenchArgs } from "./options.js";

const parse = (...argv: string[]) => parseBenchArgs(argv, "/r");

describe("bench options", () => {
  it("has full-length defaults, and a quick mode for CI", () => {
    expect(parse()).toMatchObject({ vsEtcd: false, quick: false, warmupSeconds: 3, durationSeconds: 15, generators: 1, target: "all", memoryKeys: 100_000, resultsDir: "/r", rounds: 1 });
    expect(parse("--rounds", "3")).toMatchObject({ rounds: 3 });
    expect(parse("--quick", "--vs", "etcd")).toMatchObject({ vsEtcd: true, quick: true, warmupSeconds: 1, durationSeconds: 2, memoryKeys: 5_000 });
    expect(parse("--quick", "--duration", "4")).toMatchObject({ durationSeconds: 4 });
  });

  it("selects workloads by name and names the known ones when one is unknown", () => {
    const options = parse("--only", "write-1c-100B,read-lin-64c-100B");
    expect(options !== "help" && options.workloads.map((w) => w.name)).toEqual(["write-1c-100B", "read-lin-64c-100B"]);
    expect(() => parse("--only", "write-2c")).toThrow(/unknown workload write-2c; known: write-1c-100B/);
  });

  it("refuses bad usage with a message naming the option", () => {
    expect(() => parse("--vs", "redis")).toThrow(/--vs takes "etcd"/);
    expect(() => parse("--duration", "soon")).toThrow(/--duration must be/);
    expect(() => parse("--generators", "0")).toThrow(/--generators must be an integer/);
    expect(() => parse("--target", "everyone")).toThrow(/--target must be all, leader or followers/);
    expect(() => parse("--rounds", "0")).toThrow(/--rounds must be an integer in \[1, 9\]/);
    expect(() => parse("--fast")).toThrow(/Unknown option/);
    expect(parse("--help")).toBe("help");
  });
});
