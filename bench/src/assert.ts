/** The harness's invariant checks: a failure is a bug in the harness, and says what broke. */
export class HarnessInvariantError extends Error {
  override name = "HarnessInvariantError";
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new HarnessInvariantError(message);
}

export function unreachable(value: never, what: string): never {
  throw new HarnessInvariantError(`unreachable: unexpected ${what}: ${String(value)}`);
}
