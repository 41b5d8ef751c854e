/**
 * The requests each system under test receives for the same logical operation, prebuilt as
 * far as possible so that the generator spends its time waiting, not formatting:
 *
 * - Flotilla (api.md): PUT /v1/kv/{key} with the raw value; GET /v1/kv/{key}, with
 *   ?consistency=stale for a stale read.
 * - etcd's HTTP/JSON gateway: POST /v3/kv/put {"key","value"} and POST /v3/kv/range {"key"}
 *   with base64 keys and values; "serializable": true for a stale read (linearizable is the default).
 * - trivial: GET / against a do-nothing server, to measure the generator's own ceiling.
 */
import { unreachable } from "./assert.js";

export type SystemKind = "flotilla" | "etcd" | "trivial";
export type ReadConsistency = "linearizable" | "stale";

export interface BenchRequest {
  readonly head: string;
  readonly body: Buffer | undefined;
}

export interface RequestSet {
  write(keyIndex: number): BenchRequest;
  read(keyIndex: number): BenchRequest;
}

export interface RequestSetOptions {
  readonly system: SystemKind;
  readonly keyPrefix: string;
  readonly keyCount: number;
  readonly valueBytes: number;
  readonly consistency: ReadConsistency;
  /** The Host header: the address the requests go to. */
  readonly host: string;
}

/** The key of index i: the prefix and a zero-padded number, so keys sort by index. */
export function benchKey(prefix: string, index: number): string {
  return `${prefix}${String(index).padStart(6, "0")}`;
}

/** A value of printable ASCII (valid UTF-8 and JSON-safe for every system), the same every run. */
export function benchValue(bytes: number): Buffer {
  const value = Buffer.alloc(bytes);
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  for (let i = 0; i < bytes; i++) value[i] = alphabet.charCodeAt((i * 7 + 3) % alphabet.length);
  return value;
}

export function requestSet(options: RequestSetOptions): RequestSet {
  switch (options.system) {
    case "flotilla":
      return flotillaRequests(options);
    case "etcd":
      return etcdRequests(options);
    case "trivial":
      return trivialRequests(options);
    default:
      return unreachable(options.system, "system");
  }
}

function keys(options: RequestSetOptions, encode: (key: string) => string): string[] {
  return Array.from({ length: options.keyCount }, (_, i) => encode(benchKey(options.keyPrefix, i)));
}

function flotillaRequests(options: RequestSetOptions): RequestSet {
  const paths = keys(options, (key) => `/v1/kv/${encodeURIComponent(key)}`);
  const value = benchValue(options.valueBytes);
  const query = options.consistency === "stale" ? "?consistency=stale" : "";
  const writeHeaders = ` HTTP/1.1\r\nHost: ${options.host}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${value.length}\r\n\r\n`;
  const readHeaders = `${query} HTTP/1.1\r\nHost: ${options.host}\r\n\r\n`;
  return {
    write: (keyIndex) => ({ head: `PUT ${paths[keyIndex]!}${writeHeaders}`, body: value }),
    read: (keyIndex) => ({ head: `GET ${paths[keyIndex]!}${readHeaders}`, body: undefined }),
  };
}

function etcdRequests(options: RequestSetOptions): RequestSet {
  const base64Keys = keys(options, (key) => Buffer.from(key).toString("base64"));
  const valueTail = Buffer.from(`","value":"${benchValue(options.valueBytes).toString("base64")}"}`);
  const readTail = options.consistency === "stale" ? `","serializable":true}` : `"}`;
  const headers = (length: number): string => `HTTP/1.1\r\nHost: ${options.host}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
  return {
    write: (keyIndex) => {
      const start = `{"key":"${base64Keys[keyIndex]!}`;
      return { head: `POST /v3/kv/put ${headers(start.length + valueTail.length)}${start}`, body: valueTail };
    },
    read: (keyIndex) => {
      const body = `{"key":"${base64Keys[keyIndex]!}${readTail}`;
      return { head: `POST /v3/kv/range ${headers(body.length)}${body}`, body: undefined };
    },
  };
}

function trivialRequests(options: RequestSetOptions): RequestSet {
  const request: BenchRequest = { head: `GET / HTTP/1.1\r\nHost: ${options.host}\r\n\r\n`, body: undefined };
  return { write: () => request, read: () => request };
}
