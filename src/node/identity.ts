/**
 * A node's identity on disk: which cluster its data belongs to. The cluster id travels in every
 * peer handshake, so a node never exchanges Raft messages with another cluster's nodes.
 */
import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const IDENTITY_FILE = "identity.json";
const IDENTITY_FORMAT_VERSION = 1;

export interface Identity {
  readonly clusterId: string;
  readonly nodeId: string;
}

export class IdentityError extends Error {
  override name = "IdentityError";
}

export function readIdentity(dataDir: string): Identity | undefined {
  const file = path.join(dataDir, IDENTITY_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new IdentityError(`${file} is not valid JSON: the data directory is damaged`);
  }
  const record = parsed as { version?: unknown; clusterId?: unknown; nodeId?: unknown };
  if (record.version !== IDENTITY_FORMAT_VERSION || typeof record.clusterId !== "string" || typeof record.nodeId !== "string") {
    throw new IdentityError(`${file} does not hold a Flotilla identity (version ${IDENTITY_FORMAT_VERSION})`);
  }
  return { clusterId: record.clusterId, nodeId: record.nodeId };
}

/** Written once, durably (temporary file, fsync, rename, directory fsync). */
export function writeIdentity(dataDir: string, identity: Identity): void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, IDENTITY_FILE);
  const temp = `${file}.tmp`;
  const fd = fs.openSync(temp, "w");
  try {
    fs.writeSync(fd, JSON.stringify({ version: IDENTITY_FORMAT_VERSION, ...identity }) + "\n");
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
  const dir = fs.openSync(dataDir, "r");
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}

/**
 * Every node given the same --bootstrap list derives the same cluster id (as etcd derives its
 * cluster id from the initial members), so they can talk before any of them has data.
 */
export function bootstrapClusterId(members: Readonly<Record<string, string>>): string {
  const canonical = Object.entries(members)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, peer]) => `${id}=${peer}`)
    .join(",");
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

export function randomClusterId(): string {
  return randomUUID().replaceAll("-", "").slice(0, 16);
}
