/**
 * The few HTTP calls a node makes to other nodes (joining, registering its addresses), over
 * node:http. Not fetch: its first call loads undici, which keeps ~12 MiB resident in the node
 * for the rest of its life (and ~40 MiB at its peak), for a handful of requests at startup.
 */
import http from "node:http";
import https from "node:https";

export interface HttpCallOptions {
  readonly method: "GET" | "POST";
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs: number;
  /** A longer answer is an error: the caller expects a small JSON document. */
  readonly responseBytesMax: number;
}

export interface HttpAnswer {
  readonly status: number;
  readonly text: string;
}

/** One request; rejects on a connection error, the timeout, or an oversized answer. */
export function httpCall(url: string, options: HttpCallOptions): Promise<HttpAnswer> {
  const target = new URL(url);
  const client = target.protocol === "https:" ? https : http;
  return new Promise<HttpAnswer>((resolve, reject) => {
    const request = client.request(target, { method: options.method, headers: options.headers ?? {}, timeout: options.timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      response.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > options.responseBytesMax) {
          request.destroy(new Error(`the answer from ${target.origin} is longer than ${options.responseBytesMax} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`no answer from ${target.origin} within ${options.timeoutMs} ms`)));
    request.on("error", reject);
    request.end(options.body);
  });
}
