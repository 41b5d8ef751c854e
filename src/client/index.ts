/**
 * The typed Flotilla client (`import { Client } from "flotilla/client"`, or from the package
 * `@flotilla/client`, built from this same source): HTTP only, against api.md; it imports
 * nothing from the server side.
 */
export { Client, DEFAULT_ENDPOINT, type ClientOptions, type MembersApi } from "./client.js";
export { FlotillaError } from "./errors.js";
export { endpointUrl, parseEndpointList } from "./endpoints.js";
export type {
  AddMemberRequest,
  Compare,
  CompareOp,
  Consistency,
  DeleteOptions,
  DeleteResponse,
  GetOptions,
  GetResponse,
  KeyOrPrefix,
  KeyValue,
  Member,
  PutOptions,
  PutResponse,
  RangeOptions,
  RangeResponse,
  Role,
  Status,
  TxnOp,
  TxnOpResult,
  TxnOptions,
  TxnRequest,
  TxnResponse,
  ValueInput,
} from "./types.js";
