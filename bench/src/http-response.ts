/**
 * An incremental parser for one HTTP/1.1 response at a time (no pipelining): status line,
 * headers, then a body framed by Content-Length or chunked transfer encoding (etcd's gateway,
 * a Go net/http server, chunks bodies above a few KiB). The body is skipped, except the first
 * bytes of an error response, which say what went wrong. Malformed or oversized input is a
 * ResponseProtocolError, never an unbounded buffer.
 */
import { BENCH_CHUNK_LINE_BYTES_MAX, BENCH_ERROR_BODY_BYTES_MAX, BENCH_RESPONSE_HEAD_BYTES_MAX } from "./limits.js";

export class ResponseProtocolError extends Error {
  override name = "ResponseProtocolError";
}

export interface ParsedResponse {
  readonly status: number;
  /** The server will close the connection after this response (Connection: close, HTTP/1.0). */
  readonly closes: boolean;
  /** The first bytes of the body of a response whose status is not 2xx; empty otherwise. */
  readonly errorBody: string;
}

const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");

type State = "head" | "length" | "chunk-size" | "chunk-data" | "chunk-end" | "trailer" | "done";

export class ResponseParser {
  #state: State = "head";
  #partial: Buffer | undefined;
  #status = 0;
  #closes = false;
  #remaining = 0;
  #errorBody: Buffer[] = [];
  #errorBodyBytes = 0;

  /** Makes the parser ready for the next response. */
  reset(): void {
    this.#state = "head";
    this.#partial = undefined;
    this.#status = 0;
    this.#closes = false;
    this.#remaining = 0;
    this.#errorBody = [];
    this.#errorBodyBytes = 0;
  }

  /** Feeds received bytes; returns the response once it is complete. */
  feed(chunk: Buffer): ParsedResponse | undefined {
    let data = this.#partial === undefined ? chunk : Buffer.concat([this.#partial, chunk]);
    this.#partial = undefined;
    while (data.length > 0) {
      if (this.#state === "done") throw new ResponseProtocolError(`${data.length} bytes arrived after a complete response, with no request outstanding`);
      const used = this.#step(data);
      if (used < 0) {
        this.#keepPartial(data);
        return undefined;
      }
      data = data.subarray(used);
    }
    if (this.#state !== "done") return undefined;
    return { status: this.#status, closes: this.#closes, errorBody: Buffer.concat(this.#errorBody).toString("utf8") };
  }

  /** Whether the parser is between responses, having received nothing of the next one. */
  get idle(): boolean {
    return (this.#state === "head" && this.#partial === undefined) || this.#state === "done";
  }

  /** Consumes what it can from the front of data: bytes used, or -1 when more are needed. */
  #step(data: Buffer): number {
    switch (this.#state) {
      case "head":
        return this.#head(data);
      case "length":
        return this.#body(data, "done");
      case "chunk-size":
        return this.#chunkSize(data);
      case "chunk-data":
        return this.#body(data, "chunk-end");
      case "chunk-end":
        return this.#chunkEnd(data);
      case "trailer":
        return this.#line(data, (line) => {
          if (line.length === 0) this.#state = "done";
        });
      case "done":
        return 0;
    }
  }

  #head(data: Buffer): number {
    const end = data.indexOf(HEAD_END);
    if (end < 0) {
      if (data.length > BENCH_RESPONSE_HEAD_BYTES_MAX) throw new ResponseProtocolError(`response head longer than ${BENCH_RESPONSE_HEAD_BYTES_MAX} bytes`);
      return -1;
    }
    if (end > BENCH_RESPONSE_HEAD_BYTES_MAX) throw new ResponseProtocolError(`response head longer than ${BENCH_RESPONSE_HEAD_BYTES_MAX} bytes`);
    const lines = data.toString("latin1", 0, end).split("\r\n");
    const statusLine = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]!);
    if (statusLine === null) throw new ResponseProtocolError(`not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 80))}`);
    this.#status = Number(statusLine[2]);
    this.#closes = statusLine[1] === "0";
    let length: number | undefined;
    let chunked = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(":");
      if (colon <= 0) throw new ResponseProtocolError(`malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === "content-length") length = contentLength(value);
      else if (name === "transfer-encoding") chunked = value.split(",").map((part) => part.trim()).includes("chunked");
      else if (name === "connection") this.#closes = value === "close" ? true : value === "keep-alive" ? false : this.#closes;
    }
    this.#enterBody(chunked, length);
    return end + HEAD_END.length;
  }

  #enterBody(chunked: boolean, length: number | undefined): void {
    if (this.#status === 204 || this.#status === 304 || (this.#status >= 100 && this.#status < 200)) {
      if (this.#status < 200) throw new ResponseProtocolError(`unexpected interim response ${this.#status}`);
      this.#state = "done";
    } else if (chunked) {
      this.#state = "chunk-size";
    } else if (length !== undefined) {
      this.#remaining = length;
      this.#state = length === 0 ? "done" : "length";
    } else {
      throw new ResponseProtocolError("a response with neither Content-Length nor chunked encoding (a body ended by closing) is not supported");
    }
  }

  #body(data: Buffer, next: State): number {
    const used = Math.min(this.#remaining, data.length);
    this.#keepErrorBody(data.subarray(0, used));
    this.#remaining -= used;
    if (this.#remaining === 0) this.#state = next;
    return used;
  }

  #chunkSize(data: Buffer): number {
    return this.#line(data, (line) => {
      const text = line.toString("latin1").split(";")[0]!.trim();
      if (!/^[0-9a-fA-F]{1,12}$/.test(text)) throw new ResponseProtocolError(`bad chunk size ${JSON.stringify(text.slice(0, 40))}`);
      this.#remaining = parseInt(text, 16);
      this.#state = this.#remaining === 0 ? "trailer" : "chunk-data";
    });
  }

  /** The CRLF after a chunk's data: checked byte by byte, so garbage fails at once. */
  #chunkEnd(data: Buffer): number {
    if (data[0] !== 0x0d || (data.length > 1 && data[1] !== 0x0a)) throw new ResponseProtocolError("a chunk is not followed by CRLF");
    if (data.length < 2) return -1;
    this.#state = "chunk-size";
    return 2;
  }

  /** Reads one CRLF-terminated line and hands it (without CRLF) to onLine. */
  #line(data: Buffer, onLine: (line: Buffer) => void): number {
    const end = data.indexOf(CRLF);
    if (end < 0) {
      if (data.length > BENCH_CHUNK_LINE_BYTES_MAX) throw new ResponseProtocolError(`chunk framing line longer than ${BENCH_CHUNK_LINE_BYTES_MAX} bytes`);
      return -1;
    }
    if (end > BENCH_CHUNK_LINE_BYTES_MAX) throw new ResponseProtocolError(`chunk framing line longer than ${BENCH_CHUNK_LINE_BYTES_MAX} bytes`);
    onLine(data.subarray(0, end));
    return end + CRLF.length;
  }

  #keepErrorBody(bytes: Buffer): void {
    if (this.#status < 300 || this.#errorBodyBytes >= BENCH_ERROR_BODY_BYTES_MAX) return;
    const kept = bytes.subarray(0, BENCH_ERROR_BODY_BYTES_MAX - this.#errorBodyBytes);
    this.#errorBody.push(Buffer.from(kept));
    this.#errorBodyBytes += kept.length;
  }

  #keepPartial(data: Buffer): void {
    // A copy: the socket's chunk may be a view into a larger pooled buffer.
    this.#partial = Buffer.from(data);
  }
}

function contentLength(value: string): number {
  if (!/^\d{1,15}$/.test(value)) throw new ResponseProtocolError(`bad Content-Length ${JSON.stringify(value.slice(0, 40))}`);
  return Number(value);
}
