import { describe, expect, it } from "vitest";
import { parseSimArgs, replayCommand, runSimCommand } from "./cli.js";
import { FAULT_KINDS, SimUsageError, formatFaults, parseFaults } from "./faults.js";

function capture(): { out: string[]; err: string[]; io: { stdout: (t: string) => void; stderr: (t: string) => void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: (text) => out.push(text), stderr: (text) => err.push(text) } };
}

describe("flotilla sim", () => {
  it("parses its arguments, with the documented defaults", () => {
    const options = parseSimArgs(["--seeds", "10", "--seed", "5", "--faults", "crash,loss", "--nodes=3"]);
    expect(options).toMatchObject({ firstSeed: 5, seeds: 10, nodes: 3 });
    expect([...options.faults].sort()).toEqual(["crash", "loss"]);
    const defaults = parseSimArgs([]);
    expect(defaults.nodes).toBe(5);
    expect(defaults.seeds).toBe(100);
    expect(defaults.faults.size).toBe(FAULT_KINDS.length);
    expect(parseSimArgs(["--seed", "9"]).seeds).toBe(1);
  });

  it("rejects bad arguments with a message that names them", () => {
    expect(() => parseSimArgs(["--nodes", "9"])).toThrow(/--nodes must be an integer in 3..7/);
    expect(() => parseSimArgs(["--seeds", "ten"])).toThrow(SimUsageError);
    expect(() => parseSimArgs(["--faults", "loss,fire"])).toThrow(/unknown fault "fire"/);
    expect(() => parseSimArgs(["--verbose"])).toThrow(/unknown argument "--verbose"/);
    expect(() => parseSimArgs(["--seed"])).toThrow(/--seed needs a value/);
  });

  it("spells fault sets the way --faults reads them", () => {
    expect(formatFaults(parseFaults("all"))).toBe("all");
    expect(formatFaults(parseFaults("none"))).toBe("none");
    expect(formatFaults(parseFaults("transfer,loss"))).toBe("loss,transfer");
    expect(replayCommand({ nodes: 7, faults: parseFaults("crash") }, 12)).toBe("npx flotilla sim --seed 12 --nodes 7 --faults crash");
  });

  it("runs seeds S..S+N-1 and ends with exactly one JSON line on stdout", async () => {
    const { out, err, io } = capture();
    const code = await runSimCommand(["--seeds", "3", "--seed", "20", "--nodes", "3", "--ticks", "400"], io);
    expect(code).toBe(0);
    const stdout = out.join("");
    expect(stdout.endsWith("\n")).toBe(true);
    expect(stdout.trim().split("\n")).toHaveLength(1);
    const summary = JSON.parse(stdout) as Record<string, number>;
    expect(Object.keys(summary)).toEqual(["seeds", "ops", "violations", "unknown", "seconds"]);
    expect(summary.seeds).toBe(3);
    expect(summary.violations).toBe(0);
    expect(summary.ops).toBeGreaterThan(0);
    expect(err.join("")).toContain("seeds 20..22, 3 nodes, faults all");
    expect(err.join("")).toContain("3/3 seeds");
  });

  it("exits 2 with the usage on a bad argument, printing nothing on stdout", async () => {
    const { out, err, io } = capture();
    expect(await runSimCommand(["--nodes", "1"], io)).toBe(2);
    expect(out).toEqual([]);
    expect(err.join("")).toMatch(/usage: flotilla sim/);
  });

  it("prints its usage on --help and exits 0", async () => {
    const { out, err, io } = capture();
    expect(await runSimCommand(["--help"], io)).toBe(0);
    expect(out.join("")).toMatch(/^usage: flotilla sim/);
    expect(err).toEqual([]);
  });
});
