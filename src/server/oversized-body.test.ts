/**
 * A body over the limit is answered 413 with api.md's JSON error, and the client reads it:
 * not a broken pipe or a reset connection, however it sends (in pieces, chunked, after
 * `Expect: 100-continue`), every time. Over a real socket, since the failure was a TCP one.
 */
import { execFile, spawnSync } from "node:child_process";
import net from "node:net";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BODY_BYTES_MAX } from "../util/limits.js";
import { startServer, type ServingServer } from "./listen.js";
import { MemoryNode } from "./testing/memory-node.js";

const TWO_MIB = 2 * 1024 * 1024;
const PIECE_BYTES = 64 * 1024;
const REPEATS = 30;

let node: MemoryNode;
let server: ServingServer;
let port: number;

beforeAll(async () => {
  node = new MemoryNode({ id: "n1" });
  server = await startServer(node, "127.0.0.1:0", { logger: false });
  port = Number(new URL(server.url).port);
});

afterAll(async () => {
  await server.close();
  await node.close();
});

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * One connection, as a simple client does it: the request head, then the body in pieces (each
 * written once the socket took the last), and only then the answer is read. A write that
 * fails or a reset is thrown: that is what the user saw.
 */
class RawConnection {
  readonly #socket: net.Socket;
  #received = Buffer.alloc(0);
  #failure: Error | undefined;
  #ended = false;
  #wake: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.#received = Buffer.concat([this.#received, chunk]);
      this.#wake?.();
    });
    socket.on("error", (error) => {
      this.#failure ??= error;
      this.#wake?.();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#wake?.();
    });
  }

  static open(): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1", () => resolve(new RawConnection(socket)));
      socket.once("error", reject);
    });
  }

  async write(bytes: string | Buffer): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    await new Promise<void>((resolve, reject) => this.#socket.write(bytes, (error) => (error ? reject(error) : resolve())));
  }

  async sendBody(totalBytes: number, chunked: boolean): Promise<void> {
    const piece = Buffer.alloc(PIECE_BYTES, 0x61);
    for (let sent = 0; sent < totalBytes; sent += PIECE_BYTES) {
      const bytes = piece.subarray(0, Math.min(PIECE_BYTES, totalBytes - sent));
      await this.write(chunked ? Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from("\r\n")]) : bytes);
    }
    if (chunked) await this.write("0\r\n\r\n");
  }

  /** The next response on this connection (a 100 Continue is returned like any other). */
  async response(): Promise<RawResponse> {
    for (;;) {
      const parsed = this.#parse();
      if (parsed !== undefined) return parsed;
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#ended) throw new Error(`the server closed the connection before a whole response (got ${JSON.stringify(this.#received.toString("latin1").slice(0, 200))})`);
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** Whether the server closes the connection within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.#ended && this.#failure === undefined && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 20);
      });
    }
    return this.#ended || this.#failure !== undefined;
  }

  close(): void {
    this.#socket.destroy();
  }

  #parse(): RawResponse | undefined {
    const headEnd = this.#received.indexOf("\r\n\r\n");
    if (headEnd === -1) return undefined;
    const [statusLine, ...lines] = this.#received.subarray(0, headEnd).toString("latin1").split("\r\n");
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers["content-length"] ?? "0");
    if (this.#received.length < headEnd + 4 + length) return undefined;
    const body = this.#received.subarray(headEnd + 4, headEnd + 4 + length).toString("utf8");
    this.#received = this.#received.subarray(headEnd + 4 + length);
    return { status: Number(statusLine!.split(" ")[1]), headers, body };
  }
}

function expect413(response: RawResponse): void {
  expect(response.status).toBe(413);
  expect(response.headers["content-type"]).toMatch(/^application\/json/);
  expect(JSON.parse(response.body)).toEqual({ error: `the request body is larger than the ${BODY_BYTES_MAX} bytes this server accepts`, code: "body_too_large" });
}

describe("a body over the limit gets a 413 the client can read", () => {
  it(`a 2 MiB PUT sent in ${PIECE_BYTES / 1024} KiB pieces, then read: a 413 every time of ${REPEATS}, and the connection stays usable`, async () => {
    for (let attempt = 0; attempt < REPEATS; attempt++) {
      const connection = await RawConnection.open();
      try {
        await connection.write(`PUT /v1/kv/big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: ${TWO_MIB}\r\n\r\n`);
        await connection.sendBody(TWO_MIB, false);
        expect413(await connection.response());
        // The whole body was read, so the same connection serves the next request.
        await connection.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        expect((await connection.response()).status).toBe(200);
      } finally {
        connection.close();
      }
    }
  });

  it("a chunked 2 MiB body (no Content-Length) gets the 413 too", async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const connection = await RawConnection.open();
      try {
        await connection.write("PUT /v1/kv/big HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        await connection.sendBody(TWO_MIB, true);
        expect413(await connection.response());
      } finally {
        connection.close();
      }
    }
  });

  it("Expect: 100-continue with a length over the limit gets the 413 at once, not a 100 Continue, and nothing needs sending", async () => {
    const connection = await RawConnection.open();
    try {
      await connection.write(`PUT /v1/kv/big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${50 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`);
      expect413(await connection.response());
      expect(await connection.closedWithin(2_000)).toBe(true);
    } finally {
      connection.close();
    }
  });

  it("Expect: 100-continue with a length within the limit gets 100 Continue, and the write goes through", async () => {
    const connection = await RawConnection.open();
    try {
      await connection.write("PUT /v1/kv/small HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
      expect((await connection.response()).status).toBe(100);
      await connection.write("hello");
      const answer = await connection.response();
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ key: "small", version: 1 });
    } finally {
      connection.close();
    }
  });
});

const python = spawnSync("python3", ["--version"], { encoding: "utf8" });
const havePython = python.status === 0;
if (!havePython) console.warn("python3 not found: skipping the urllib test of oversized bodies");

describe.skipIf(!havePython)("Python's urllib (the client of the report)", () => {
  it(`gets the 413 with its JSON error for each of ${REPEATS} PUTs of 2 MiB`, async () => {
    const script = `
import json, sys, urllib.request, urllib.error
url, repeats = sys.argv[1], int(sys.argv[2])
body = b"x" * (2 * 1024 * 1024)
outcomes = []
for _ in range(repeats):
    try:
        urllib.request.urlopen(urllib.request.Request(url, data=body, method="PUT"), timeout=20)
        outcomes.append("200")
    except urllib.error.HTTPError as error:
        outcomes.append(str(error.code) + " " + json.loads(error.read())["code"])
    except Exception as error:
        outcomes.append(type(error).__name__ + ": " + str(error))
print(json.dumps(outcomes))
`;
    // Asynchronously: the server under test runs in this process.
    const run = await promisify(execFile)("python3", ["-c", script, `${server.url}/v1/kv/big`, String(REPEATS)], { encoding: "utf8", timeout: 50_000 });
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual(Array.from({ length: REPEATS }, () => "413 body_too_large"));
  });
});
