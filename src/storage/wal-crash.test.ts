/**
 * SIGKILL test: a child process appends as fast as it can and reports each acknowledged
 * (durable) index; it is killed at a random moment, and the WAL reopened here must hold every
 * acknowledged entry, byte for byte. Three rounds on the same directory, each recovering
 * whatever the previous kill left.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { Rng } from "../util/rng.js";
import { Wal } from "./wal.js";
import { crashDataFor } from "./testing/crash-data.js";
import { makeTempDir, removeDir } from "./testing/fixtures.js";

const REGISTER_TS = fileURLToPath(new URL("./testing/register-ts.mjs", import.meta.url));
const CHILD = fileURLToPath(new URL("./testing/crash-child.ts", import.meta.url));
const SEGMENT_BYTES = 64 * 1024;

interface Round {
  readonly acked: number[];
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

/** Runs the child until it has acknowledged `killAfterAcks` appends, then SIGKILLs it. */
function runAndKill(dir: string, term: number, killAfterAcks: number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", REGISTER_TS, CHILD, dir, String(SEGMENT_BYTES), String(term)], { stdio: ["ignore", "pipe", "pipe"] });
    const acked: number[] = [];
    let pending = "";
    let stderr = "";
    const safety = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith("ack ")) acked.push(Number(line.slice(4)));
      }
      if (acked.length >= killAfterAcks) child.kill("SIGKILL");
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("exit", (_code, signal) => {
      clearTimeout(safety);
      resolve({ acked, signal, stderr });
    });
  });
}

describe("WAL under SIGKILL", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map(removeDir));
  });

  it("keeps every acknowledged append across repeated kills at random moments", async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    const seed = Date.now() >>> 0;
    const rng = new Rng(seed);
    const allAcked: number[] = [];
    const tails: string[] = [];
    for (let term = 1; term <= 3; term++) {
      const round = await runAndKill(dir, term, rng.int(20, 400));
      expect(round.stderr).toBe("");
      expect(round.signal).toBe("SIGKILL");
      expect(round.acked.length).toBeGreaterThan(0);
      allAcked.push(...round.acked);

      const { wal, recovered, report } = await Wal.open(dir, { segmentBytesMax: SEGMENT_BYTES });
      const byIndex = new Map(recovered.entries.map((entry) => [entry.index, entry]));
      const missing = allAcked.filter((index) => byIndex.get(index) === undefined || !Buffer.from(byIndex.get(index)!.data).equals(Buffer.from(crashDataFor(index))));
      expect(missing, `seed ${seed}, round ${term}: acknowledged but lost or damaged (recovery: ${JSON.stringify(report)})`).toEqual([]);
      expect(recovered.hardState.commit).toBeGreaterThanOrEqual(Math.max(...round.acked) - 1);
      expect(recovered.entries.map((entry) => entry.index)).toEqual(recovered.entries.map((_, i) => i + 1));
      tails.push(report.tornTail?.kind ?? "none");
      await wal.close();
    }
    // The writer keeps zeros ahead of its records, so a kill leaves them behind for recovery to cut.
    expect(tails, `seed ${seed}`).toContain("zero-fill");
  });
});
