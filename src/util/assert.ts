/**
 * Invariant checks that stay on in production (TigerBeetle's rule): a failed assertion is a
 * bug in Flotilla, never an operating error, so it throws loudly with what broke.
 */
export class InvariantError extends Error {
  override name = "InvariantError";
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new InvariantError(typeof message === "function" ? message() : message);
  }
}

export function unreachable(value: never, what: string): never {
  throw new InvariantError(`unreachable: unexpected ${what}: ${String(value)}`);
}
