/**
 * One short torture run end to end, on loopback (the path every machine has; CI runs the
 * namespace path separately with `flotilla torture --profile ci`): real `flotilla start`
 * processes (the built CLI, dist/), kills, pauses, partitions and loss through the relay, then
 * the verdict and the report folder.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadHistory } from "../check/index.js";
import { runTortureCommand } from "./command.js";
import { parseTortureArgs } from "./options.js";
import { runTorture } from "./run.js";

let reportDir: string | undefined;

afterEach(() => {
  if (reportDir) fs.rmSync(reportDir, { recursive: true, force: true });
  reportDir = undefined;
});

describe("a short torture run on loopback", () => {
  it("survives kills, pauses, partitions and loss with a linearizable history and a full report", { timeout: 60_000 }, async () => {
    reportDir = fs.mkdtempSync(path.join(os.tmpdir(), "torture-loopback-"));
    const parsed = parseTortureArgs(["--network", "loopback", "--nodes", "3", "--clients", "3", "--keys", "4", "--duration", "12", "--seed", "20240", "--nemesis", "kill,pause,partition,loss", "--report", reportDir, "--log-level", "warn"]);
    // Faults close together, so a short run still sees several of them.
    const options = { ...parsed, pacing: { ...parsed.pacing, warmupMs: 1_000, cooldownMs: 3_000, faultMsMin: 800, faultMsMax: 2_000, gapMsMin: 200, gapMsMax: 800 } };
    const lines: string[] = [];
    const summary = await runTorture(options, { progress: () => undefined, log: (line) => lines.push(line) });

    expect(summary.network).toBe("loopback");
    expect(lines.some((line) => line.includes("network: loopback"))).toBe(true);
    expect(summary.anomalyDetails).toEqual([]);
    expect(summary).toMatchObject({ anomalies: 0, linearizable: "ok", converged: true });
    expect(summary.ops.ok).toBeGreaterThan(50);
    expect(summary.ops.total).toBe(summary.ops.ok + summary.ops.failed + summary.ops.unknown);
    expect(Object.values(summary.faults).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3);

    expect(fs.readdirSync(reportDir).sort()).toEqual(["faults.jsonl", "history.jsonl", "index.html", "nodes", "ops.jsonl", "summary.json"]);
    const history = await loadHistory(path.join(reportDir, "history.jsonl"));
    expect(history.length).toBeGreaterThanOrEqual(summary.ops.total);
    expect(fs.readdirSync(path.join(reportDir, "nodes")).sort()).toEqual(["n1.log", "n2.log", "n3.log"]);
    expect(JSON.parse(fs.readFileSync(path.join(reportDir, "summary.json"), "utf8")).seed).toBe(20240);
  });
});

describe("flotilla torture, the command", () => {
  it("prints its usage for --help and refuses bad options with exit status 2", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (text: string) => out.push(text), stderr: (text: string) => err.push(text) };
    expect(await runTortureCommand(["--help"], io)).toBe(0);
    expect(out.join("")).toMatch(/usage: flotilla torture/);
    expect(await runTortureCommand(["--nodes", "2"], io)).toBe(2);
    expect(err.join("")).toMatch(/--nodes must be an integer in 3\.\.9, not "2"/);
    expect(await runTortureCommand(["--nemesis", "kill,flood"], io)).toBe(2);
    expect(err.join("")).toMatch(/unknown nemesis "flood"/);
    expect(await runTortureCommand(["--profile", "fast"], io)).toBe(2);
    expect(await runTortureCommand(["--bogus"], io)).toBe(2);
    expect(out.join("")).not.toMatch(/^\{/m);
  });
});
