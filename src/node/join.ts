/**
 * Joining a running cluster through any of its nodes: learn the cluster id (GET /v1/status),
 * then ask to be added as a learner (POST /v1/members; a follower forwards it to the leader).
 * Plain HTTP against api.md, so this layer needs nothing from the client or server code.
 */
import type { Logger } from "pino";
import { NODE_JOIN_TIMEOUT_MS } from "../util/limits.js";
import { NodeError } from "./api.js";

export interface JoinRequest {
  readonly endpoints: readonly string[];
  readonly id: string;
  readonly peer: string;
  readonly client: string;
  readonly logger: Logger;
  readonly timeoutMs?: number;
}

export interface Joined {
  readonly clusterId: string;
  /** The other members' peer addresses. */
  readonly peers: Record<string, string>;
}

const JOIN_ATTEMPT_TIMEOUT_MS = 10_000;
const JOIN_RETRY_DELAY_MS = 500;

export function endpointUrl(endpoint: string): string {
  return /^https?:\/\//.test(endpoint) ? endpoint.replace(/\/+$/, "") : `http://${endpoint}`;
}

export async function joinCluster(request: JoinRequest): Promise<Joined> {
  const deadline = Date.now() + (request.timeoutMs ?? NODE_JOIN_TIMEOUT_MS);
  let lastProblem = "no endpoint answered";
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    const endpoint = endpointUrl(request.endpoints[attempt % request.endpoints.length]!);
    try {
      const status = (await call(`${endpoint}/v1/status`, { method: "GET" })) as { clusterId?: unknown };
      if (typeof status.clusterId !== "string" || status.clusterId === "") throw new Error(`${endpoint} did not say its cluster id`);
      const body = JSON.stringify({ id: request.id, peer: request.peer, client: request.client, learner: true, autoPromote: true });
      const answer = (await call(`${endpoint}/v1/members`, { method: "POST", body, headers: { "content-type": "application/json" } })) as {
        members?: { id: string; peer: string }[];
      };
      const members = Array.isArray(answer.members) ? answer.members : Array.isArray(answer) ? (answer as { id: string; peer: string }[]) : [];
      const peers: Record<string, string> = {};
      for (const member of members) if (member.id !== request.id && member.peer) peers[member.id] = member.peer;
      request.logger.info({ endpoint, clusterId: status.clusterId, members: Object.keys(peers) }, "joined the cluster as a learner");
      return { clusterId: status.clusterId, peers };
    } catch (error) {
      lastProblem = `${endpoint}: ${(error as Error).message}`;
      request.logger.warn({ endpoint, err: (error as Error).message }, "join attempt failed; retrying");
      await new Promise((resolve) => setTimeout(resolve, JOIN_RETRY_DELAY_MS));
    }
  }
  throw new NodeError("no_leader", `could not join through ${request.endpoints.join(", ")}: ${lastProblem}`);
}

async function call(url: string, init: RequestInit): Promise<unknown> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(JOIN_ATTEMPT_TIMEOUT_MS) });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`answered ${response.status} with a body that is not JSON`);
  }
  if (!response.ok) throw new Error(`answered ${response.status}: ${(body as { error?: string }).error ?? text}`);
  return body;
}
