/**
 * The client's public types. They mirror the JSON of api.md, with values as bytes: the client
 * imports nothing from the server side, so these are written out here on purpose.
 */

export type Consistency = "linearizable" | "stale";
export type Role = "leader" | "follower" | "candidate" | "learner";

/** What a put or txn takes as a value: a string is sent as its UTF-8 bytes. */
export type ValueInput = string | Uint8Array;

export interface KeyValue {
  readonly key: string;
  /** The exact bytes stored. */
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  /** Lease id, 0 when none. */
  readonly lease: number;
  /** The value decoded as UTF-8 (bytes that are not UTF-8 become U+FFFD); not enumerable. */
  readonly text: string;
}

export interface PutOptions {
  /** Write only if the key's modRevision is this; 0 = only if the key is absent. */
  readonly ifModRevision?: number;
  readonly lease?: number;
  /** Defaults to a fresh random token, so retries never apply the write twice. */
  readonly idempotencyKey?: string;
}

export interface PutResponse {
  readonly revision: number;
  readonly key: string;
  readonly modRevision: number;
  readonly version: number;
}

export interface GetOptions {
  /** linearizable (default): reflects every write acknowledged before the read; stale: the answering node's local state. */
  readonly consistency?: Consistency;
}

/** The kv, as api.md's GET answers it. A missing key is FlotillaError 404 not_found instead. */
export interface GetResponse extends KeyValue {
  /** The store's revision when the read was served. */
  readonly revision: number;
}

export interface DeleteOptions {
  /** Delete every key starting with the given key. */
  readonly prefix?: boolean;
  readonly ifModRevision?: number;
  readonly idempotencyKey?: string;
}

export interface DeleteResponse {
  readonly revision: number;
  readonly deleted: number;
}

export interface RangeOptions {
  /** Keys starting with this ("" or absent: every key). */
  readonly prefix?: string;
  /** Most kvs in the answer (the server caps it); `more` says when there are more. */
  readonly limit?: number;
  /** Only keys strictly after this one: the last key of the previous page. */
  readonly after?: string;
  readonly consistency?: Consistency;
}

export interface RangeResponse {
  readonly revision: number;
  readonly kvs: readonly KeyValue[];
  readonly more: boolean;
}

export type CompareOp = "==" | "!=" | "<" | ">";

export type Compare =
  | { readonly key: string; readonly target: "value"; readonly op: CompareOp; readonly value: ValueInput }
  | { readonly key: string; readonly target: "version" | "modRevision" | "createRevision"; readonly op: CompareOp; readonly value: number };

export type KeyOrPrefix = { readonly key: string } | { readonly prefix: string };

export type TxnOp =
  | { readonly put: { readonly key: string; readonly value: ValueInput; readonly lease?: number } }
  | { readonly get: KeyOrPrefix }
  | { readonly delete: KeyOrPrefix };

export interface TxnRequest {
  readonly compare?: readonly Compare[];
  readonly success?: readonly TxnOp[];
  readonly failure?: readonly TxnOp[];
}

export interface TxnOptions {
  readonly idempotencyKey?: string;
}

export type TxnOpResult =
  | { readonly put: { readonly key: string; readonly modRevision: number; readonly version: number } }
  | { readonly get: { readonly kvs: readonly KeyValue[]; readonly more: boolean } }
  | { readonly delete: { readonly deleted: number } };

export interface TxnResponse {
  readonly succeeded: boolean;
  readonly revision: number;
  /**
   * One result per operation of the branch that ran. Empty, with `alreadyApplied`, when a retry
   * found the transaction applied before and its first result too large for the server to keep.
   */
  readonly results: readonly TxnOpResult[];
  readonly alreadyApplied?: boolean;
}

export interface Member {
  readonly id: string;
  /** Peer address, HOST:PORT. */
  readonly peer: string;
  /** Client URL, "" when unknown. */
  readonly client: string;
  readonly voter: boolean;
  /** As the answering node sees it (absent from servers older than this field). */
  readonly role?: "leader" | "follower" | "learner";
  /** Leader's view only. */
  readonly matchIndex?: number;
  readonly lag?: number;
  readonly lastContactMs?: number;
}

export interface Status {
  readonly id: string;
  readonly role: Role;
  readonly term: number;
  /** The leader's id, "" when none is known. */
  readonly leader: string;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly members: readonly Member[];
  readonly clusterId?: string;
}

export interface AddMemberRequest {
  readonly id: string;
  /** Peer address, HOST:PORT. */
  readonly peer: string;
  /** Client address, HOST:PORT or URL. */
  readonly client?: string;
  /** Join as a non-voting learner (promote it once it has caught up). */
  readonly learner?: boolean;
}
