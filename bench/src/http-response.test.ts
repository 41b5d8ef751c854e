import { describe, expect, it } from "vitest";
import { ResponseParser, ResponseProtocolError, type ParsedResponse } from "./http-response.js";

/** Feeds the bytes in pieces of the given size; returns the response and how many feeds it took. */
function parse(text: string, pieceBytes = Infinity): ParsedResponse | undefined {
  const parser = new ResponseParser();
  const bytes = Buffer.from(text, "latin1");
  let response: ParsedResponse | undefined;
  for (let offset = 0; offset < bytes.length; offset += Math.min(pieceBytes, bytes.length)) {
    expect(response).toBeUndefined();
    response = parser.feed(bytes.subarray(offset, offset + Math.min(pieceBytes, bytes.length)));
  }
  return response;
}

const FASTIFY_OK = 'HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: 13\r\nDate: x\r\nConnection: keep-alive\r\n\r\n{"revision":1}'.replace("13", "14");
const GO_CHUNKED = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";

describe("ResponseParser", () => {
  it("parses a Content-Length response whole and in pieces of any size", () => {
    for (const piece of [Infinity, 1, 2, 3, 7, 50]) {
      expect(parse(FASTIFY_OK, piece)).toEqual({ status: 200, closes: false, errorBody: "" });
    }
  });

  it("parses a chunked response with extensions and trailers, in pieces of any size", () => {
    for (const piece of [Infinity, 1, 2, 5, 13]) {
      expect(parse(GO_CHUNKED, piece)).toEqual({ status: 200, closes: false, errorBody: "" });
    }
  });

  it("keeps the first bytes of an error body, which say what went wrong", () => {
    const body = '{"error":"no leader","code":"no_leader"}';
    const response = parse(`HTTP/1.1 503 Service Unavailable\r\nContent-Length: ${body.length}\r\nRetry-After: 1\r\n\r\n${body}`, 4);
    expect(response).toEqual({ status: 503, closes: false, errorBody: body });
    const long = "x".repeat(10_000);
    expect(parse(`HTTP/1.1 500 Oops\r\nContent-Length: ${long.length}\r\n\r\n${long}`)!.errorBody.length).toBe(240);
  });

  it("notices that the server will close the connection", () => {
    expect(parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")!.closes).toBe(true);
    expect(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")!.closes).toBe(true);
    expect(parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")!.closes).toBe(false);
  });

  it("is ready for the next response after reset, and refuses bytes nobody asked for", () => {
    const parser = new ResponseParser();
    expect(parser.feed(Buffer.from(FASTIFY_OK))?.status).toBe(200);
    expect(() => parser.feed(Buffer.from("HTTP/1.1"))).toThrow(ResponseProtocolError);
    parser.reset();
    expect(parser.feed(Buffer.from(GO_CHUNKED))?.status).toBe(200);
    expect(() => new ResponseParser().feed(Buffer.from(`${FASTIFY_OK}HTTP/1.1 200 OK\r\n`))).toThrow(/after a complete response/);
  });

  it("names what is wrong with a malformed response", () => {
    const bad = (text: string): unknown => () => new ResponseParser().feed(Buffer.from(text));
    expect(bad("SSH-2.0-OpenSSH\r\n\r\n")).toThrow(/not an HTTP\/1.x status line/);
    expect(bad("HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n")).toThrow(/bad Content-Length/);
    expect(bad("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n")).toThrow(/malformed header line/);
    expect(bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")).toThrow(/bad chunk size/);
    expect(bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY")).toThrow(/not followed by CRLF/);
    expect(bad("HTTP/1.1 200 OK\r\n\r\n")).toThrow(/neither Content-Length nor chunked/);
  });

  it("refuses an endless head or chunk line instead of buffering it", () => {
    const parser = new ResponseParser();
    expect(() => {
      for (let i = 0; i < 100; i++) parser.feed(Buffer.from(`X-Filler-${i}: ${"a".repeat(1000)}\r\n`));
    }).toThrow(/response head longer than/);
    const chunked = new ResponseParser();
    chunked.feed(Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
    expect(() => chunked.feed(Buffer.from("1".repeat(2000)))).toThrow(/chunk framing line longer than/);
  });
});
