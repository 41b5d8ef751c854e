/**
 * Constructing a Client: what a new user writes first. No options talks to the local node of
 * `flotilla start` (the CLI's default); anything unusable is refused with a sentence that says
 * what to pass, before any request is sent.
 */
import { describe, expect, it } from "vitest";
import { Client, DEFAULT_ENDPOINT, FlotillaError, type ClientOptions } from "./index.js";

function thrown(make: () => unknown): FlotillaError {
  try {
    make();
  } catch (error) {
    if (error instanceof FlotillaError) return error;
    throw new Error(`expected a FlotillaError, got ${String(error)}`);
  }
  throw new Error("expected the constructor to throw");
}

describe("new Client()", () => {
  it("talks to 127.0.0.1:7379 when no endpoint is given, like the CLI", () => {
    expect(DEFAULT_ENDPOINT).toBe("127.0.0.1:7379");
    expect(new Client().endpoints).toEqual(["http://127.0.0.1:7379"]);
    expect(new Client({}).endpoints).toEqual(["http://127.0.0.1:7379"]);
    expect(new Client({ retries: 0 }).endpoints).toEqual(["http://127.0.0.1:7379"]);
  });

  it("takes endpoints as a list or as one comma-separated string", () => {
    expect(new Client({ endpoints: ["10.0.0.1:7379", "https://db.example.com/"] }).endpoints).toEqual(["http://10.0.0.1:7379", "https://db.example.com"]);
    expect(new Client({ endpoints: "a:1, b:2," }).endpoints).toEqual(["http://a:1", "http://b:2"]);
  });

  it("refuses an empty endpoint list, saying what to pass", () => {
    const error = thrown(() => new Client({ endpoints: [] }));
    expect(error).toMatchObject({ status: 0, code: "invalid_endpoint" });
    expect(error.message).toBe('no endpoint given: endpoints is an empty list; give at least one node, e.g. { endpoints: ["127.0.0.1:7379"] }, or leave endpoints out to use 127.0.0.1:7379');
    for (const endpoints of ["", " , "]) {
      expect(thrown(() => new Client({ endpoints }))).toMatchObject({ code: "invalid_endpoint", message: "no endpoint given: write HOST:PORT[,HOST:PORT...]" });
    }
  });

  it("refuses options of the wrong type with a sentence, not a TypeError from inside", () => {
    expect(thrown(() => new Client(null as unknown as ClientOptions))).toMatchObject({
      code: "invalid_argument",
      message: 'new Client(options) takes an object such as { endpoints: ["127.0.0.1:7379"] }, not null',
    });
    expect(thrown(() => new Client("127.0.0.1:7379" as unknown as ClientOptions)).message).toBe(
      'new Client(options) takes an object such as { endpoints: ["127.0.0.1:7379"] }, not "127.0.0.1:7379"',
    );
    expect(thrown(() => new Client({ endpoints: 7379 as unknown as string })).message).toBe(
      'endpoints must be a list of "HOST:PORT" or URL strings, or one comma-separated string, not number 7379',
    );
    expect(thrown(() => new Client({ endpoints: ["a:1", { host: "b" }] as unknown as string[] })).message).toBe(
      'endpoints[1] must be a "HOST:PORT" or URL string, not an object',
    );
    expect(thrown(() => new Client({ endpoints: ["localhost"] })).message).toBe('endpoint "localhost" is not usable: it has no port (write HOST:PORT)');
  });
});
