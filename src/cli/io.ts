/** What a CLI command touches of the outside world, injected so that commands run in tests. */
import { createReadStream } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";

export interface OutputStream {
  write(chunk: string | Uint8Array): unknown;
  readonly isTTY?: boolean;
}

/** Standard input, as far as the CLI reads it (process.stdin; a Readable in tests). */
export interface InputStream extends AsyncIterable<Uint8Array | string> {
  readonly isTTY?: boolean;
}

export interface Io {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  /** Read by `put KEY -` and `txn`; absent: there is no standard input to read (a usage error when asked). */
  readonly stdin?: InputStream;
  /**
   * Resolves, with what asked, when the process is asked to stop: SIGINT/SIGTERM, or its parent
   * went away (stop-request.ts). `start`, `dev` and `torture` wait on it.
   */
  waitForStop(): Promise<string>;
}

/** Exit statuses of api.md. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Bad usage: printed as one line with a pointer to help, exit status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export type Options = NonNullable<ParseArgsConfig["options"]>;

export interface Parsed {
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: string[];
}

/** node:util parseArgs, strict, with its errors turned into UsageError; negative numbers are arguments. */
export function parse(argv: readonly string[], options: Options): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: negativeNumbersAsArguments(argv, options), options, strict: true, allowPositionals: true });
    return { values: values as Parsed["values"], positionals };
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\.$/, "").split("\n")[0]!);
  }
}

/** `-1`, `-2.5`, `-.5`, `-1e3`: a value, never an option (no option is a digit). */
const NEGATIVE_NUMBER = /^-(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

/**
 * parseArgs reads `-1` as the short option "1". Here a negative number is an argument like any
 * other, as users expect of `flotilla put k -1` (or the value of an option: `--if-mod-revision -1`,
 * which its own check then refuses by name). The arguments keep their order; options go first,
 * then `--`, then every positional, so parseArgs takes each for what it is.
 */
export function negativeNumbersAsArguments(argv: readonly string[], options: Options): string[] {
  if (!argv.some((token) => NEGATIVE_NUMBER.test(token))) return [...argv];
  const optionTokens: string[] = [];
  const positionalTokens: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      positionalTokens.push(...argv.slice(i + 1));
      break;
    }
    if (token === "-" || !token.startsWith("-") || NEGATIVE_NUMBER.test(token)) {
      positionalTokens.push(token);
      continue;
    }
    const name = token.startsWith("--") ? token.slice(2) : undefined;
    const next = argv[i + 1];
    if (name !== undefined && !name.includes("=") && options[name]?.type === "string" && next !== undefined && (!next.startsWith("-") || NEGATIVE_NUMBER.test(next))) {
      optionTokens.push(`${token}=${next}`);
      i++;
      continue;
    }
    optionTokens.push(token);
  }
  return [...optionTokens, "--", ...positionalTokens];
}

export function stringOption(parsed: Parsed, name: string): string | undefined {
  const value = parsed.values[name];
  return typeof value === "string" ? value : undefined;
}

export function flag(parsed: Parsed, name: string): boolean {
  return parsed.values[name] === true;
}

/** A non-negative integer option (--if-mod-revision, --lease, --limit). */
export function integerOption(parsed: Parsed, name: string, low = 0): number | undefined {
  const text = stringOption(parsed, name);
  if (text === undefined) return undefined;
  const value = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < low) throw new UsageError(`--${name} must be an integer ≥ ${low}, not ${JSON.stringify(text)}`);
  return value;
}

/** Exactly `min`..`max` positionals, named in the message. */
export function positionals(parsed: Parsed, names: readonly string[], required: number): string[] {
  if (parsed.positionals.length < required) throw new UsageError(`missing ${names.slice(parsed.positionals.length, required).join(" and ")}`);
  if (parsed.positionals.length > names.length) throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[names.length])}`);
  return parsed.positionals;
}

export function printJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * Reads a value or a document from standard input ("-") or a file, up to `bytesMax` bytes: more
 * is a usage error naming the source, and the rest is not read.
 */
export async function readInput(io: Io, source: string, what: string, bytesMax: number): Promise<Buffer> {
  if (source === "-") {
    if (io.stdin === undefined) throw new UsageError(`${what}: there is no standard input to read`);
    return readBounded(io.stdin, `${what} read from standard input`, bytesMax);
  }
  try {
    return await readBounded(createReadStream(source), `${what} in ${source}`, bytesMax);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read ${source}: ${(error as Error).message}`);
  }
}

async function readBounded(input: AsyncIterable<Uint8Array | string>, what: string, bytesMax: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of input) {
    const piece = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    bytes += piece.length;
    if (bytes > bytesMax) throw new UsageError(`${what} is larger than the ${bytesMax} bytes allowed`);
    chunks.push(piece);
  }
  return Buffer.concat(chunks, bytes);
}
