/**
 * The change-event window's storage: events are written a batch at a time, packed into rows of
 * at most `rowEventsMax` events each (whole revisions only), not one SQLite row per event.
 *
 * Why: a row per event cost a table insert, an index insert and later two deletes for every
 * key written, as much as the write of the key itself (6.5 µs of 12.8 µs per put in the apply
 * loop); one packed row per batch costs one insert for the whole batch. The window's edge then
 * moves a row at a time, so rows are kept small next to the window (EVENTS_PER_ROW_MAX).
 *
 * A row is (last_revision PRIMARY KEY, count, data), data being MessagePack
 * [revisions[], keys[] (UTF-8 bytes), kinds[] (0 put, 1 delete)]. Revisions never decrease
 * within a row and a revision never spans two rows, so rows ordered by last_revision are the
 * events in order. A row that does not decode is damage on disk: InvariantError names it.
 */
import { Packr, Unpackr } from "msgpackr";
import { InvariantError } from "../util/assert.js";
import type { ChangeEvent } from "./results.js";
import { keyFromBytes } from "./keys.js";

/** An event as the apply path produces it: the key still in its stored bytes. */
export interface PendingEvent {
  readonly revision: number;
  readonly key: Buffer;
  readonly kind: "put" | "delete";
}

/** One stored row of the window. */
export interface EventRowData {
  readonly lastRevision: number;
  readonly count: number;
  readonly data: Uint8Array;
}

const PUT = 0;
const DELETE = 1;

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

/**
 * Splits events (in order) into rows of at most `rowEventsMax` events, cutting only between
 * revisions: a revision with more events than that is a row of its own.
 */
export function packEventRows(events: readonly PendingEvent[], rowEventsMax: number): EventRowData[] {
  const rows: EventRowData[] = [];
  let start = 0;
  while (start < events.length) {
    let end = start;
    // Take whole revisions while they fit; always at least one revision.
    while (end < events.length) {
      const revisionEnd = endOfRevision(events, end);
      if (end > start && revisionEnd - start > rowEventsMax) break;
      end = revisionEnd;
    }
    rows.push(encodeRow(events.slice(start, end)));
    start = end;
  }
  return rows;
}

function endOfRevision(events: readonly PendingEvent[], from: number): number {
  const revision = events[from]!.revision;
  let end = from + 1;
  while (end < events.length && events[end]!.revision === revision) end++;
  return end;
}

function encodeRow(events: readonly PendingEvent[]): EventRowData {
  const revisions = events.map((event) => event.revision);
  const keys = events.map((event) => event.key);
  const kinds = events.map((event) => (event.kind === "put" ? PUT : DELETE));
  return { lastRevision: revisions.at(-1)!, count: events.length, data: packr.pack([revisions, keys, kinds]) };
}

/** The events of one stored row, checked field by field. */
export function unpackEventRow(row: EventRowData): ChangeEvent[] {
  const damaged = (problem: string): InvariantError => new InvariantError(`the change-event row ending at revision ${row.lastRevision} is damaged: ${problem}`);
  let decoded: unknown;
  try {
    decoded = unpackr.unpack(row.data);
  } catch (error) {
    throw damaged(`not valid MessagePack (${(error as Error).message})`);
  }
  if (!Array.isArray(decoded) || decoded.length !== 3) throw damaged("not a [revisions, keys, kinds] tuple");
  const [revisions, keys, kinds] = decoded as unknown[];
  if (!Array.isArray(revisions) || !Array.isArray(keys) || !Array.isArray(kinds)) throw damaged("its fields are not lists");
  if (revisions.length !== row.count || keys.length !== row.count || kinds.length !== row.count || row.count === 0) {
    throw damaged(`it says ${row.count} events but holds ${revisions.length} revisions, ${keys.length} keys and ${kinds.length} kinds`);
  }
  const events: ChangeEvent[] = [];
  let previous = 0;
  for (let i = 0; i < row.count; i++) {
    const revision: unknown = revisions[i];
    const key: unknown = keys[i];
    const kind: unknown = kinds[i];
    if (typeof revision !== "number" || !Number.isSafeInteger(revision) || revision < previous || revision > row.lastRevision) throw damaged(`event ${i} has revision ${String(revision)}`);
    if (!(key instanceof Uint8Array)) throw damaged(`event ${i}'s key is not bytes`);
    if (kind !== PUT && kind !== DELETE) throw damaged(`event ${i} has kind ${String(kind)}`);
    events.push({ revision, key: keyFromBytes(key), kind: kind === PUT ? "put" : "delete" });
    previous = revision;
  }
  if (previous !== row.lastRevision) throw damaged(`its last event is at revision ${previous}`);
  return events;
}
