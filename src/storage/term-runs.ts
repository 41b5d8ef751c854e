/**
 * The term of every index in the log, stored as runs (first index, term): terms change only
 * at elections, so this stays tiny while the WAL still checks appends against the log and
 * decides whether a snapshot keeps the entries after it (Raft's InstallSnapshot rule).
 */
import { assert } from "../util/assert.js";
import type { Entry } from "../raft/types.js";

export class TermRuns {
  /** Run i covers [starts[i], starts[i+1]) (the last run: up to lastIndex) with terms[i]. */
  #starts: number[] = [];
  #terms: number[] = [];
  #lastIndex = 0;

  constructor(baseIndex: number, baseTerm: number) {
    this.reset(baseIndex, baseTerm);
  }

  get lastIndex(): number {
    return this.#lastIndex;
  }

  get baseIndex(): number {
    return this.#starts[0]!;
  }

  /** The log is the base entry (a snapshot's last, or index 0) and nothing after. */
  reset(baseIndex: number, baseTerm: number): void {
    this.#starts = [baseIndex];
    this.#terms = [baseTerm];
    this.#lastIndex = baseIndex;
  }

  termAt(index: number): number | undefined {
    if (index < this.#starts[0]! || index > this.#lastIndex) return undefined;
    let low = 0;
    let high = this.#starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.#starts[middle]! <= index) low = middle;
      else high = middle - 1;
    }
    return this.#terms[low];
  }

  /** entries[start, end) replace everything from their first index on (contiguity is the caller's check). */
  append(entries: readonly Entry[], start = 0, end = entries.length): void {
    if (end <= start) return;
    const first = entries[start]!.index;
    assert(first > this.#starts[0]! && first <= this.#lastIndex + 1, () => `TermRuns.append: ${first} outside (${this.#starts[0]}, ${this.#lastIndex + 1}]`);
    this.#truncateFrom(first);
    for (let i = start; i < end; i++) {
      const entry = entries[i]!;
      if (entry.term !== this.#terms[this.#terms.length - 1]) {
        this.#starts.push(entry.index);
        this.#terms.push(entry.term);
      }
    }
    this.#lastIndex = entries[end - 1]!.index;
  }

  #truncateFrom(index: number): void {
    while (this.#starts.length > 1 && this.#starts[this.#starts.length - 1]! >= index) {
      this.#starts.pop();
      this.#terms.pop();
    }
    this.#lastIndex = index - 1;
  }

  /** A snapshot at `index` (held, with `term`) becomes the base; entries after it stay. */
  rebase(index: number, term: number): void {
    assert(this.termAt(index) === term, () => `TermRuns.rebase: ${index} does not hold term ${term}`);
    let run = 0;
    while (run + 1 < this.#starts.length && this.#starts[run + 1]! <= index) run++;
    this.#starts = [index, ...this.#starts.slice(run + 1)];
    this.#terms = [term, ...this.#terms.slice(run + 1)];
  }
}
