/**
 * Waiting for the replica's state to change, without polling: a condition is checked again
 * each time the driver handles a Ready or a tick passes (the only moments the state changes),
 * and the wait ends when it holds or its deadline passes.
 */
import type { Clock, Timer } from "./ports.js";

interface Waiter {
  readonly holds: () => boolean;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: Timer;
}

export class Conditions {
  readonly #clock: Clock;
  readonly #waiting = new Set<Waiter>();
  /** Marks for afterNextChange waiters: set at the next recheck, before conditions are checked. */
  readonly #afterRecheck: (() => void)[] = [];

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Resolves once `holds()` is true (at once if it is now); rejects with `expired()` at the deadline. */
  until(holds: () => boolean, deadline: number, expired: () => Error): Promise<void> {
    if (holds()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        holds,
        resolve,
        reject,
        timer: this.#clock.setTimeout(() => {
          if (!this.#waiting.delete(waiter)) return;
          if (holds()) resolve();
          else reject(expired());
        }, Math.max(0, deadline - this.#clock.now())),
      };
      this.#waiting.add(waiter);
    });
  }

  /**
   * Like until(), but checked only from the next change of state on (never at once): for a
   * retry whose condition held when it failed, so that it cannot spin without progress.
   */
  afterNextChange(holds: () => boolean, deadline: number, expired: () => Error): Promise<void> {
    let changed = false;
    const pending = this.until(() => changed && holds(), deadline, expired);
    this.#afterRecheck.push(() => (changed = true));
    return pending;
  }

  /** The state may have changed: wake every waiter whose condition holds now. */
  recheck(): void {
    if (this.#afterRecheck.length > 0) for (const mark of this.#afterRecheck.splice(0)) mark();
    if (this.#waiting.size === 0) return;
    for (const waiter of this.#waiting) {
      if (!waiter.holds()) continue;
      this.#waiting.delete(waiter);
      waiter.timer.cancel();
      waiter.resolve();
    }
  }

  failAll(error: Error): void {
    for (const waiter of this.#waiting) {
      waiter.timer.cancel();
      waiter.reject(error);
    }
    this.#waiting.clear();
  }

  get size(): number {
    return this.#waiting.size;
  }
}
