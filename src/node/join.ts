/**
 * Joining a running cluster through any of its nodes: learn the cluster id (GET /v1/status),
 * then ask to be added as a learner (POST /v1/members; a follower forwards it to the leader).
 * Plain HTTP against api.md, so this layer needs nothing from the client or server code.
 */
import type { Logger } from "pino";
import { NODE_JOIN_TIMEOUT_MS, NODE_PEER_HTTP_RESPONSE_BYTES_MAX as JOIN_RESPONSE_BYTES_MAX } from "../util/limits.js";
import { NodeError } from "./api.js";
import { httpCall } from "./http-call.js";

export interface JoinRequest {
  readonly endpoints: readonly string[];
  readonly id: string;
  readonly peer: string;
  readonly client: string;
  readonly logger: Logger;
  readonly timeoutMs?: number;
  /** The cluster's join token, when it requires one (sent as JOIN_TOKEN_HEADER). */
  readonly joinToken?: string;
}

export interface Joined {
  readonly clusterId: string;
  /** The other members' peer addresses. */
  readonly peers: Record<string, string>;
}

const JOIN_ATTEMPT_TIMEOUT_MS = 10_000;
const JOIN_RETRY_DELAY_MS = 500;

/** The header that carries the join token on POST /v1/members. */
export const JOIN_TOKEN_HEADER = "x-flotilla-join-token";

/** Headers of a membership request: JSON, and the join token when the cluster has one. */
function joinHeaders(joinToken: string | undefined): Record<string, string> {
  return joinToken === undefined ? { "content-type": "application/json" } : { "content-type": "application/json", [JOIN_TOKEN_HEADER]: joinToken };
}

/** An answer that retrying cannot change (a refused token): joining stops at once. */
class RefusedError extends Error {}

export function endpointUrl(endpoint: string): string {
  return /^https?:\/\//.test(endpoint) ? endpoint.replace(/\/+$/, "") : `http://${endpoint}`;
}

export async function joinCluster(request: JoinRequest): Promise<Joined> {
  return throughEndpoints(request, "join", async (endpoint) => {
    const clusterId = await clusterIdOf(endpoint);
    const body = JSON.stringify({ id: request.id, peer: request.peer, client: request.client, learner: true, autoPromote: true });
    const answer = (await call(`${endpoint}/v1/members`, { method: "POST", body, headers: joinHeaders(request.joinToken) })) as { members?: unknown };
    const peers: Record<string, string> = {};
    for (const member of membersOf(answer)) if (member.id !== request.id && member.peer) peers[member.id] = member.peer;
    request.logger.info({ endpoint, clusterId, members: Object.keys(peers) }, "joined the cluster as a learner");
    return { clusterId, peers };
  });
}

export type RejoinOutcome = "unchanged" | "updated" | "not_a_member";

/**
 * A node with data started with --join again (a restart): when the cluster knows it at other
 * addresses (it moved), tell the cluster its new ones, through the seed endpoints, since the
 * leader cannot reach a node at an address it does not know. A node that was removed is not
 * added back this way: removing a node stays final until an operator adds it again.
 */
export async function rejoinCluster(request: JoinRequest & { readonly clusterId: string; readonly signal?: AbortSignal }): Promise<RejoinOutcome> {
  return throughEndpoints(request, "rejoin", async (endpoint) => {
    const clusterId = await clusterIdOf(endpoint);
    if (clusterId !== request.clusterId) {
      throw new RefusedError(`it belongs to cluster ${clusterId}, and this node's data to cluster ${request.clusterId}`);
    }
    const self = membersOf(await call(`${endpoint}/v1/members`, { method: "GET" })).find((member) => member.id === request.id);
    if (!self) return "not_a_member";
    if (self.peer === request.peer && self.client === request.client) return "unchanged";
    const body = JSON.stringify({ id: request.id, peer: request.peer, client: request.client, learner: self.voter !== true });
    await call(`${endpoint}/v1/members`, { method: "POST", body, headers: joinHeaders(request.joinToken) });
    request.logger.info({ endpoint, was: { peer: self.peer, client: self.client } }, "recorded this node's new addresses with the cluster");
    return "updated";
  });
}

/**
 * The other members' peer addresses as the cluster lists them: a node that restarts with an
 * empty log (it joined, then stopped before receiving anything) knows none to answer through.
 */
export async function memberPeers(request: JoinRequest): Promise<Record<string, string>> {
  return throughEndpoints(request, "learn the members", async (endpoint) => {
    const peers: Record<string, string> = {};
    for (const member of membersOf(await call(`${endpoint}/v1/members`, { method: "GET" }))) if (member.id !== request.id) peers[member.id] = member.peer;
    request.logger.info({ endpoint, members: Object.keys(peers) }, "learned the members' addresses from the cluster");
    return peers;
  });
}

/** Tries the endpoints in turn until `attempt` succeeds, a refusal (403, wrong cluster) ends it, or time runs out. */
async function throughEndpoints<T>(request: JoinRequest & { readonly signal?: AbortSignal }, what: string, attempt: (endpoint: string) => Promise<T>): Promise<T> {
  const deadline = Date.now() + (request.timeoutMs ?? NODE_JOIN_TIMEOUT_MS);
  let lastProblem = "no endpoint answered";
  for (let round = 0; Date.now() < deadline && request.signal?.aborted !== true; round++) {
    const endpoint = endpointUrl(request.endpoints[round % request.endpoints.length]!);
    try {
      return await attempt(endpoint);
    } catch (error) {
      if (error instanceof RefusedError) throw new NodeError("bad_request", `${endpoint} refused to let ${request.id} ${what}: ${error.message}`);
      lastProblem = `${endpoint}: ${(error as Error).message}`;
      request.logger.warn({ endpoint, err: (error as Error).message }, `${what} attempt failed; retrying`);
      await new Promise((resolve) => setTimeout(resolve, JOIN_RETRY_DELAY_MS));
    }
  }
  throw new NodeError("no_leader", `could not ${what} through ${request.endpoints.join(", ")}: ${lastProblem}`);
}

async function clusterIdOf(endpoint: string): Promise<string> {
  const status = (await call(`${endpoint}/v1/status`, { method: "GET" })) as { clusterId?: unknown };
  if (typeof status.clusterId !== "string" || status.clusterId === "") throw new Error(`${endpoint} did not say its cluster id`);
  return status.clusterId;
}

interface MemberJson {
  readonly id: string;
  readonly peer: string;
  readonly client?: string;
  readonly voter?: boolean;
}

function membersOf(answer: unknown): MemberJson[] {
  const list = (answer as { members?: unknown } | null)?.members;
  if (!Array.isArray(list)) return [];
  return list.filter((member): member is MemberJson => typeof member?.id === "string" && typeof member?.peer === "string");
}

async function call(url: string, init: { method: "GET" | "POST"; body?: string; headers?: Record<string, string> }): Promise<unknown> {
  const { status, text } = await httpCall(url, { ...init, timeoutMs: JOIN_ATTEMPT_TIMEOUT_MS, responseBytesMax: JOIN_RESPONSE_BYTES_MAX });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`answered ${status} with a body that is not JSON`);
  }
  const problem = `answered ${status}: ${(body as { error?: string }).error ?? text}`;
  if (status === 403) throw new RefusedError(problem);
  if (status < 200 || status > 299) throw new Error(problem);
  return body;
}
