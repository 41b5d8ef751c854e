/**
 * A history that cannot be checked because it is malformed (a bad JSONL line, an ok operation
 * without an output, a Jepsen log line we cannot read). This is bad input, not a checker bug,
 * so it is a typed error that names what is wrong and where, never an assertion failure.
 */
export class HistoryError extends Error {
  override name = "HistoryError";
  readonly code = "history_invalid";
}
