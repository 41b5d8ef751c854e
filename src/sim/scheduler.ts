/**
 * Simulated time: one queue of events in milliseconds, run in order, one at a time. Every
 * timer and deferred callback of every simulated node, every message delivery and every disk
 * sync is an event here, so the replicas' asynchronous code (the same code production runs)
 * interleaves in one order that depends on the seed alone.
 *
 * After each event the promise chains it set off run to completion before the next event
 * (await of a real setImmediate: Node drains microtasks first), as after a task of a real
 * event loop. Nothing else in the process schedules work while a simulation runs, so that
 * order is exact, and a seed replays.
 */
import { assert } from "../util/assert.js";
import type { Clock, Timer } from "../node/ports.js";

interface Event {
  readonly time: number;
  readonly seq: number;
  readonly owner: Owner | undefined;
  readonly run: () => void;
  cancelled: boolean;
}

/** What owns events: a node's life. A crash cancels everything the life had scheduled. */
export class Owner {
  alive = true;
}

export class Scheduler {
  #now = 0;
  #seq = 0;
  readonly #heap: Event[] = [];

  get now(): number {
    return this.#now;
  }

  get pending(): number {
    return this.#heap.length;
  }

  /** Runs `run` at `time` (not before now), after every event already due then. */
  at(time: number, run: () => void, owner?: Owner): Timer {
    const event: Event = { time: Math.max(time, this.#now), seq: this.#seq++, owner, run, cancelled: false };
    this.#push(event);
    return {
      cancel: () => {
        event.cancelled = true;
      },
    };
  }

  after(delayMs: number, run: () => void, owner?: Owner): Timer {
    return this.at(this.#now + delayMs, run, owner);
  }

  /**
   * A node's clock: real (simulated) time, with its timers running `rate` times slower than
   * true time (a node whose clock lags misses some ticks the others see), owned by `owner`.
   */
  clock(owner: Owner, rate: number): Clock {
    assert(rate >= 1, "a simulated clock runs at the true rate or slower");
    return {
      now: () => this.#now,
      setTimeout: (callback, ms) => this.after(ms * rate, callback, owner),
      setInterval: (callback, ms) => {
        let current: Timer | undefined;
        let cancelled = false;
        const arm = (): void => {
          current = this.after(Math.max(ms * rate, 1), () => {
            if (cancelled) return;
            arm(); // re-armed first: the callback may cancel it
            callback();
          }, owner);
        };
        arm();
        return {
          cancel: () => {
            cancelled = true;
            current?.cancel();
          },
        };
      },
      defer: (callback) => void this.at(this.#now, callback, owner),
    };
  }

  /**
   * Runs events in order until the next one is after `time` (simulated time then stands at
   * `time`) or `stop()` says so between two events.
   */
  async runUntil(time: number, stop: () => boolean = () => false): Promise<void> {
    for (;;) {
      if (stop()) return;
      const next = this.#heap[0];
      if (next === undefined || next.time > time) break;
      this.#pop();
      if (next.cancelled || (next.owner !== undefined && !next.owner.alive)) continue;
      this.#now = next.time;
      next.run();
      await settled();
    }
    this.#now = Math.max(this.#now, time);
  }

  #push(event: Event): void {
    const heap = this.#heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
  }
}

function before(a: Event, b: Event): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

/** Resolves after every promise chain running now has run to completion (microtasks first). */
function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
