/**
 * What the state machine takes and gives, in its own terms: kv knows nothing of Raft's
 * entries, messages or configuration changes. The node turns each committed entry into an
 * ApplyInput (after applying a membership change to Raft itself), so data flows one way:
 * node → kv, never back from inside an apply.
 */
import type { Command } from "./command.js";

/** The membership as the state machine records it: the ids of the voters and of the learners. */
export interface Membership {
  readonly voters: readonly string[];
  readonly learners: readonly string[];
}

/** A committed command. Empty `data` is the no-op a new leader appends to commit its term. */
export interface CommandInput {
  readonly kind: "command";
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
  /**
   * `decodeCommand(data)`, when this node already decoded these bytes before proposing them (a
   * leader checks a forwarded command): the apply takes it instead of decoding again. It must be
   * the decode of exactly `data`, or this replica would apply something the others do not.
   */
  readonly decoded?: Command;
}

/** A committed membership change, already applied to Raft: `membership` is the outcome. */
export interface MembershipInput {
  readonly kind: "membership";
  readonly index: number;
  readonly term: number;
  /** The member the change is about. */
  readonly node: string;
  /**
   * Its addresses (encodeMemberContext) when the change carries them; absent for a removal,
   * or a promotion that keeps the addresses already known.
   */
  readonly context?: Uint8Array;
  readonly membership: Membership;
}

export type ApplyInput = CommandInput | MembershipInput;

/** The whole replicated state at one applied index: what a snapshot carries (its meta and data). */
export interface StateImage {
  readonly meta: {
    readonly index: number;
    readonly term: number;
    readonly confState: Membership;
  };
  readonly data: Uint8Array;
}
