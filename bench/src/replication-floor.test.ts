import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import type * as GeneratorPool from "./generator-pool.js";
import { HttpConnection } from "./http-connection.js";
import type * as ReplicationFloor from "./replication-floor.js";

// The probe forks bench/dist/generator-process.js, which `npm test` builds before the tests.
const dist = (file: string): string => path.resolve(import.meta.dirname, "../dist", file);
const { measureReplicationFloor, measureServiceFloor, runServiceFloorLeader } = (await import(dist("replication-floor.js"))) as typeof ReplicationFloor;
const { startHelper } = (await import(dist("generator-pool.js"))) as typeof GeneratorPool;

const folder = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-floor-test-"));
afterAll(() => fs.rmSync(folder, { recursive: true, force: true }));

describe("the bare replicated write (the single-client floor)", () => {
  it("round-trips writes through a leader and two followers that fdatasync, and cleans up its files", async () => {
    const floor = await measureReplicationFloor(folder, 0.3);
    expect(floor.writes).toBeGreaterThan(10);
    expect(floor.medianMs).toBeGreaterThan(0);
    expect(floor.p99Ms).toBeGreaterThanOrEqual(floor.medianMs);
    expect(fs.readdirSync(folder)).toEqual([]);
  });

  it("measures the service floor the same way, and cleans up its files", async () => {
    const floor = await measureServiceFloor(folder, 0.3);
    expect(floor.writes).toBeGreaterThan(10);
    expect(floor.p99Ms).toBeGreaterThanOrEqual(floor.medianMs);
    expect(fs.readdirSync(folder)).toEqual([]);
  });

  it("the service floor's leader answers a PUT once it is in its log, a follower's, and SQLite", async () => {
    const dir = fs.mkdtempSync(path.join(folder, "service-"));
    const followers = [await startHelper("floor-follower", [dir]), await startHelper("floor-follower", [dir])];
    let close = (): void => undefined;
    const port = await new Promise<number>((resolve) => (close = runServiceFloorLeader(dir, followers.map((f) => f.port), resolve)));
    const connection = new HttpConnection(`127.0.0.1:${port}`);
    try {
      const value = Buffer.from("v".repeat(100));
      for (let i = 0; i < 6; i++) {
        const response = await connection.request(`PUT /key${i % 2} HTTP/1.1\r\nhost: t\r\ncontent-length: ${value.length}\r\n\r\n`, value);
        expect(response.status).toBe(200);
      }
      const db = new Database(path.join(dir, "state.db"), { readonly: true });
      const rows = db.prepare("SELECT CAST(key AS TEXT) AS key, version, mod_revision FROM kv ORDER BY key").all();
      db.close();
      expect(rows).toEqual([
        { key: "key0", version: 3, mod_revision: 5 },
        { key: "key1", version: 3, mod_revision: 6 },
      ]);
      // Each log is a folder of its own: the leader's and at least one follower's hold all six records.
      const logSizes = fs.readdirSync(dir).filter((name) => name.startsWith("log-")).map((name) => fs.statSync(path.join(dir, name, "log")).size);
      expect(logSizes).toHaveLength(3);
      expect(logSizes.filter((size) => size === 6 * 233).length).toBeGreaterThanOrEqual(2);
    } finally {
      connection.close();
      close();
      for (const follower of followers) follower.close();
    }
  });
});
