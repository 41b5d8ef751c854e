/**
 * One keep-alive HTTP/1.1 connection with one request in flight at a time, on a raw socket.
 * The load generator holds one per simulated client. node:http's Agent and fetch cost several
 * times more CPU per request than this, and the generator must not be what limits a benchmark.
 * A connection that fails or is closed by the server reconnects on the next request.
 */
import net from "node:net";
import { assert } from "./assert.js";
import { ResponseParser, type ParsedResponse } from "./http-response.js";

export class ConnectionError extends Error {
  override name = "ConnectionError";
}

interface InFlight {
  readonly resolve: (response: ParsedResponse) => void;
  readonly reject: (error: Error) => void;
  readonly startedMs: number;
}

export class HttpConnection {
  readonly host: string;
  readonly port: number;
  #socket: net.Socket | undefined;
  #connecting: Promise<net.Socket> | undefined;
  #inFlight: InFlight | undefined;
  readonly #parser = new ResponseParser();

  constructor(address: string) {
    const colon = address.lastIndexOf(":");
    assert(colon > 0, `address ${address} is not HOST:PORT`);
    this.host = address.slice(0, colon);
    this.port = Number(address.slice(colon + 1));
    assert(Number.isInteger(this.port) && this.port > 0 && this.port < 65536, `bad port in ${address}`);
  }

  /** When the request in flight started (performance.now()), or undefined when idle. */
  get inFlightSinceMs(): number | undefined {
    return this.#inFlight?.startedMs;
  }

  async open(): Promise<void> {
    await this.#ensureSocket();
  }

  /**
   * Sends a request (head = request line and headers with the blank line; body optional) and
   * resolves with the response. Rejects with ConnectionError when the connection fails first.
   */
  async request(head: string, body?: Buffer): Promise<ParsedResponse> {
    assert(this.#inFlight === undefined, "one request at a time per connection");
    const socket = this.#socket ?? (await this.#ensureSocket());
    return new Promise<ParsedResponse>((resolve, reject) => {
      this.#inFlight = { resolve, reject, startedMs: performance.now() };
      this.#parser.reset();
      if (body === undefined) {
        socket.write(head, "latin1");
      } else {
        socket.cork();
        socket.write(head, "latin1");
        socket.write(body);
        socket.uncork();
      }
    });
  }

  /** Drops the connection; a request in flight fails with the given reason. */
  abort(reason: string): void {
    const socket = this.#socket;
    this.#socket = undefined;
    this.#fail(new ConnectionError(reason));
    socket?.destroy();
  }

  close(): void {
    this.abort("connection closed by the load generator");
  }

  #ensureSocket(): Promise<net.Socket> {
    if (this.#socket !== undefined) return Promise.resolve(this.#socket);
    this.#connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
      const onConnectError = (error: Error): void => {
        this.#connecting = undefined;
        reject(new ConnectionError(`cannot connect to ${this.host}:${this.port}: ${error.message}`));
      };
      socket.once("error", onConnectError);
      socket.once("connect", () => {
        socket.removeListener("error", onConnectError);
        this.#attach(socket);
        this.#connecting = undefined;
        resolve(socket);
      });
    });
    return this.#connecting;
  }

  #attach(socket: net.Socket): void {
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => this.#onData(socket, chunk));
    socket.on("error", (error) => this.#onGone(socket, `connection to ${this.host}:${this.port} failed: ${error.message}`));
    socket.on("close", () => this.#onGone(socket, `connection to ${this.host}:${this.port} closed by the server`));
  }

  #onData(socket: net.Socket, chunk: Buffer): void {
    let response: ParsedResponse | undefined;
    try {
      response = this.#parser.feed(chunk);
    } catch (error) {
      this.#onGone(socket, `bad response from ${this.host}:${this.port}: ${(error as Error).message}`);
      socket.destroy();
      return;
    }
    if (response === undefined) return;
    const inFlight = this.#inFlight;
    this.#inFlight = undefined;
    if (response.closes) {
      this.#socket = undefined;
      socket.destroy();
    }
    if (inFlight === undefined) {
      this.#onGone(socket, `unsolicited response from ${this.host}:${this.port}`);
      socket.destroy();
      return;
    }
    inFlight.resolve(response);
  }

  /** A socket failed or closed: the request in flight on it fails (a replaced socket's end is ignored). */
  #onGone(socket: net.Socket, reason: string): void {
    if (this.#socket !== socket) return;
    this.#socket = undefined;
    this.#fail(new ConnectionError(reason));
  }

  #fail(error: Error): void {
    const inFlight = this.#inFlight;
    this.#inFlight = undefined;
    inFlight?.reject(error);
  }
}
