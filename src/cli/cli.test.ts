/**
 * The CLI, in-process through run(argv, io) against a real HTTP server over the in-memory node:
 * exit statuses (0 ok, 1 failed, 2 usage), one-line errors, outputs, --endpoints failover.
 * When dist/ is built (npm test builds first), the real executable is spawned too.
 */
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type ServingServer } from "../server/listen.js";
import { MemoryNode } from "../server/testing/memory-node.js";
import { VALUE_BYTES_MAX } from "../util/limits.js";
import { freePort } from "../util/ports.js";
import { planDev } from "./dev-command.js";
import { negativeNumbersAsArguments, type Io } from "./io.js";
import { run } from "./run.js";
import { logFormatFor, planStart } from "./start-command.js";

interface Captured {
  readonly code: number;
  readonly stdout: Buffer;
  readonly out: string;
  readonly err: string;
}

/** Runs the CLI in-process; `stdin`: what standard input holds (none: there is no standard input). */
async function cli(argv: string[], stdin?: Buffer | string): Promise<Captured> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const io: Io = {
    stdout: { write: (chunk) => out.push(Buffer.from(chunk)) },
    stderr: { write: (chunk) => err.push(Buffer.from(chunk)) },
    ...(stdin === undefined ? {} : { stdin: Readable.from([Buffer.from(stdin)]) }),
    waitForStop: () => new Promise(() => {}),
  };
  const code = await run(argv, io);
  const stdout = Buffer.concat(out);
  return { code, stdout, out: stdout.toString("utf8"), err: Buffer.concat(err).toString("utf8") };
}

let node: MemoryNode;
let server: ServingServer;
let endpoint: string;
let deadEndpoint: string;

beforeAll(async () => {
  node = new MemoryNode({ id: "n1" });
  server = await startServer(node, "127.0.0.1:0", { logger: false });
  endpoint = server.url.replace("http://", "");
  deadEndpoint = `127.0.0.1:${await closedPort()}`;
});

afterAll(async () => {
  await server.close();
  await node.close();
});

const on = (...argv: string[]): Promise<Captured> => cli([...argv, "--endpoints", endpoint]);

function expectOneErrorLine(result: Captured, pattern: RegExp): void {
  const lines = result.err.split("\n").filter((line) => line.length > 0);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

describe("usage errors exit 2 with one line on stderr", () => {
  const cases: [string, string[], RegExp][] = [
    ["an unknown command", ["frobnicate"], /unknown command "frobnicate"/],
    ["put without a value", ["put", "k"], /missing VALUE/],
    ["put with too many arguments", ["put", "k", "v", "w"], /unexpected argument "w"/],
    ["a non-numeric --if-mod-revision", ["put", "k", "v", "--if-mod-revision", "x"], /--if-mod-revision must be an integer/],
    ["an unknown option", ["get", "k", "--nope"], /Unknown option '--nope'/],
    ["a bad --consistency", ["get", "k", "--consistency", "strong"], /--consistency must be linearizable or stale/],
    ["a zero --limit", ["ls", "--limit", "0"], /--limit must be an integer ≥ 1/],
    ["--prefix with --if-mod-revision", ["del", "k", "--prefix", "--if-mod-revision", "1"], /cannot be combined/],
    ["an unusable endpoint", ["get", "k", "--endpoints", "ftp://x:1"], /--endpoints: .*only http and https/],
    ["an empty endpoint list", ["status", "--endpoints", ","], /no endpoint given/],
    ["an unknown members action", ["members", "demote", "n2"], /unknown members action "demote"/],
    ["members add without a peer", ["members", "add", "n2"], /missing PEERADDR/],
    ["start with a bootstrap that leaves this node out", ["start", "--bootstrap", "n2=127.0.0.1:7382"], /must include this node \(n1\)/],
    ["start with both bootstrap and join", ["start", "--bootstrap", "n1=127.0.0.1:7380", "--join", "127.0.0.1:7379"], /not --bootstrap and --join together/],
    ["start with both join and discover", ["start", "--join", "127.0.0.1:7379", "--discover", "prod"], /not --join and --discover together/],
    ["start with --expect alone", ["start", "--expect", "3"], /--expect goes with --discover/],
    ["start with a bad cluster name", ["start", "--discover", "a.b"], /--discover takes a cluster name/],
    ["start with a join token that has a space", ["start", "--join-token", "a b"], /--join-token must be/],
    ["members remove with a join token", ["members", "remove", "n2", "--join-token", "t"], /--join-token go with members add/],
    ["start with a bad client address", ["start", "--client", "localhost"], /--client must be HOST:PORT/],
    ["start with a bad log level", ["start", "--log-level", "loud"], /--log-level must be one of/],
    ["dev with too many nodes", ["dev", "--nodes", "99"], /--nodes must be 1\.\.9/],
    ["put with a lease (leases are not available yet)", ["put", "k", "v", "--lease", "5"], /^flotilla put: --lease 5: leases are not available yet/],
    ["put with a value and --file", ["put", "k", "v", "--file", "/etc/hostname"], /give the value once/],
    ["put with a file that cannot be read", ["put", "k", "--file", "/nonexistent/value"], /cannot read \/nonexistent\/value: .*ENOENT/],
    ["put - with no standard input", ["put", "k", "-"], /the value: there is no standard input to read/],
    ["a negative --if-mod-revision", ["put", "k", "v", "--if-mod-revision", "-1"], /--if-mod-revision must be an integer ≥ 0, not "-1"/],
    ["txn that is not JSON", ["txn", "{compare:"], /the transaction is not valid JSON/],
    ["txn that is not an object", ["txn", "[1]"], /the transaction must be a JSON object of compare, success and failure/],
    ["txn with an unknown field", ["txn", '{"succes":[]}'], /unknown field "succes" in the transaction \(expected compare, success, failure\)/],
    ["txn with a branch that is not an array", ["txn", '{"success":{"put":{}}}'], /success must be an array/],
    ["txn with a put value that is not a string", ["txn", '{"success":[{"put":{"key":"k","value":5}}]}'], /success\[0\]\.put\.value must be a string/],
    ["txn with an operation of two kinds", ["txn", '{"success":[{"put":{"key":"k","value":"v"},"get":{"key":"k"}}]}'], /success\[0\] must hold exactly one of put, get, delete/],
    ["txn with an argument and --file", ["txn", "{}", "--file", "t.json"], /give the transaction once/],
    ["start with a bad log format", ["start", "--log-format", "xml"], /--log-format must be json or pretty, not "xml"/],
    ["help for an unknown command", ["help", "frobnicate"], /unknown command "frobnicate"/],
  ];
  for (const [name, argv, pattern] of cases) {
    it(name, async () => {
      const result = await cli(argv);
      expect(result.code).toBe(2);
      expect(result.out).toBe("");
      expectOneErrorLine(result, pattern);
    });
  }

  it("a usage error points at that command's own usage", async () => {
    expect((await cli(["put", "k"])).err).toBe("flotilla put: missing VALUE (or - to read it from standard input, or --file PATH) (see flotilla put --help)\n");
    expect((await cli(["frobnicate"])).err).toBe('flotilla frobnicate: unknown command "frobnicate" (see flotilla help)\n');
  });

  it("no command at all prints the usage and exits 2", async () => {
    const result = await cli([]);
    expect(result.code).toBe(2);
    expect(result.err).toContain("usage: flotilla");
  });

  it("help prints the usage and exits 0", async () => {
    const result = await cli(["help"]);
    expect(result.code).toBe(0);
    expect(result.out).toContain("flotilla put KEY VALUE [--if-mod-revision N] [--lease ID]");
  });
});

describe("per-command help", () => {
  const commands = ["start", "dev", "put", "get", "del", "ls", "txn", "status", "members", "transfer-leader", "help"];
  for (const command of commands) {
    it(`flotilla ${command} --help prints that command's usage and exits 0, as does flotilla help ${command}`, async () => {
      const result = await cli([command, "--help"]);
      expect(result).toMatchObject({ code: 0, err: "" });
      expect(result.out.startsWith(`usage: flotilla ${command}`)).toBe(true);
      expect(result.out).not.toContain("Use a cluster");
      expect((await cli(["help", command])).out).toBe(result.out);
      expect((await cli([command, "-h"])).out).toBe(result.out);
    });
  }

  it("names each command's own options", async () => {
    expect((await cli(["put", "--help"])).out).toMatch(/--if-mod-revision N[\s\S]*--file PATH[\s\S]*--endpoints/);
    expect((await cli(["members", "--help"])).out).toContain("--learner");
    expect((await cli(["start", "--help"])).out).toContain("--log-format json|pretty");
  });

  it("--help after -- is a value, not a request for help", async () => {
    expect((await cli(["put", "--endpoints", endpoint, "input/help-value", "--", "--help"])).code).toBe(0);
    expect((await on("get", "input/help-value")).out).toBe("--help");
  });
});

describe("where a value comes from", () => {
  it("put KEY - reads the value from standard input, any bytes", async () => {
    const bytes = Buffer.from([0x00, 0xff, 0x0a, 0x2d, 0x80]);
    const result = await cli(["put", "input/stdin", "-", "--endpoints", endpoint], bytes);
    expect(result).toMatchObject({ code: 0, err: "" });
    expect(JSON.parse(result.out)).toMatchObject({ key: "input/stdin", version: 1 });
    expect((await on("get", "input/stdin")).stdout).toEqual(bytes);
  });

  it("put KEY --file PATH reads the value from the file; --file - is standard input", async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-cli-")), "value.bin");
    fs.writeFileSync(file, Buffer.from("from a file\n"));
    expect((await on("put", "input/file", "--file", file)).code).toBe(0);
    expect((await on("get", "input/file")).out).toBe("from a file\n");
    expect((await cli(["put", "input/file", "--file", "-", "--endpoints", endpoint], "from stdin")).code).toBe(0);
    expect((await on("get", "input/file")).out).toBe("from stdin");
    fs.rmSync(path.dirname(file), { recursive: true });
  });

  it("refuses a value from standard input larger than a value may be, before sending anything", async () => {
    const result = await cli(["put", "input/huge", "-", "--endpoints", endpoint], Buffer.alloc(VALUE_BYTES_MAX + 1));
    expect(result.code).toBe(2);
    expectOneErrorLine(result, new RegExp(`the value read from standard input is larger than the ${VALUE_BYTES_MAX} bytes allowed`));
    expect((await on("get", "input/huge")).code).toBe(1);
  });

  it("takes a negative number as a value, a key or an option's value, without --", async () => {
    expect((await on("put", "input/neg", "-1")).code).toBe(0);
    expect((await on("get", "input/neg")).out).toBe("-1");
    const { modRevision } = JSON.parse((await on("put", "input/neg", "-2.5e3")).out);
    expect((await on("put", "input/neg", "-0.5", "--if-mod-revision", String(modRevision))).code).toBe(0);
    expect((await on("get", "input/neg")).out).toBe("-0.5");
    expect((await on("put", "-7", "minus seven")).code).toBe(0);
    expect((await on("get", "-7")).out).toBe("minus seven");
    expect(negativeNumbersAsArguments(["k", "-1", "--lease", "0"], { lease: { type: "string" } })).toEqual(["--lease=0", "--", "k", "-1"]);
    expect(negativeNumbersAsArguments(["k", "v"], {})).toEqual(["k", "v"]);
  });

  it("--lease 0 (no lease) is accepted", async () => {
    expect((await on("put", "input/lease0", "v", "--lease", "0")).code).toBe(0);
    expect(JSON.parse((await on("get", "input/lease0", "--json")).out).lease).toBe(0);
  });
});

describe("txn", () => {
  const cas = (expected: string, next: string): string =>
    JSON.stringify({
      compare: [{ key: "txn/k", target: "value", op: "==", value: expected }],
      success: [{ put: { key: "txn/k", value: next } }],
      failure: [{ get: { key: "txn/k" } }],
    });

  it("runs a transaction given as an argument and prints the answer; exit 0 when the compares held", async () => {
    await on("put", "txn/k", "one");
    const result = await on("txn", cas("one", "two"));
    expect(result).toMatchObject({ code: 0, err: "" });
    expect(JSON.parse(result.out)).toEqual({ succeeded: true, revision: expect.any(Number), results: [{ put: { key: "txn/k", modRevision: expect.any(Number), version: 2 } }] });
    expect((await on("get", "txn/k")).out).toBe("two");
  });

  it("exits 1 when the compares failed, printing the failure branch's results and one line on stderr", async () => {
    await on("put", "txn/k", "three");
    const result = await on("txn", cas("one", "two"));
    expect(result.code).toBe(1);
    expect(JSON.parse(result.out)).toEqual({
      succeeded: false,
      revision: expect.any(Number),
      results: [{ get: { kvs: [{ key: "txn/k", value: "three", createRevision: expect.any(Number), modRevision: expect.any(Number), version: expect.any(Number), lease: 0 }], more: false } }],
    });
    expectOneErrorLine(result, /^flotilla txn: the compares did not all hold, so the failure operations ran \(revision \d+\)$/);
  });

  it("reads the transaction from standard input (no argument, or -) and from --file", async () => {
    await on("put", "txn/k", "a");
    expect((await cli(["txn", "--endpoints", endpoint], cas("a", "b"))).code).toBe(0);
    expect((await cli(["txn", "-", "--endpoints", endpoint], cas("b", "c"))).code).toBe(0);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-cli-")), "txn.json");
    fs.writeFileSync(file, cas("c", "d"));
    expect((await on("txn", "--file", file)).code).toBe(0);
    expect((await on("get", "txn/k")).out).toBe("d");
    fs.rmSync(path.dirname(file), { recursive: true });
  });

  it("passes the server's refusal of a malformed transaction on, naming the field (exit 1)", async () => {
    const result = await on("txn", JSON.stringify({ compare: [{ key: "k", target: "size", op: "==", value: 1 }] }));
    expect(result.code).toBe(1);
    expectOneErrorLine(result, /^flotilla txn: compare\[0\]\.target must be one of value, version, modRevision, createRevision, not "size" \(invalid_argument\)$/);
    const leased = await on("txn", JSON.stringify({ success: [{ put: { key: "k", value: "v", lease: 3 } }] }));
    expect(leased.code).toBe(1);
    expectOneErrorLine(leased, /leases are not available yet.*\(bad_request\)$/);
  });
});

describe("round trips", () => {
  it("put, get, ls, del", async () => {
    const put = await on("put", "cli/a", "hello world");
    expect(put.code).toBe(0);
    expect(JSON.parse(put.out)).toEqual({ revision: expect.any(Number), key: "cli/a", modRevision: expect.any(Number), version: 1 });

    const get = await on("get", "cli/a");
    expect(get.code).toBe(0);
    expect(get.out).toBe("hello world");
    expect(get.err).toBe("");

    await on("put", "cli/b", "second", "--lease", "0");
    const ls = await on("ls", "cli/");
    expect(ls.code).toBe(0);
    const listing = JSON.parse(ls.out);
    expect(listing.kvs.map((kv: { key: string; value: string }) => [kv.key, kv.value])).toEqual([
      ["cli/a", "hello world"],
      ["cli/b", "second"],
    ]);
    expect(listing.more).toBe(false);
    expect((await on("ls", "cli/", "--keys")).out).toBe("cli/a\ncli/b\n");
    expect(JSON.parse((await on("ls", "cli/", "--limit", "1")).out).more).toBe(true);

    const del = await on("del", "cli/a");
    expect(JSON.parse(del.out)).toEqual({ revision: expect.any(Number), deleted: 1 });
    expect((await on("get", "cli/a")).code).toBe(1);
    expect(JSON.parse((await on("del", "cli/", "--prefix")).out).deleted).toBe(1);
  });

  it("get prints raw bytes, and --json marks a value that is not UTF-8 as base64", async () => {
    await node.write({ type: "put", payload: { key: "cli/bin", value: new Uint8Array([0xff, 0x00, 0x7f]) } });
    expect((await on("get", "cli/bin")).stdout).toEqual(Buffer.from([0xff, 0x00, 0x7f]));
    const json = JSON.parse((await on("get", "cli/bin", "--json", "--consistency", "stale")).out);
    expect(json).toMatchObject({ key: "cli/bin", value: "/wB/", encoding: "base64" });
  });

  it("takes a value that looks like an option after --", async () => {
    expect((await cli(["put", "--endpoints", endpoint, "cli/dash", "--", "-1"])).code).toBe(0);
    expect((await on("get", "cli/dash")).out).toBe("-1");
  });

  it("status and members print JSON; members list --table prints a table", async () => {
    expect(JSON.parse((await on("status")).out)).toMatchObject({ id: "n1", role: "leader" });
    const added = await on("members", "add", "n2", "127.0.0.1:7382", "--learner", "--client", "127.0.0.1:7381");
    expect(added.code).toBe(0);
    expect(added.err).toBe("");
    expect(JSON.parse(added.out).members).toContainEqual({ id: "n2", peer: "127.0.0.1:7382", client: "http://127.0.0.1:7381", voter: false, role: "learner" });
    expect((await on("members", "list", "--table")).out).toBe(
      [
        "ID  ROLE     VOTER  PEER            CLIENT                 MATCH  LAG  LAST-CONTACT-MS",
        "n1  leader   yes    127.0.0.1:0                            -      -    -",
        "n2  learner  no     127.0.0.1:7382  http://127.0.0.1:7381  -      -    -",
        "",
      ].join("\n"),
    );
    expect(JSON.parse((await on("members", "promote", "n2")).out).members[1].voter).toBe(true);
    expect(JSON.parse((await on("members", "remove", "n2")).out).members).toHaveLength(1);
    expect(JSON.parse((await on("members")).out).members).toHaveLength(1);
    expect(JSON.parse((await on("transfer-leader")).out)).toEqual({ leader: "n1" });
  });

  it("members add without --learner warns on stderr that a voter counts in every quorum at once, and adds it", async () => {
    const added = await on("members", "add", "n3", "127.0.0.1:7384");
    expect(added.code).toBe(0);
    expectOneErrorLine(added, /^flotilla members add: warning: n3 is added as a voter, and counts in every quorum at once.*prefer --learner, then "flotilla members promote n3"/);
    expect(JSON.parse(added.out).members).toContainEqual(expect.objectContaining({ id: "n3", voter: true }));
    expect((await on("members", "remove", "n3")).code).toBe(0);
  });
});

describe("failures exit 1 with one line on stderr", () => {
  it("a missing key", async () => {
    const result = await on("get", "cli/never");
    expect(result.code).toBe(1);
    expect(result.out).toBe("");
    expectOneErrorLine(result, /^flotilla get: key "cli\/never" not found \(revision \d+\)$/);
  });

  it("a failed precondition", async () => {
    await on("put", "cli/cas", "1");
    const result = await on("put", "cli/cas", "2", "--if-mod-revision", "0");
    expect(result.code).toBe(1);
    expectOneErrorLine(result, /precondition failed.*\(precondition_failed\)$/);
  });

  it("a refused membership change", async () => {
    const result = await on("members", "remove", "ghost");
    expect(result.code).toBe(1);
    expectOneErrorLine(result, /ghost is not a member \(not_found\)/);
  });

  it("no reachable endpoint", async () => {
    const result = await cli(["get", "k", "--endpoints", deadEndpoint]);
    expect(result.code).toBe(1);
    expectOneErrorLine(result, /no endpoint answered .*ECONNREFUSED.*\(unavailable\)/);
  });
});

describe("--endpoints", () => {
  it("fails over to the next endpoint when one is unreachable", async () => {
    const put = await cli(["put", "cli/failover", "ok", "--endpoints", `${deadEndpoint},${endpoint}`]);
    expect(put.code).toBe(0);
    const get = await cli(["get", "cli/failover", "--endpoints", `${deadEndpoint},${endpoint}`]);
    expect(get.out).toBe("ok");
  });
});

describe("plans for start and dev", () => {
  it("start defaults follow api.md", () => {
    expect(planStart([])).toEqual({
      node: { id: "n1", dataDir: path.join("flotilla-data", "n1"), clientListen: "127.0.0.1:7379", peerListen: "127.0.0.1:7380" },
      logLevel: "info",
    });
    const plan = planStart(["--id", "n2", "--join", "127.0.0.1:7379,127.0.0.1:7381", "--advertise-client", "http://10.0.0.2:7379"]);
    expect(plan.node).toMatchObject({ id: "n2", dataDir: path.join("flotilla-data", "n2"), join: ["127.0.0.1:7379", "127.0.0.1:7381"], advertiseClient: "http://10.0.0.2:7379" });
  });

  it("start takes discovery by cluster name and a join token, from the option or the environment", () => {
    expect(planStart(["--discover", "prod-1", "--expect", "3", "--join-token", "s3cret"], {}).node).toMatchObject({
      discover: { clusterName: "prod-1", expect: 3 },
      joinToken: "s3cret",
    });
    expect(planStart(["--discover", "prod-1"], {}).node.discover).toEqual({ clusterName: "prod-1" });
    expect(planStart([], { FLOTILLA_JOIN_TOKEN: "from-env" }).node.joinToken).toBe("from-env");
    expect(planStart(["--join-token", "given"], { FLOTILLA_JOIN_TOKEN: "from-env" }).node.joinToken).toBe("given");
    expect(planStart([], {}).node.joinToken).toBeUndefined();
  });

  it("start's logs: pretty on a terminal, JSON lines otherwise, unless --log-format says", () => {
    expect(planStart([]).logFormat).toBeUndefined();
    expect(planStart(["--log-format", "pretty"]).logFormat).toBe("pretty");
    expect(planStart(["--log-format", "json"]).logFormat).toBe("json");
    expect([logFormatFor(undefined, true), logFormatFor(undefined, false), logFormatFor("json", true), logFormatFor("pretty", false)]).toEqual(["pretty", "json", "json", "pretty"]);
    expect(planDev(["--nodes", "1"])[0]!.args).toEqual(expect.arrayContaining(["--log-format", "json"]));
    expect(planDev(["--nodes", "1"], true)[0]!.args).toEqual(expect.arrayContaining(["--log-format", "pretty"]));
    expect(planDev(["--nodes", "1", "--log-format", "json"], true)[0]!.args).toEqual(expect.arrayContaining(["--log-format", "json"]));
  });

  it("start passes the tuning extensions to the node", () => {
    expect(planStart(["--snapshot-entries", "50", "--tick-ms", "20", "--request-timeout-ms", "3000"]).node.tuning).toEqual({ snapshotEntries: 50, tickMs: 20, requestTimeoutMs: 3000 });
    expect(() => planStart(["--election-timeout-ticks", "0"])).toThrow(/--election-timeout-ticks must be an integer ≥ 1/);
    expect(planStart(["--no-background-checkpoints"]).node.tuning).toEqual({ backgroundCheckpoints: false });
    expect(planStart([]).node.tuning).toBeUndefined();
  });

  it("dev gives each node its own ports and data, bootstrapped together", () => {
    const nodes = planDev(["--nodes", "3", "--data", "/tmp/dev"]);
    expect(nodes.map((n) => [n.id, n.client, n.peer, n.dataDir])).toEqual([
      ["n1", "127.0.0.1:7379", "127.0.0.1:7380", "/tmp/dev/n1"],
      ["n2", "127.0.0.1:7381", "127.0.0.1:7382", "/tmp/dev/n2"],
      ["n3", "127.0.0.1:7383", "127.0.0.1:7384", "/tmp/dev/n3"],
    ]);
    expect(nodes[2]!.args).toContain("n1=127.0.0.1:7380,n2=127.0.0.1:7382,n3=127.0.0.1:7384");
    expect(planStart(nodes[1]!.args.slice(1)).node).toMatchObject({ id: "n2", bootstrap: { n1: "127.0.0.1:7380", n2: "127.0.0.1:7382", n3: "127.0.0.1:7384" } });
  });
});

const MAIN = path.resolve("dist/cli/main.js");

describe.skipIf(!fs.existsSync(MAIN))("the built executable", () => {
  const exec = promisify(execFile);
  const flotilla = async (...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await exec(process.execPath, [MAIN, ...argv], { timeout: 20_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  it("puts and gets through a real process, with api.md's exit statuses", async () => {
    expect((await flotilla("put", "exe/k", "from a process", "--endpoints", endpoint)).code).toBe(0);
    expect(await flotilla("get", "exe/k", "--endpoints", `${deadEndpoint},${endpoint}`)).toEqual({ code: 0, stdout: "from a process", stderr: "" });
    const missing = await flotilla("get", "exe/none", "--endpoints", endpoint);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect((await flotilla("get")).code).toBe(2);
  });

  it("reads the value piped to put KEY -", async () => {
    const child = spawn(process.execPath, [MAIN, "put", "exe/piped", "-", "--endpoints", endpoint], { stdio: ["pipe", "ignore", "inherit"] });
    child.stdin!.end("piped\nvalue");
    expect(await new Promise((resolve) => child.once("exit", resolve))).toBe(0);
    expect((await flotilla("get", "exe/piped", "--endpoints", endpoint)).stdout).toBe("piped\nvalue");
  });

  /** A node's log from start until it serves, then SIGTERM until it stopped. */
  async function nodeLog(extraArgs: readonly string[]): Promise<string[]> {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-cli-log-"));
    const args = ["start", "--data", dataDir, "--client", `127.0.0.1:${await freePort()}`, "--peer", `127.0.0.1:${await freePort()}`, ...extraArgs];
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    const exited = new Promise((resolve) => child.once("close", resolve)); // every line read by then
    await new Promise<void>((resolve) =>
      child.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString("utf8");
        if (output.includes("serving clients")) resolve();
      }),
    );
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    fs.rmSync(dataDir, { recursive: true, force: true });
    return output.split("\n").filter((line) => line.length > 0);
  }

  it("start --trace FILE writes the steps of every write as JSON lines, flushed when it stops", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-cli-trace-"));
    const traceFile = path.join(dataDir, "trace.jsonl");
    const client = `127.0.0.1:${await freePort()}`;
    const child = spawn(process.execPath, [MAIN, "start", "--data", path.join(dataDir, "n1"), "--client", client, "--peer", `127.0.0.1:${await freePort()}`, "--trace", traceFile], { stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise((resolve) => child.once("close", resolve));
    let output = "";
    await new Promise<void>((resolve) => child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")).includes("serving clients") && resolve()));
    for (let attempt = 0; attempt < 50 && (await flotilla("put", "traced", "v", "--endpoints", client)).code !== 0; attempt++) await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    const steps = fs.readFileSync(traceFile, "utf8").trim().split("\n").map((line) => JSON.parse(line) as { step: string; node: string; at: number });
    for (const step of ["http-in", "proposed", "ready", "log-sync-start", "log-sync-end", "committed", "applied", "http-out"]) expect(steps.map((s) => s.step)).toContain(step);
    expect(steps.every((s) => s.node === "n1" && s.at > 1_600_000_000_000)).toBe(true); // milliseconds since the epoch, shared by the processes of a machine
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("start --log-format pretty writes a line for people per event; without it, on a pipe, JSON lines", async () => {
    const pretty = await nodeLog(["--log-format", "pretty"]);
    expect(pretty).toContainEqual(expect.stringMatching(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \(n1\) serving clients \{"component":"http","clientUrl":"http:\/\/127\.0\.0\.1:\d+",/));
    expect(pretty.at(-1)).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \(n1\) stopped$/);
    expect(pretty.some((line) => line.startsWith("{"))).toBe(false);
    expect(pretty.join("\n")).not.toContain("\u001b["); // no colour on a pipe
    const json = await nodeLog([]);
    for (const line of json) expect(JSON.parse(line)).toMatchObject({ level: expect.any(Number), msg: expect.any(String) });
    expect(JSON.parse(json.at(-1)!)).toMatchObject({ node: "n1", msg: "stopped" });
  });
});

async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
