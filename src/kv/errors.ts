/**
 * Operating errors of the state machine: bad input, a compacted event window, an unusable
 * snapshot or database file. Each has a stable `code` the HTTP layer can map to a status.
 * Broken invariants (an undecodable committed entry, a gap in the applied sequence) are not
 * here: they throw util's InvariantError, because they are bugs and must stop the node.
 */
export type KvErrorCode = "malformed_command" | "bad_input" | "compacted" | "invalid_snapshot" | "incompatible_database";

export class KvError extends Error {
  override name = "KvError";
  readonly code: KvErrorCode;

  constructor(code: KvErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A command (from a client through the server, or from the log) is not a valid v1 command. */
export class MalformedCommandError extends KvError {
  override name = "MalformedCommandError";

  constructor(message: string, options?: { cause?: unknown }) {
    super("malformed_command", message, options);
  }
}

/** A read's argument is out of its domain (an empty key, a limit above the maximum, ...). */
export class KvInputError extends KvError {
  override name = "KvInputError";

  constructor(message: string) {
    super("bad_input", message);
  }
}

/** The events after the requested revision are no longer retained: the watcher must resync. */
export class CompactedError extends KvError {
  override name = "CompactedError";
  readonly compactedRevision: number;

  constructor(requestedRevision: number, compactedRevision: number) {
    super("compacted", `events after revision ${requestedRevision} are compacted: the oldest retained revision is ${compactedRevision + 1}`);
    this.compactedRevision = compactedRevision;
  }
}

/** Snapshot bytes that are not a Flotilla kv database of this schema. */
export class InvalidSnapshotError extends KvError {
  override name = "InvalidSnapshotError";

  constructor(message: string, options?: { cause?: unknown }) {
    super("invalid_snapshot", message, options);
  }
}

/** A database file written by another program or another schema version. */
export class IncompatibleDatabaseError extends KvError {
  override name = "IncompatibleDatabaseError";

  constructor(message: string) {
    super("incompatible_database", message);
  }
}
