/** The commands that use a cluster through the client: put, get, del, ls, status, members, transfer-leader. */
import { Client, FlotillaError, type KeyValue, type Member } from "../client/index.js";
import { DEFAULT_ENDPOINT } from "./help.js";
import { EXIT_FAILED, EXIT_OK, flag, integerOption, parse, positionals, printJson, stringOption, UsageError, type Io, type Options, type Parsed } from "./io.js";

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
  put: { options: { "if-mod-revision": { type: "string" }, lease: { type: "string" } }, run: put },
  get: { options: { consistency: { type: "string" }, json: { type: "boolean" } }, run: get },
  del: { options: { prefix: { type: "boolean" }, "if-mod-revision": { type: "string" } }, run: del },
  ls: { options: { limit: { type: "string" }, after: { type: "string" }, consistency: { type: "string" }, keys: { type: "boolean" } }, run: ls },
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
  const [key, value] = positionals(parsed, ["KEY", "VALUE"], 2);
  const ifModRevision = integerOption(parsed, "if-mod-revision");
  const lease = integerOption(parsed, "lease");
  const answer = await client.put(key!, value!, { ...(ifModRevision === undefined ? {} : { ifModRevision }), ...(lease === undefined ? {} : { lease }) });
  printJson(io, answer);
  return EXIT_OK;
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
      const request = { id: id!, peer: peer!, learner: flag(parsed, "learner"), ...(clientUrl === undefined ? {} : { client: clientUrl }) };
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
