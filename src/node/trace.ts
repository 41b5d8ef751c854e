/**
 * The steps of a write on its way through a node, published on a diagnostics channel
 * (`node:diagnostics_channel`, as Node's own http and undici do) for whoever subscribes: nothing
 * is built or sent while no one listens. `flotilla start --trace FILE` writes them as JSON lines,
 * and `npm run bench -- --timeline` lines up the three nodes' files into the timeline of one
 * write, step by step.
 *
 * `at` is the node clock's time in milliseconds; with the real clock it is
 * `performance.timeOrigin + performance.now()`, comparable between processes of one machine.
 */
import diagnosticsChannel from "node:diagnostics_channel";

export const TRACE_CHANNEL = "flotilla:trace";

/** One step. `first..last` are the log indexes it concerns (a Ready's, a message's, an apply batch's). */
export interface TraceEvent {
  readonly at: number;
  readonly node: string;
  readonly step: TraceStep;
  readonly first?: number;
  readonly last?: number;
  /** The other node a message goes to or comes from. */
  readonly peer?: string;
}

export type TraceStep =
  | "http-in" // the server took a write request (the server publishes it)
  | "http-out" // the server answered it
  | "proposed" // the leader's core took the entry
  | "forwarded" // a follower sent a write to the leader
  | "ready" // the driver took a Ready with new entries (first..last)
  | "append-sent" // an append with entries first..last left for `peer`
  | "append-received" // an append with entries first..last arrived from `peer`
  | "log-sync-start" // the durable log began saving entries first..last
  | "log-sync-end" // ... and they are durable
  | "ack-sent" // an append acknowledgement up to `last` left for `peer`
  | "ack-received" // an acknowledgement up to `last` arrived from `peer`
  | "committed" // entries up to `last` are committed (a Ready hands them out)
  | "applied" // entries first..last are applied
  | "settled"; // the write at `last` was answered

const channel = diagnosticsChannel.channel(TRACE_CHANNEL);

/** Whether anyone listens: callers skip building events otherwise. */
export function tracing(): boolean {
  return channel.hasSubscribers;
}

export function trace(event: TraceEvent): void {
  channel.publish(event);
}

export function subscribeTrace(listener: (event: TraceEvent) => void): () => void {
  const onMessage = (message: unknown): void => listener(message as TraceEvent);
  diagnosticsChannel.subscribe(TRACE_CHANNEL, onMessage);
  return () => diagnosticsChannel.unsubscribe(TRACE_CHANNEL, onMessage);
}
