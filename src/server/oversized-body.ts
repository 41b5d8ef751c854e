/**
 * A request body over the limit is answered 413 in a way the client can read. Answering while
 * the client still sends, then closing, makes the kernel reset the connection (unread data),
 * and a client that reads only once it has sent everything (Python's urllib, most simple
 * clients) then sees a broken pipe or a reset instead of the 413. So the server first reads the
 * rest of the body and throws it away, up to HTTP_OVERSIZED_BODY_DRAIN_BYTES_MAX and
 * HTTP_OVERSIZED_BODY_DRAIN_MS_MAX, then answers; when the whole body was read, the connection
 * stays open for the next request. A client that asks first (`Expect: 100-continue`, as curl
 * does for bodies over 1 MiB) gets the 413 instead of a 100 Continue, and sends nothing.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { HTTP_OVERSIZED_BODY_DRAIN_BYTES_MAX, HTTP_OVERSIZED_BODY_DRAIN_MS_MAX } from "../util/limits.js";

/** Requests that asked for 100 Continue and did not get it: their body is not coming. */
const continueWithheld = new WeakSet<IncomingMessage>();

/**
 * Node answers `Expect: 100-continue` with 100 Continue by itself unless someone listens for
 * checkContinue. A declared length over the limit gets no 100 Continue: the request goes on
 * to Fastify, whose body parser refuses the length, and the 413 is the answer.
 */
export function withholdContinueForOversizedBodies(server: Server, bodyBytesMax: number): void {
  server.on("checkContinue", (request: IncomingMessage, response: ServerResponse) => {
    if (declaredLength(request) > bodyBytesMax) continueWithheld.add(request);
    else response.writeContinue();
    server.emit("request", request, response);
  });
}

/**
 * Reads and discards the rest of an oversized body. Resolves true when the whole request was
 * read (the connection may stay open), false when it was left unread: the body was declared
 * too large to be worth reading, went past the bound, took too long, the client asked for
 * 100 Continue and will not send it, or the connection broke.
 */
export function drainOversizedBody(request: IncomingMessage, bodyBytesMax: number): Promise<boolean> {
  if (request.complete || request.readableEnded) return Promise.resolve(true);
  if (continueWithheld.has(request) || request.destroyed) return Promise.resolve(false);
  if (declaredLength(request) > bodyBytesMax + HTTP_OVERSIZED_BODY_DRAIN_BYTES_MAX) return Promise.resolve(false);
  return new Promise((resolve) => {
    let drainedBytes = 0;
    const finish = (whole: boolean): void => {
      clearTimeout(timer);
      request.off("data", onData);
      request.off("end", onEnd);
      request.off("error", onBroken);
      request.off("close", onBroken);
      if (!whole) request.pause();
      resolve(whole);
    };
    const onData = (chunk: Buffer): void => {
      drainedBytes += chunk.length;
      if (drainedBytes > HTTP_OVERSIZED_BODY_DRAIN_BYTES_MAX) finish(false);
    };
    const onEnd = (): void => finish(true);
    const onBroken = (): void => finish(request.complete);
    const timer = setTimeout(() => finish(false), HTTP_OVERSIZED_BODY_DRAIN_MS_MAX);
    request.on("data", onData);
    request.once("end", onEnd);
    request.once("error", onBroken);
    request.once("close", onBroken);
    request.resume();
  });
}

/** The Content-Length the client declared; 0 when it sent none (chunked) or an unusable one. */
function declaredLength(request: IncomingMessage): number {
  const length = Number(request.headers["content-length"]);
  return Number.isFinite(length) && length > 0 ? length : 0;
}
