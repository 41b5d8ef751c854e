/** The one error type the client throws. */
import type { KeyValue } from "./types.js";

/**
 * `status` is the HTTP status, or 0 when no HTTP answer decided the outcome. `code` is the
 * server's stable code (api.md: not_found, precondition_failed, no_leader, unknown_outcome, ...)
 * or one of the client's own:
 * - `unavailable` (0): no endpoint could be reached, within the attempts allowed;
 * - `unknown_outcome` (0): a request that may not be repeated was sent, and no answer came back;
 * - `invalid_endpoint` (0): an endpoint is not HOST:PORT or an http(s) URL;
 * - `invalid_argument` (0): an argument cannot be sent (e.g. a key that is not valid Unicode);
 * - `invalid_response`: the answer is not the JSON api.md describes (status: the HTTP status
 *   when the body was not JSON at all, else 0).
 */
export class FlotillaError extends Error {
  override name = "FlotillaError";
  readonly status: number;
  readonly code: string;
  /** 412 precondition_failed: the key as it is now (null: absent). */
  readonly current?: KeyValue | null;
  /** 404 and 412: the store's revision when the request was refused. */
  readonly revision?: number;
  /** The endpoint that gave this answer, when one did. */
  readonly endpoint?: string;

  constructor(
    status: number,
    code: string,
    message: string,
    details: { current?: KeyValue | null; revision?: number; endpoint?: string; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = status;
    this.code = code;
    if (details.current !== undefined) this.current = details.current;
    if (details.revision !== undefined) this.revision = details.revision;
    if (details.endpoint !== undefined) this.endpoint = details.endpoint;
  }
}
