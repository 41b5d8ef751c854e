/**
 * Resolves once every promise chain running now, and all it sets off, has settled, still
 * within this turn of the event loop: a nextTick queued from a microtask runs only after the
 * whole microtask queue has drained, and before any I/O. What those chains write (an HTTP
 * answer, which Node's http module uncorks in a nextTick of its own, queued after this one
 * only when its chain is longer) goes out first, without the wait for another turn of the
 * event loop, with its I/O, that setImmediate costs.
 */
export function afterPromiseChains(): Promise<void> {
  return new Promise<void>((resolve) => queueMicrotask(() => process.nextTick(resolve)));
}
