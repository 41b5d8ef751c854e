/**
 * What applying an entry produces: the response shapes of api.md (values stay bytes; the HTTP
 * layer encodes them) plus `kind`, so the server maps a result to a status in one switch.
 */
import type { Membership } from "./input.js";

export interface KeyValue {
  readonly key: string;
  readonly value: Uint8Array;
  /** Revision of the put that created this incarnation of the key (resets after a delete). */
  readonly createRevision: number;
  /** Revision of the last put to the key. */
  readonly modRevision: number;
  /** Puts since the key was created: 1 on creation, 0 never (a deleted key has no row). */
  readonly version: number;
  /** Lease id, 0 when none. */
  readonly lease: number;
}

/** Every result carries `revision`: the store's revision once the entry is applied. */
export interface PutResult {
  readonly kind: "put";
  readonly revision: number;
  readonly key: string;
  readonly modRevision: number;
  readonly version: number;
}

export interface DeleteResult {
  readonly kind: "delete";
  readonly revision: number;
  readonly deleted: number;
}

export type TxnOpResult =
  | { readonly put: { readonly key: string; readonly modRevision: number; readonly version: number } }
  | { readonly get: RangeAnswer }
  | { readonly delete: { readonly deleted: number } };

export interface TxnResult {
  readonly kind: "txn";
  readonly revision: number;
  readonly succeeded: boolean;
  readonly results: readonly TxnOpResult[];
}

/** A put or delete whose ifModRevision did not match (HTTP 412). Changes nothing. */
export interface PreconditionFailedResult {
  readonly kind: "precondition_failed";
  readonly revision: number;
  readonly key: string;
  readonly current: KeyValue | null;
}

/** A noop command, or the empty entry a new leader appends. */
export interface NoopResult {
  readonly kind: "noop";
  readonly revision: number;
}

export interface ConfChangeResult {
  readonly kind: "conf_change";
  readonly revision: number;
  readonly confState: Membership;
}

/**
 * A retry of an idempotent command whose first result was too large to remember
 * (IDEMPOTENCY_RESULT_BYTES_MAX): it was applied once, at `index`, and is not applied again.
 */
export interface AlreadyAppliedResult {
  readonly kind: "already_applied";
  readonly revision: number;
  readonly index: number;
}

/**
 * An idempotency token already used, within its window, for a different request (another
 * requestHash): nothing is applied, and the first request's result is not given out (api.md:
 * 422 idempotency_key_reused, as payment APIs answer).
 */
export interface IdempotencyKeyReusedResult {
  readonly kind: "idempotency_key_reused";
  readonly revision: number;
  /** Where the token was first used. */
  readonly index: number;
}

export type CommandResult = PutResult | DeleteResult | TxnResult | PreconditionFailedResult | NoopResult | AlreadyAppliedResult | IdempotencyKeyReusedResult;

export type EntryResult = CommandResult | ConfChangeResult;

/** One applied entry, for the node to settle the proposal it belongs to. */
export interface ApplyResult {
  readonly index: number;
  readonly term: number;
  /** The command's requestId; null for entries that carry none (leader no-ops, conf changes). */
  readonly requestId: string | null;
  readonly result: EntryResult;
  /** True when an idempotency key matched: `result` is the first result, nothing was applied. */
  readonly replayed: boolean;
}

/** Key-values in key order; `more` when the range holds more than was returned. */
export interface RangeAnswer {
  readonly kvs: readonly KeyValue[];
  readonly more: boolean;
}

export interface RangeResult extends RangeAnswer {
  readonly revision: number;
}

export interface ChangeEvent {
  readonly revision: number;
  readonly key: string;
  readonly kind: "put" | "delete";
}

export interface EventsPage {
  /** Whole revisions, oldest first (one revision larger than the page limit comes alone, whole). */
  readonly events: readonly ChangeEvent[];
  /** More events follow: ask again after the last event's revision. */
  readonly more: boolean;
  /** The store's revision when the page was read. */
  readonly revision: number;
}
