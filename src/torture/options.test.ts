import { describe, expect, it } from "vitest";
import { formatNemesis, parseNemesis, parseTortureArgs, replayCommand, TortureUsageError } from "./options.js";

describe("torture options", () => {
  it("defaults to the issue's run: 5 nodes, 10 clients, 8 keys, 60 s, every nemesis, a random seed", () => {
    const options = parseTortureArgs([]);
    expect(options).toMatchObject({ profile: "default", nodes: 5, clients: 10, keys: 8, durationS: 60, network: "auto", keepData: false });
    expect(formatNemesis(options.nemesis)).toBe("kill,pause,partition,loss,membership");
    expect(Number.isSafeInteger(options.seed)).toBe(true);
  });

  it("profiles set defaults that flags override", () => {
    const lossy = parseTortureArgs(["--profile", "lossy"]);
    expect(formatNemesis(lossy.nemesis)).toBe("pause,loss");
    expect(lossy.pacing).toMatchObject({ lossMin: 0.2, lossMax: 0.3, steadyLoss: true });
    expect(lossy.durationS).toBeGreaterThanOrEqual(180);
    expect(parseTortureArgs(["--profile", "lossy", "--duration", "30", "--nemesis", "loss"])).toMatchObject({ durationS: 30, nemesis: new Set(["loss"]) });
    expect(parseTortureArgs(["--profile", "ci"]).durationS).toBeLessThanOrEqual(90);
  });

  it("takes --flag value and --flag=value, and refuses what it does not know", () => {
    expect(parseTortureArgs(["--seed=12", "--nodes", "3", "--keep-data"])).toMatchObject({ seed: 12, nodes: 3, keepData: true });
    const refused = (argv: string[], message: RegExp): void => expect(() => parseTortureArgs(argv)).toThrow(message);
    refused(["--nodes", "10"], /--nodes must be an integer in 3\.\.9/);
    refused(["--duration", "0"], /--duration must be an integer/);
    refused(["--seed", "-1"], /--seed must be an integer/);
    refused(["--network", "wifi"], /--network must be auto, netns or loopback/);
    refused(["--log-level", "loud"], /--log-level must be one of/);
    refused(["--seed", "1", "--seed", "2"], /--seed is given twice/);
    refused(["--clients"], /--clients needs a value/);
    refused(["stray"], /unexpected argument "stray"/);
    expect(() => parseTortureArgs(["--keep-data=yes"])).toThrow(TortureUsageError);
  });

  it("parses nemesis lists", () => {
    expect(parseNemesis("all").size).toBe(5);
    expect(parseNemesis("none").size).toBe(0);
    expect([...parseNemesis(" partition , kill ")].sort()).toEqual(["kill", "partition"]);
    expect(() => parseNemesis("kill,flood")).toThrow(/unknown nemesis "flood"/);
  });

  it("prints a replay command that parses back to the same run", () => {
    const options = parseTortureArgs(["--profile", "ci", "--seed", "77", "--nodes", "7", "--nemesis", "kill,loss"]);
    const argv = replayCommand(options).split(" ").slice(3);
    const again = parseTortureArgs(argv);
    for (const field of ["profile", "seed", "nodes", "clients", "keys", "durationS", "nemesis", "pacing"] as const) expect(again[field]).toEqual(options[field]);
  });
});
