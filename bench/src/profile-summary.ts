/**
 * Where a Flotilla node's CPU time goes, from the V8 CPU profile that `node --cpu-prof` writes:
 * the functions with the most self time, and the same time grouped by where the code lives
 * (a Flotilla layer, an npm package, Node's internals, the garbage collector).
 */
import fs from "node:fs";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly hitCount?: number;
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface TimeShare {
  readonly name: string;
  readonly selfMs: number;
  /** Share of the busy (non-idle) time. */
  readonly percent: number;
}

export interface ProfileSummary {
  readonly label: string;
  readonly wallMs: number;
  readonly busyMs: number;
  readonly idleMs: number;
  readonly topFunctions: readonly TimeShare[];
  readonly byArea: readonly TimeShare[];
}

const IDLE = "(idle)";

export function summarizeProfile(profile: CpuProfile, label: string, top = 25): ProfileSummary {
  const selfUs = selfTimeByNode(profile);
  const callerOf = callers(profile);
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  let idleUs = 0;
  let busyUs = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    const frame = node.callFrame;
    if (frame.functionName === IDLE) {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const name = nativeWithCaller(node, callerOf);
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const area = areaOf(frame);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
  }
  const shares = (map: Map<string, number>, limit: number): TimeShare[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, us]) => ({ name, selfMs: us / 1000, percent: busyUs === 0 ? 0 : (100 * us) / busyUs }));
  return {
    label,
    wallMs: (profile.endTime - profile.startTime) / 1000,
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    topFunctions: shares(byFunction, top),
    byArea: shares(byArea, top),
  };
}

/** Self time per profile node: each sample's time delta goes to the node it landed in. */
function selfTimeByNode(profile: CpuProfile): Map<number, number> {
  const result = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length > 0 && deltas.length === samples.length) {
    // timeDeltas[i] is the time since the previous sample: it belongs to the sample before i.
    for (let i = 0; i < samples.length; i++) {
      const delta = i + 1 < deltas.length ? deltas[i + 1]! : 0;
      if (delta > 0) result.set(samples[i]!, (result.get(samples[i]!) ?? 0) + delta);
    }
    return result;
  }
  const hits = profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0);
  const perHitUs = hits === 0 ? 0 : (profile.endTime - profile.startTime) / hits;
  for (const node of profile.nodes) result.set(node.id, (node.hitCount ?? 0) * perHitUs);
  return result;
}

function callers(profile: CpuProfile): Map<number, ProfileNode> {
  const result = new Map<number, ProfileNode>();
  for (const node of profile.nodes) for (const child of node.children ?? []) result.set(child, node);
  return result;
}

/**
 * A native function (no script URL: a binding such as writeBuffer or writev) is named with the
 * JavaScript function that called it, since the same binding serves files and sockets alike.
 */
function nativeWithCaller(node: ProfileNode, callerOf: Map<number, ProfileNode>): string {
  const frame = node.callFrame;
  if (frame.url.length > 0 || frame.functionName.startsWith("(")) return functionLabel(frame);
  let caller = callerOf.get(node.id);
  for (let depth = 0; caller !== undefined && caller.callFrame.url.length === 0 && depth < 4; depth++) caller = callerOf.get(caller.id);
  return caller === undefined ? functionLabel(frame) : `${functionLabel(frame)} ← ${functionLabel(caller.callFrame)}`;
}

function functionLabel(frame: CallFrame): string {
  const name = frame.functionName.length > 0 ? frame.functionName : "(anonymous)";
  if (frame.url.length === 0) return name;
  return `${name} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf("node_modules/");
  if (modules >= 0) return url.slice(modules + "node_modules/".length);
  const dist = url.lastIndexOf("/dist/");
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, "");
}

/** Which part of the program a frame belongs to: a Flotilla layer, an npm package, Node, or the VM. */
export function areaOf(frame: CallFrame): string {
  const url = frame.url;
  if (url.length === 0) return frame.functionName.startsWith("(") ? frame.functionName : "(native or builtin)";
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules !== null) return `npm ${modules[1]}`;
  const layer = /\/dist\/([^/]+)\//.exec(url);
  if (layer !== null) return `flotilla ${layer[1]}`;
  if (url.startsWith("node:")) {
    const parts = url.slice(5).split("/");
    if (parts[0] !== "internal") return `node ${parts[0]}`;
    return parts[1] === "deps" ? `node ${parts[2]} (bundled)` : `node internal/${parts[1]?.replace(/\.js$/, "")}`;
  }
  return url;
}

export function readProfile(file: string): CpuProfile {
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
  if (!Array.isArray(profile.nodes)) throw new Error(`${file} is not a V8 CPU profile (no nodes)`);
  return profile;
}

export function formatProfile(summary: ProfileSummary, top = 20): string {
  const busyShare = summary.wallMs === 0 ? 0 : (100 * summary.busyMs) / summary.wallMs;
  const lines = [`${summary.label}: ${(summary.busyMs / 1000).toFixed(1)} s busy of ${(summary.wallMs / 1000).toFixed(1)} s (${busyShare.toFixed(0)}%)`];
  lines.push("  by area (self time, % of busy):");
  for (const share of summary.byArea.slice(0, 12)) lines.push(`    ${share.percent.toFixed(1).padStart(5)}%  ${(share.selfMs / 1000).toFixed(2).padStart(7)} s  ${share.name}`);
  lines.push("  top functions (self time, % of busy):");
  for (const share of summary.topFunctions.slice(0, top)) lines.push(`    ${share.percent.toFixed(1).padStart(5)}%  ${(share.selfMs / 1000).toFixed(2).padStart(7)} s  ${share.name}`);
  return lines.join("\n");
}
