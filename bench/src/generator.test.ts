import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { LoadGenerator, type GeneratorSpec } from "./generator.js";
import { benchKey, benchValue } from "./requests.js";

let server: http.Server | undefined;

afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

async function serve(handler: (request: http.IncomingMessage, body: Buffer, response: http.ServerResponse) => void): Promise<string> {
  server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => handler(request, Buffer.concat(chunks), response));
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function json(response: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  response.end(text);
}

/** A stand-in for Flotilla's /v1/kv/{key} (api.md): PUT stores the raw body, GET answers 200 or 404. */
function flotillaLike(store: Map<string, Buffer>, puts: string[]) {
  return (request: http.IncomingMessage, body: Buffer, response: http.ServerResponse): void => {
    const url = new URL(request.url!, "http://x");
    const key = decodeURIComponent(url.pathname.slice("/v1/kv/".length));
    if (request.method === "PUT") {
      store.set(key, body);
      puts.push(key);
      json(response, 200, { revision: puts.length });
    } else if (store.has(key)) json(response, 200, { key, value: store.get(key)!.toString() });
    else json(response, 404, { error: `key ${key} not found`, code: "not_found" });
  };
}

function spec(target: string, overrides: Partial<GeneratorSpec> = {}): GeneratorSpec {
  return { system: "flotilla", targets: [target, target, target, target], keyPrefix: "bench/", keyCount: 50, valueBytes: 100, readFraction: 0, consistency: "linearizable", seed: 1, ...overrides };
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("LoadGenerator", () => {
  it("fill puts every key of the range exactly once, with the value of the asked size", async () => {
    const store = new Map<string, Buffer>();
    const puts: string[] = [];
    const target = await serve(flotillaLike(store, puts));
    const generator = new LoadGenerator(spec(target, { keyCount: 300, valueBytes: 4096 }));
    await generator.open();
    const result = await generator.fill(0, 300);
    expect(result.writes.count).toBe(300);
    expect(result.errors).toEqual({});
    expect(puts.length).toBe(300);
    expect(new Set(puts)).toEqual(new Set(Array.from({ length: 300 }, (_, i) => benchKey("bench/", i))));
    expect(store.get(benchKey("bench/", 299))).toEqual(benchValue(4096));
  });

  it("counts only what completes while measuring, reads and writes in the asked proportion", async () => {
    const store = new Map<string, Buffer>();
    for (let i = 0; i < 50; i++) store.set(benchKey("bench/", i), benchValue(100));
    const puts: string[] = [];
    const target = await serve(flotillaLike(store, puts));
    const generator = new LoadGenerator(spec(target, { readFraction: 0.9 }));
    await generator.open();
    generator.start();
    await pause(100);
    const putsBeforeMeasuring = puts.length;
    generator.measure();
    await pause(400);
    const result = await generator.stop();
    expect(putsBeforeMeasuring).toBeGreaterThan(0);
    expect(result.writes.count).toBeLessThan(puts.length);
    const total = result.reads.count + result.writes.count;
    expect(total).toBeGreaterThan(100);
    expect(result.reads.count / total).toBeGreaterThan(0.8);
    expect(result.reads.count / total).toBeLessThan(0.97);
    expect(result.errors).toEqual({});
    expect(result.windowMs).toBeGreaterThan(300);
  });

  it("counts error answers by status and code, with what the server said", async () => {
    const target = await serve((_request, _body, response) => {
      response.setHeader("retry-after", "1");
      json(response, 503, { error: "no leader yet", code: "no_leader" });
    });
    const generator = new LoadGenerator(spec(target));
    await generator.open();
    generator.start();
    generator.measure();
    await pause(200);
    const result = await generator.stop();
    expect(result.writes.count).toBe(0);
    expect(Object.keys(result.errors)).toEqual(["HTTP 503 no_leader"]);
    expect(result.errors["HTTP 503 no_leader"]).toBeGreaterThan(0);
    expect(result.errorSamples["HTTP 503 no_leader"]).toContain("no leader yet");
  });

  it("speaks etcd's JSON gateway: base64 keys and values, serializable for stale reads, chunked answers", async () => {
    const seen: { path: string; key: string; value?: string; serializable?: boolean }[] = [];
    const target = await serve((request, body, response) => {
      const parsed = JSON.parse(body.toString()) as { key: string; value?: string; serializable?: boolean };
      seen.push({ path: request.url!, key: Buffer.from(parsed.key, "base64").toString(), ...(parsed.value ? { value: Buffer.from(parsed.value, "base64").toString() } : {}), ...(parsed.serializable ? { serializable: true } : {}) });
      response.writeHead(200, { "content-type": "application/json" });
      response.write('{"header":{}');
      response.end(',"kvs":[]}'); // no Content-Length: node sends it chunked, as Go does for larger bodies
    });
    const writer = new LoadGenerator(spec(target, { system: "etcd", keyCount: 10, valueBytes: 16 }));
    await writer.open();
    expect((await writer.fill(0, 10)).writes.count).toBe(10);
    expect(seen[0]).toEqual({ path: "/v3/kv/put", key: expect.stringMatching(/^bench\/\d{6}$/), value: benchValue(16).toString() });
    const reader = new LoadGenerator(spec(target, { system: "etcd", keyCount: 10, readFraction: 1, consistency: "stale" }));
    await reader.open();
    reader.start();
    reader.measure();
    await pause(100);
    const result = await reader.stop();
    expect(result.reads.count).toBeGreaterThan(0);
    expect(result.errors).toEqual({});
    expect(seen.at(-1)).toMatchObject({ path: "/v3/kv/range", serializable: true });
  });

  it("reconnects after the server drops a connection, and counts the drop as an error", async () => {
    let requests = 0;
    const store = new Map<string, Buffer>();
    const handle = flotillaLike(store, []);
    const target = await serve((request, body, response) => {
      requests += 1;
      if (requests % 10 === 0) request.socket.destroy();
      else handle(request, body, response);
    });
    const generator = new LoadGenerator(spec(target));
    await generator.open();
    generator.start();
    generator.measure();
    await pause(400);
    const result = await generator.stop();
    const dropped = Object.entries(result.errors).filter(([kind]) => /closed by the server/.test(kind));
    expect(dropped.length).toBe(1);
    expect(result.writes.count).toBeGreaterThan(5 * dropped[0]![1]);
  });
});
