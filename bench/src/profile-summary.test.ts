import { describe, expect, it } from "vitest";
import { areaOf, summarizeProfile, type CpuProfile } from "./profile-summary.js";

const frame = (functionName: string, url = "") => ({ functionName, url, lineNumber: 0 });

describe("summarizeProfile", () => {
  it("adds self time per function and per area, and leaves idle time out of the shares", () => {
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame("(root)") },
        { id: 2, callFrame: frame("(idle)") },
        { id: 3, callFrame: frame("appendEntries", "file:///w/dist/storage/wal.js") },
        { id: 4, callFrame: frame("serialize", "file:///w/node_modules/fastify/lib/reply.js") },
        { id: 5, callFrame: frame("(garbage collector)") },
      ],
      startTime: 0,
      endTime: 1000,
      // timeDeltas[i] is the time since sample i-1: sample i's self time is timeDeltas[i + 1].
      samples: [2, 3, 3, 4, 5, 2],
      timeDeltas: [0, 400, 100, 200, 100, 100],
    };
    const summary = summarizeProfile(profile, "n1");
    expect(summary.idleMs).toBeCloseTo(0.4);
    expect(summary.busyMs).toBeCloseTo(0.5);
    expect(summary.topFunctions[0]).toMatchObject({ name: "appendEntries dist/storage/wal.js:1", percent: 60 });
    expect(Object.fromEntries(summary.byArea.map((s) => [s.name, Math.round(s.percent)]))).toEqual({ "flotilla storage": 60, "npm fastify": 20, "(garbage collector)": 20 });
  });

  it("places code by where it lives", () => {
    expect(areaOf(frame("f", "file:///x/node_modules/@fastify/ajv-compiler/index.js"))).toBe("npm @fastify/ajv-compiler");
    expect(areaOf(frame("f", "node:internal/streams/writable"))).toBe("node internal/streams");
    expect(areaOf(frame("f", "node:internal/deps/undici/undici"))).toBe("node undici (bundled)");
    expect(areaOf(frame("f", "node:_http_server"))).toBe("node _http_server");
    expect(areaOf(frame("f", "file:///x/dist/raft/raft.js"))).toBe("flotilla raft");
    expect(areaOf(frame("(program)"))).toBe("(program)");
  });
});
