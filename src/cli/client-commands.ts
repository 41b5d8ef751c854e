/** The commands that use a cluster through the client: put, get, del, ls, txn, status, members, transfer-leader. */
import { Client, FlotillaError, type KeyValue, type Member, type TxnResponse } from "../client/index.js";
import { CLI_TXN_INPUT_BYTES_MAX, CLI_VALUE_INPUT_BYTES_MAX } from "../util/limits.js";
import { DEFAULT_ENDPOINT } from "./help.js";
import { EXIT_FAILED, EXIT_OK, flag, integerOption, parse, positionals, printJson, readInput, stringOption, UsageError, type Io, type Options, type Parsed } from "./io.js";
import { parseTxnRequest } from "./txn-input.js";

const CLIENT_OPTIONS: Options = {
  endpoints: { type: "string" },
  timeout: { type: "string" },
};

type ClientCommand = (client: Client, parsed: Parsed, io: Io) => Promise<number>;

interface CommandSpec {
  readonly options: Options;
  readonly run: ClientCommand;
}

export const CLIENT_COMMANDS: Readonly<Record<string, CommandSpec>> = {
  put: { options: { "if-mod-revision": { type: "string" }, lease: { type: "string" }, file: { type: "string" } }, run: put },
  get: { options: { consistency: { type: "string" }, json: { type: "boolean" } }, run: get },
  del: { options: { prefix: { type: "boolean" }, "if-mod-revision": { type: "string" } }, run: del },
  ls: { options: { limit: { type: "string" }, after: { type: "string" }, consistency: { type: "string" }, keys: { type: "boolean" } }, run: ls },
  txn: { options: { file: { type: "string" } }, run: txn },
  status: { options: {}, run: status },
  members: { options: { learner: { type: "boolean" }, client: { type: "string" }, "join-token": { type: "string" }, table: { type: "boolean" } }, run: members },
  "transfer-leader": { options: {}, run: transferLeader },
};

/** Parses the command's arguments (usage errors first, before any connection), then runs it. */
export async function runClientCommand(name: string, argv: readonly string[], io: Io): Promise<number> {
  const spec = CLIENT_COMMANDS[name]!;
  const parsed = parse(argv, { ...CLIENT_OPTIONS, ...spec.options });
  const client = makeClient(parsed);
  try {
    return await spec.run(client, parsed, io);
  } catch (error) {
    if (!(error instanceof FlotillaError)) throw error;
    if (error.status === 0 && (error.code === "invalid_endpoint" || error.code === "invalid_argument")) throw new UsageError(error.message);
    io.stderr.write(`flotilla ${name}: ${error.message} (${error.code})\n`);
    return EXIT_FAILED;
  }
}

function makeClient(parsed: Parsed): Client {
  const timeoutMs = integerOption(parsed, "timeout", 1);
  try {
    return new Client({ endpoints: stringOption(parsed, "endpoints") ?? DEFAULT_ENDPOINT, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  } catch (error) {
    if (error instanceof FlotillaError) throw new UsageError(`--endpoints: ${error.message}`);
    throw error;
  }
}

async function put(client: Client, parsed: Parsed, io: Io): Promise<number> {
  const file = stringOption(parsed, "file");
  const [key, valueArgument] = parsed.positionals;
  if (key === undefined) throw new UsageError("missing KEY and VALUE");
  if (valueArgument === undefined && file === undefined) throw new UsageError("missing VALUE (or - to read it from standard input, or --file PATH)");
  if (valueArgument !== undefined && file !== undefined) throw new UsageError(`give the value once: ${JSON.stringify(valueArgument)} and --file ${file} are two`);
  positionals(parsed, ["KEY", "VALUE"], 1);
  const ifModRevision = integerOption(parsed, "if-mod-revision");
  const lease = leaseOption(parsed);
  const source = file ?? (valueArgument === "-" ? "-" : undefined);
  if (source === "-" && io.stdin?.isTTY === true) io.stderr.write("flotilla put: reading the value from standard input; end it with Ctrl-D\n");
  const value = source === undefined ? valueArgument! : await readInput(io, source, "the value", CLI_VALUE_INPUT_BYTES_MAX);
  const answer = await client.put(key, value, { ...(ifModRevision === undefined ? {} : { ifModRevision }), ...(lease === undefined ? {} : { lease }) });
  printJson(io, answer);
  return EXIT_OK;
}

/** --lease: 0 (no lease) only, until leases exist (the server refuses any other id the same way). */
function leaseOption(parsed: Parsed): number | undefined {
  const lease = integerOption(parsed, "lease");
  if (lease !== undefined && lease !== 0) throw new UsageError(`--lease ${lease}: leases are not available yet (only 0, no lease, is accepted until they are added)`);
  return lease;
}

async function get(client: Client, parsed: Parsed, io: Io): Promise<number> {
  const [key] = positionals(parsed, ["KEY"], 1);
  let kv;
  try {
    kv = await client.get(key!, { consistency: consistency(parsed) });
  } catch (error) {
    if (!(error instanceof FlotillaError && error.status === 404 && error.code === "not_found")) throw error;
    io.stderr.write(`flotilla get: key ${JSON.stringify(key)} not found (revision ${error.revision ?? "unknown"})\n`);
    return EXIT_FAILED;
  }
  if (flag(parsed, "json")) {
    printJson(io, { ...keyValueJson(kv), revision: kv.revision });
  } else {
    io.stdout.write(kv.value);
    if (io.stdout.isTTY === true) io.stdout.write("\n");
  }
  return EXIT_OK;
}

async function del(client: Client, parsed: Parsed, io: Io): Promise<number> {
  const [key] = positionals(parsed, ["KEY"], 1);
  const ifModRevision = integerOption(parsed, "if-mod-revision");
  const prefix = flag(parsed, "prefix");
  if (prefix && ifModRevision !== undefined) throw new UsageError("--if-mod-revision cannot be combined with --prefix");
  printJson(io, await client.delete(key!, { prefix, ...(ifModRevision === undefined ? {} : { ifModRevision }) }));
  return EXIT_OK;
}

async function ls(client: Client, parsed: Parsed, io: Io): Promise<number> {
  const [prefix] = positionals(parsed, ["PREFIX"], 0);
  const limit = integerOption(parsed, "limit", 1);
  const after = stringOption(parsed, "after");
  const page = await client.range({
    prefix: prefix ?? "",
    consistency: consistency(parsed),
    ...(limit === undefined ? {} : { limit }),
    ...(after === undefined ? {} : { after }),
  });
  if (flag(parsed, "keys")) {
    for (const kv of page.kvs) io.stdout.write(`${kv.key}\n`);
  } else {
    printJson(io, { revision: page.revision, kvs: page.kvs.map(keyValueJson), more: page.more });
  }
  return EXIT_OK;
}

/**
 * One transaction, api.md's POST /v1/txn body, from the argument, standard input or a file.
 * Exit 0 when its compares held, 1 when they did not (the failure branch ran: the answer is
 * printed all the same, and stderr says so), as `put --if-mod-revision` exits 1 when its
 * condition fails; etcdctl's txn prints SUCCESS or FAILURE and exits 0 for both.
 */
async function txn(client: Client, parsed: Parsed, io: Io): Promise<number> {
  const file = stringOption(parsed, "file");
  const [argument] = positionals(parsed, ["JSON"], 0);
  if (argument !== undefined && file !== undefined) throw new UsageError(`give the transaction once: as an argument, as - (standard input) or with --file, not with both an argument and --file ${file}`);
  const source = file ?? (argument === undefined || argument === "-" ? "-" : undefined);
  if (source === "-" && io.stdin?.isTTY === true) io.stderr.write("flotilla txn: reading the transaction (JSON) from standard input; end it with Ctrl-D\n");
  const text = source === undefined ? argument! : (await readInput(io, source, "the transaction", CLI_TXN_INPUT_BYTES_MAX)).toString("utf8");
  const answer = await client.txn(parseTxnRequest(text));
  printJson(io, txnAnswerJson(answer));
  if (answer.succeeded) return EXIT_OK;
  io.stderr.write(`flotilla txn: the compares did not all hold, so the failure operations ran (revision ${answer.revision})\n`);
  return EXIT_FAILED;
}

async function status(client: Client, parsed: Parsed, io: Io): Promise<number> {
  positionals(parsed, [], 0);
  printJson(io, await client.status());
  return EXIT_OK;
}

async function members(client: Client, parsed: Parsed, io: Io): Promise<number> {
  const [action = "list", ...rest] = parsed.positionals;
  const only = (names: string[]): string[] => positionals({ values: parsed.values, positionals: rest }, names, names.length);
  if (action !== "add" && (parsed.values.learner !== undefined || parsed.values.client !== undefined || parsed.values["join-token"] !== undefined)) {
    throw new UsageError("--learner, --client and --join-token go with members add");
  }
  if (action !== "list" && parsed.values.table !== undefined) throw new UsageError("--table goes with members list");
  let list: Member[];
  switch (action) {
    case "list":
      only([]);
      list = await client.members.list();
      break;
    case "add": {
      const [id, peer] = only(["NAME", "PEERADDR"]);
      const clientUrl = stringOption(parsed, "client");
      const joinToken = stringOption(parsed, "join-token") ?? (process.env.FLOTILLA_JOIN_TOKEN || undefined);
      const learner = flag(parsed, "learner");
      if (!learner) {
        io.stderr.write(
          `flotilla members add: warning: ${id} is added as a voter, and counts in every quorum at once, before it has caught up` +
            ` (writes stall if it is not running); prefer --learner, then "flotilla members promote ${id}" once it has caught up\n`,
        );
      }
      const request = { id: id!, peer: peer!, learner, ...(clientUrl === undefined ? {} : { client: clientUrl }) };
      list = await client.members.add(request, joinToken === undefined ? {} : { joinToken });
      break;
    }
    case "remove":
      list = await client.members.remove(only(["NAME"])[0]!);
      break;
    case "promote":
      list = await client.members.promote(only(["NAME"])[0]!);
      break;
    default:
      throw new UsageError(`unknown members action ${JSON.stringify(action)} (list, add, remove or promote)`);
  }
  if (flag(parsed, "table")) io.stdout.write(membersTable(list));
  else printJson(io, { members: list });
  return EXIT_OK;
}

async function transferLeader(client: Client, parsed: Parsed, io: Io): Promise<number> {
  const [to] = positionals(parsed, ["NAME"], 0);
  printJson(io, await client.transferLeader(to));
  return EXIT_OK;
}

function consistency(parsed: Parsed): "linearizable" | "stale" {
  const value = stringOption(parsed, "consistency") ?? "linearizable";
  if (value !== "linearizable" && value !== "stale") throw new UsageError(`--consistency must be linearizable or stale, not ${JSON.stringify(value)}`);
  return value;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The server's JSON rule: UTF-8 text, or base64 marked "encoding":"base64" when the bytes are not UTF-8. */
export function keyValueJson(kv: KeyValue): Record<string, unknown> {
  const base = { key: kv.key, value: "", createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, lease: kv.lease };
  try {
    return { ...base, value: strictUtf8.decode(kv.value) };
  } catch {
    return { ...base, value: Buffer.from(kv.value).toString("base64"), encoding: "base64" };
  }
}

/** The answer as the server sends it: api.md's txn answer, values by the server's JSON rule. */
function txnAnswerJson(answer: TxnResponse): Record<string, unknown> {
  const results = answer.results.map((result) => ("get" in result ? { get: { kvs: result.get.kvs.map(keyValueJson), more: result.get.more } } : result));
  const json: Record<string, unknown> = { succeeded: answer.succeeded, revision: answer.revision, results };
  if (answer.alreadyApplied === true) json.alreadyApplied = true;
  return json;
}

/** One row a member; the replication columns are the leader's view ("-" where the answer has none). */
function membersTable(list: readonly Member[]): string {
  const figure = (value: number | undefined): string => (value === undefined ? "-" : String(value));
  const rows = [
    ["ID", "ROLE", "VOTER", "PEER", "CLIENT", "MATCH", "LAG", "LAST-CONTACT-MS"],
    ...list.map((m) => [m.id, m.role ?? (m.voter ? "voter" : "learner"), m.voter ? "yes" : "no", m.peer, m.client, figure(m.matchIndex), figure(m.lag), figure(m.lastContactMs)]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()).join("\n") + "\n";
}
