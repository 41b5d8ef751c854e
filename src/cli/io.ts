/** What a CLI command touches of the outside world, injected so that commands run in tests. */
import { parseArgs, type ParseArgsConfig } from "node:util";

export interface OutputStream {
  write(chunk: string | Uint8Array): unknown;
  readonly isTTY?: boolean;
}

export interface Io {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
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

/** node:util parseArgs, strict, with its errors turned into UsageError. */
export function parse(argv: readonly string[], options: Options): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
    return { values: values as Parsed["values"], positionals };
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\.$/, "").split("\n")[0]!);
  }
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
