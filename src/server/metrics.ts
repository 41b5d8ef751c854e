/**
 * HTTP metrics (requests and latency by method, route and status) in a registry of their own,
 * so two servers in one process (tests, embedded nodes) never share or clash. GET /metrics
 * serves the node's metrics followed by these.
 */
import { Counter, Histogram, Registry } from "prom-client";

/** Latency buckets in seconds: a local read is sub-millisecond, a write waits for fsyncs on a quorum. */
const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Distinct (method, route, status) series whose bound children are kept (routes × statuses is small). */
const SERIES_CACHED_MAX = 1024;

export class HttpMetrics {
  readonly #series = new Map<string, { requests: { inc(): void }; latency: { observe(value: number): void } }>();
  readonly #registry = new Registry();
  readonly #requests: Counter<"method" | "route" | "status">;
  readonly #latency: Histogram<"method" | "route" | "status">;

  constructor() {
    this.#requests = new Counter({
      name: "flotilla_http_requests_total",
      help: "HTTP requests answered, by method, route and status.",
      labelNames: ["method", "route", "status"],
      registers: [this.#registry],
    });
    this.#latency = new Histogram({
      name: "flotilla_http_request_duration_seconds",
      help: "Time from receiving an HTTP request to answering it, by method, route and status.",
      labelNames: ["method", "route", "status"],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [this.#registry],
    });
  }

  /** `route` is the route pattern (e.g. /v1/kv/*), never the raw path: label values stay few. */
  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${route} ${status}`;
    let series = this.#series.get(key);
    if (series === undefined) {
      // prom-client hashes a label object on every call; the bound children are looked up once.
      const labels = { method, route, status: String(status) };
      series = { requests: this.#requests.labels(labels), latency: this.#latency.labels(labels) };
      if (this.#series.size < SERIES_CACHED_MAX) this.#series.set(key, series);
    }
    series.requests.inc();
    series.latency.observe(seconds);
  }

  async text(): Promise<string> {
    return this.#registry.metrics();
  }
}
