/** The cluster routes of api.md: status, membership, leader transfer, health, readiness, metrics. */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AddMemberRequest, MemberStatus, NodeStatus } from "../node/api.js";
import { JOIN_TOKEN_HEADER } from "../node/index.js";
import { MEMBER_ADDRESS_BYTES_MAX, PEER_ID_LENGTH_MAX } from "../util/limits.js";
import { parseHostPort, toClientUrl } from "./address.js";
import { badInput, HttpError } from "./errors.js";
import { expectObject, expectString, optionalBoolean, parseJsonBody, parseQuery, segmentFromPath } from "./input.js";
import { METRICS_CONTENT_TYPE } from "./metrics.js";
import { rawUrl, type RouteContext } from "./route-context.js";

const MEMBERS_PATH = "/v1/members/";
const PROMOTE_SUFFIX = "/promote";

export function registerClusterRoutes(app: FastifyInstance, context: RouteContext): void {
  const { node } = context;
  app.get("/v1/status", async (request) => {
    parseQuery(rawUrl(request), []);
    return statusJson(node.status());
  });
  app.get("/v1/members", async (request) => {
    parseQuery(rawUrl(request), []);
    return membersJson(await node.leaderMembers());
  });
  app.post("/v1/members", async (request) => {
    parseQuery(rawUrl(request), []);
    requireJoinToken(context, request);
    return membersJson(await node.addMember(parseAddMember(parseJsonBody(request.body, { emptyAllowed: false }))));
  });
  app.delete(`${MEMBERS_PATH}*`, async (request) => {
    const id = memberIdFromPath(request, "");
    return membersJson(await node.removeMember(id));
  });
  app.post(`${MEMBERS_PATH}*`, async (request) => {
    const id = memberIdFromPath(request, PROMOTE_SUFFIX);
    return membersJson(await node.promoteMember(id));
  });
  app.post("/v1/leader/transfer", async (request) => {
    parseQuery(rawUrl(request), []);
    const to = parseTransfer(parseJsonBody(request.body, { emptyAllowed: true }));
    const { leader } = await node.transferLeadership(to);
    return { leader };
  });
  app.get("/healthz", async (request) => {
    parseQuery(rawUrl(request), []);
    return { status: "ok", id: node.id };
  });
  app.get("/readyz", async (request) => {
    parseQuery(rawUrl(request), []);
    if (!node.isReady()) throw new HttpError(503, "not_ready", "this node does not know a leader yet, or has not applied everything it knows is committed");
    return { status: "ready", id: node.id };
  });
  app.get("/metrics", async (request, reply) => metrics(context, request, reply));
}

async function metrics(context: RouteContext, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  parseQuery(rawUrl(request), []);
  const [nodeText, httpText] = await Promise.all([context.node.metrics(), context.metrics.text()]);
  const joined = [nodeText.trimEnd(), httpText.trimEnd()].filter((text) => text.length > 0).join("\n");
  return reply.type(METRICS_CONTENT_TYPE).send(`${joined}\n`);
}

/**
 * With a join token configured, adding a member needs it: a cluster name or an address alone
 * never lets a stranger in. Compared in constant time (of equal-length digests).
 */
function requireJoinToken(context: RouteContext, request: FastifyRequest): void {
  if (context.joinToken === undefined) return;
  const given = request.headers[JOIN_TOKEN_HEADER];
  if (typeof given !== "string" || given.length === 0) {
    throw new HttpError(403, "forbidden", `this cluster requires a join token to add a member: send it in the ${JOIN_TOKEN_HEADER} header (flotilla start --join-token)`);
  }
  if (!timingSafeEqual(digest(given), digest(context.joinToken))) {
    throw new HttpError(403, "forbidden", `the join token in ${JOIN_TOKEN_HEADER} is not this cluster's`);
  }
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** /v1/members/{id} (DELETE) or /v1/members/{id}/promote (POST); the id is percent-decoded. */
function memberIdFromPath(request: FastifyRequest, suffix: string): string {
  const url = rawUrl(request);
  parseQuery(url, []);
  const path = url.split("?")[0]!;
  const rest = path.slice(MEMBERS_PATH.length);
  if (!path.endsWith(suffix) || rest.length <= suffix.length || rest.slice(0, rest.length - suffix.length).includes("/")) {
    throw new HttpError(404, "route_not_found", `no route ${request.method} ${path.slice(0, 200)}; the member routes are DELETE /v1/members/{id} and POST /v1/members/{id}/promote`);
  }
  return checkMemberId(segmentFromPath(url, MEMBERS_PATH, suffix, "member id"), "member id");
}

function checkMemberId(id: string, what: string): string {
  if (id.length > PEER_ID_LENGTH_MAX) throw badInput("invalid_argument", `${what} is ${id.length} characters long, more than the ${PEER_ID_LENGTH_MAX} allowed`);
  return id;
}

function parseAddMember(raw: unknown): AddMemberRequest {
  const body = expectObject(raw, "the member", ["id", "peer", "client", "learner", "autoPromote"]);
  const id = checkMemberId(expectString(body.id, "id", PEER_ID_LENGTH_MAX * 4), "id");
  const peer = expectString(body.peer, "peer", MEMBER_ADDRESS_BYTES_MAX);
  addressCheck(() => parseHostPort(peer, "peer"));
  const learner = optionalBoolean(body.learner, "learner");
  // Extension: a learner that joined on its own is promoted by the leader once caught up.
  const autoPromote = optionalBoolean(body.autoPromote, "autoPromote");
  const request: AddMemberRequest = { id, peer, ...(autoPromote === undefined ? {} : { autoPromote }) };
  const clientText = body.client === undefined ? undefined : expectString(body.client, "client", MEMBER_ADDRESS_BYTES_MAX);
  const client = clientText === undefined ? undefined : addressCheck(() => toClientUrl(clientText, "client"));
  return { ...request, ...(client === undefined ? {} : { client }), ...(learner === undefined ? {} : { learner }) };
}

function addressCheck<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw badInput("invalid_argument", (error as Error).message);
  }
}

function parseTransfer(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  const body = expectObject(raw, "the transfer request", ["to"]);
  if (body.to === undefined) return undefined;
  return checkMemberId(expectString(body.to, "to", PEER_ID_LENGTH_MAX * 4), "to");
}

// ---------------------------------------------------------------------------------------
// Answers: fields picked one by one, so nothing internal leaks into the public contract.

export function memberJson(member: MemberStatus): Record<string, unknown> {
  const json: Record<string, unknown> = { id: member.id, peer: member.peer, client: member.client, voter: member.voter, role: member.role };
  if (member.matchIndex !== undefined) json.matchIndex = member.matchIndex;
  if (member.lag !== undefined) json.lag = member.lag;
  if (member.lastContactMs !== undefined) json.lastContactMs = member.lastContactMs;
  return json;
}

function membersJson(members: readonly MemberStatus[]): { members: Record<string, unknown>[] } {
  return { members: members.map(memberJson) };
}

function statusJson(status: NodeStatus): Record<string, unknown> {
  return {
    id: status.id,
    role: status.role,
    term: status.term,
    leader: status.leader,
    commitIndex: status.commitIndex,
    appliedIndex: status.appliedIndex,
    members: status.members.map(memberJson),
    clusterId: status.clusterId,
  };
}
