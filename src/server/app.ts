/**
 * createHttpServer: the HTTP API of api.md on Fastify, as a thin translation onto NodeApi.
 * Handlers parse, check, call the node and shape the answer; every error goes through one
 * error handler, which maps it to its status. What only the leader can do, the node carries to
 * the leader itself (over its peer connection): no request is replayed over HTTP between
 * nodes. Bodies are taken as raw bytes whatever their Content-Type: a value is bytes.
 */
import Fastify, { LogController } from "fastify";
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { pino } from "pino";
import type { NodeApi } from "../node/api.js";
import { trace, tracing } from "../node/trace.js";
import { BODY_BYTES_MAX, HTTP_CLOSE_IDLE_SWEEP_MS, HTTP_HEADER_BYTES_MAX, HTTP_REQUEST_TIMEOUT_MS_DEFAULT, HTTP_RETRY_AFTER_SECONDS } from "../util/limits.js";
import { assert } from "../util/assert.js";
import { registerClusterRoutes } from "./cluster-routes.js";
import { badInput, errorResponse, HttpError, tooLarge } from "./errors.js";
import { registerKvRoutes } from "./kv-routes.js";
import { HttpMetrics } from "./metrics.js";
import { drainOversizedBody, withholdContinueForOversizedBodies } from "./oversized-body.js";
import type { RouteContext } from "./route-context.js";

export interface HttpServerOptions {
  /** A pino logger (one JSON object a line); false for none. Default: pino at level "warn". */
  readonly logger?: FastifyBaseLogger | false;
  /** Largest request body; default BODY_BYTES_MAX (api.md: 1.5 MiB). */
  readonly bodyBytesMax?: number;
  /** Deadline handed to the node for each read and write; default HTTP_REQUEST_TIMEOUT_MS_DEFAULT. */
  readonly requestTimeoutMs?: number;
  /**
   * Let the node carry writes to the leader over its peer connection (default true); false: a
   * follower answers 503 not_leader with the leader's client URL, for clients that go there.
   */
  readonly forward?: boolean;
  /** The cluster's join token: when set, adding a member requires it (403 forbidden otherwise). */
  readonly joinToken?: string;
}

export function createHttpServer(node: NodeApi, options: HttpServerOptions = {}): FastifyInstance {
  const bodyBytesMax = options.bodyBytesMax ?? BODY_BYTES_MAX;
  const requestTimeoutMs = options.requestTimeoutMs ?? HTTP_REQUEST_TIMEOUT_MS_DEFAULT;
  assert(Number.isSafeInteger(bodyBytesMax) && bodyBytesMax > 0, "bodyBytesMax is a positive integer");
  assert(Number.isSafeInteger(requestTimeoutMs) && requestTimeoutMs > 0, "requestTimeoutMs is a positive integer");
  assert(options.joinToken === undefined || options.joinToken.length > 0, "a join token is not empty");
  const forward = options.forward ?? true;
  const context: RouteContext = { node, requestTimeoutMs, metrics: new HttpMetrics(), forward, ...(options.joinToken === undefined ? {} : { joinToken: options.joinToken }) };

  const app = Fastify({
    ...loggerOptions(options.logger),
    logController: new LogController({ disableRequestLogging: true }), // one line per request, ours, at debug
    bodyLimit: bodyBytesMax,
    http: { maxHeaderSize: HTTP_HEADER_BYTES_MAX },
    return503OnClosing: false, // refuseWhileClosing answers in api.md's error format instead
    frameworkErrors: (error, request, reply) => {
      const url = request.raw.url ?? "";
      const problem = url.startsWith("/v1/kv/")
        ? badInput("invalid_key", `key is not valid percent-encoded UTF-8: ${JSON.stringify(url.slice("/v1/kv/".length, 80))}`)
        : badInput("bad_request", `the request URL is not valid: ${error.message}`);
      sendError(reply, problem);
    },
  }) as unknown as FastifyInstance;

  acceptAnyBody(app, bodyBytesMax, node.id);
  refuseWhileClosing(app);
  app.addHook("onResponse", (request, reply, done) => {
    if (tracing()) traceWrite(request, node.id, "http-out");
    const seconds = reply.elapsedTime / 1000;
    context.metrics.observe(request.method, request.routeOptions.url ?? "unmatched", reply.statusCode, seconds);
    if (request.log.level === "debug" || request.log.level === "trace") {
      request.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, "request");
    }
    done();
  });
  withholdContinueForOversizedBodies(app.server, bodyBytesMax);
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error.code !== "FST_ERR_CTP_BODY_TOO_LARGE") return handleError(error, request, reply);
    // Fastify asked for the connection to close; once the whole body is read, it may stay open.
    if (await drainOversizedBody(request.raw, bodyBytesMax)) reply.removeHeader("connection");
    return handleError(tooLarge("body_too_large", `the request body is larger than the ${bodyBytesMax} bytes this server accepts`), request, reply);
  });
  app.setNotFoundHandler(async (request, reply) => {
    sendError(reply, new HttpError(404, "route_not_found", `no route ${request.method} ${request.url.split("?")[0]!.slice(0, 200)}; the routes are listed in docs/api.md`));
  });
  registerKvRoutes(app, context);
  registerClusterRoutes(app, context);
  return app;
}

function loggerOptions(logger: FastifyBaseLogger | false | undefined): { logger: false } | { loggerInstance: FastifyBaseLogger } {
  if (logger === false) return { logger: false };
  return { loggerInstance: logger ?? pino({ level: "warn" }) };
}

/** A write's arrival or answer, for the timeline of one write (src/node/trace.ts); callers check tracing() first. */
function traceWrite(request: FastifyRequest, node: string, step: "http-in" | "http-out"): void {
  if (request.method !== "GET" && (request.url.startsWith("/v1/kv/") || request.url === "/v1/txn")) trace({ at: performance.timeOrigin + performance.now(), node, step });
}

/**
 * Every body is bytes: a PUT's value whatever its Content-Type (curl sends form-urlencoded),
 * a JSON body parsed by its handler (so malformed JSON is a clear 400). An empty or odd
 * Content-Type is not an error: Fastify never sees it.
 */
function acceptAnyBody(app: FastifyInstance, bodyBytesMax: number, node: string): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: bodyBytesMax }, (_request, body, done) => done(null, body));
  // Hooks on every request take a callback, not an async function: no promise per request.
  app.addHook("onRequest", (request, _reply, done) => {
    if (tracing()) traceWrite(request, node, "http-in"); // in this hook, not one more: every request pays for a hook
    const contentType = request.raw.headers["content-type"];
    if (contentType !== undefined) request.raw.headers["content-type"] = "application/octet-stream";
    done();
  });
}

/**
 * Requests that arrive on open connections while the server closes get a 503 the client retries
 * elsewhere. Keep-alive connections that become idle during the close (another node's forwarder,
 * once this node stopped leading) are closed as they go idle, or the close would wait out the
 * keep-alive timeout.
 */
function refuseWhileClosing(app: FastifyInstance): void {
  let closing = false;
  let sweeper: NodeJS.Timeout | undefined;
  app.addHook("preClose", async () => {
    closing = true;
    sweeper = setInterval(() => app.server.closeIdleConnections(), HTTP_CLOSE_IDLE_SWEEP_MS);
    sweeper.unref();
  });
  app.addHook("onClose", async () => clearInterval(sweeper));
  app.addHook("onRequest", (_request, reply, done) => {
    if (!closing) return done();
    reply.header("connection", "close");
    done(new HttpError(503, "shutting_down", "this node is shutting down: try another node"));
  });
}

function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const response = errorResponse(error);
  if (response.unexpected) request.log.error({ err: error, method: request.method, url: request.url }, "unexpected error while handling a request");
  return sendError(reply, error);
}

export function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  const response = errorResponse(error);
  if (response.retryAfter) reply.header("retry-after", String(HTTP_RETRY_AFTER_SECONDS));
  return reply.code(response.status).type("application/json; charset=utf-8").send(response.body);
}
