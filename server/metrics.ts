/**
 * Metrics in Prometheus conventions for every process: counters, gauges and histograms with
 * labels, written in the text exposition format (version 0.0.4). {@linkcode processMetrics} adds
 * what every process reports: resident memory, heap, open file descriptors (where Deno's
 * permissions let it count them), start time, an event-loop delay histogram, and
 * `gatehouse_build_info{version}`.
 *
 * Why not `prom-client`: it runs on Deno 2.9, but its event-loop lag comes from `node:perf_hooks`
 * `monitorEventLoopDelay`, which on Deno misses a blocked loop (an 80 ms block read as 0.015 ms),
 * so the one process metric an event-loop server most needs would be wrong; and it would bring
 * four npm packages (about 5 MB with `@opentelemetry/api`) into services that have none, to be
 * fetched into Deno's cache before a sandboxed unit can start. This module is small and exact;
 * the delay is measured by a timer that notes how late it fires.
 *
 * @example
 * ```ts
 * const metrics = new MetricsRegistry();
 * const commits = metrics.counter({ name: "gatehouse_login_commits_total", help: "Commits" });
 * commits.inc();
 * const stop = processMetrics(metrics);
 * console.log(metrics.render());
 * stop();
 * ```
 * @module
 */

import { VERSION } from "./version.ts";

/** Label names to values. */
export type Labels = Record<string, string>;

/** What a metric is called and says. */
export interface MetricOptions {
  /** `snake_case`, with its unit and `_total` for counters (Prometheus conventions). */
  name: string;
  help: string;
}

const NAME_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Escapes a label value (backslash, quote, newline). */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** `{a="1",b="2"}`, or "" for no labels. */
function labelText(labels: Labels | undefined): string {
  if (!labels) return "";
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

interface Metric {
  render(): string[];
}

/** A value that only goes up, per label set. */
export class Counter implements Metric {
  #options: MetricOptions;
  #values = new Map<string, number>();

  /** Use {@linkcode MetricsRegistry.counter}. */
  /** Whether the unlabelled series is held. */
  #bare = true;

  constructor(options: MetricOptions) {
    this.#options = options;
    this.#values.set("", 0);
  }

  /** Adds `by` (default 1; never negative) to the series of `labels`. */
  inc(labels?: Labels, by = 1): void {
    this.#add(labelText(labels), by);
  }

  /**
   * The series of `labels` as a function that adds `by` (default 1): for a hot path, where the
   * labels are known beforehand and their text need not be made at each increment.
   */
  series(labels?: Labels): (by?: number) => void {
    const key = labelText(labels);
    return (by = 1) => this.#add(key, by);
  }

  #add(key: string, by: number): void {
    if (!(by >= 0)) throw new RangeError("A counter only goes up");
    if (key === "") this.#bare = true;
    else if (this.#bare) {
      // The unlabelled 0 shown before any series existed goes once a labelled one appears.
      this.#values.delete("");
      this.#bare = false;
    }
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }

  /** The value of the series of `labels`. */
  get(labels?: Labels): number {
    return this.#values.get(labelText(labels)) ?? 0;
  }

  /** Exposition lines. */
  render(): string[] {
    const { name, help } = this.#options;
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} counter`];
    for (const [key, value] of this.#values) lines.push(`${name}${key} ${formatNumber(value)}`);
    return lines;
  }
}

/** A value read when scraped (`read`) or set by the code, per label set. */
export class Gauge implements Metric {
  #options: MetricOptions & { read?: () => number | Array<[Labels, number]> };
  #values = new Map<string, number>();

  /** Use {@linkcode MetricsRegistry.gauge}. */
  constructor(options: MetricOptions & { read?: () => number | Array<[Labels, number]> }) {
    this.#options = options;
  }

  /** Sets the series of `labels`. */
  set(value: number, labels?: Labels): void {
    this.#values.set(labelText(labels), value);
  }

  /** Exposition lines. */
  render(): string[] {
    const { name, help, read } = this.#options;
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`];
    if (read) {
      const value = read();
      if (typeof value === "number") lines.push(`${name} ${formatNumber(value)}`);
      else {for (const [labels, v] of value) {
          lines.push(`${name}${labelText(labels)} ${formatNumber(v)}`);
        }}
    }
    for (const [key, value] of this.#values) lines.push(`${name}${key} ${formatNumber(value)}`);
    return lines;
  }
}

/** Counts of observations in cumulative buckets, with their sum, per label set. */
export class Histogram implements Metric {
  #options: MetricOptions;
  #buckets: number[];
  #series = new Map<string, { labels?: Labels; counts: number[]; sum: number; count: number }>();

  /** Use {@linkcode MetricsRegistry.histogram}; `buckets` are upper bounds, ascending. */
  constructor(options: MetricOptions & { buckets: number[] }) {
    const sorted = [...options.buckets].sort((a, b) => a - b);
    if (sorted.length === 0 || sorted.some((b, i) => i > 0 && b === sorted[i - 1])) {
      throw new RangeError(`Histogram ${options.name} needs distinct buckets`);
    }
    this.#options = options;
    this.#buckets = sorted;
  }

  /** Records one observation in the series of `labels`. */
  observe(value: number, labels?: Labels): void {
    this.#record(this.#seriesOf(labels), value);
  }

  /**
   * The series of `labels` as a function that records one observation: for a hot path, where
   * the labels are known beforehand and their text need not be made at each observation.
   */
  series(labels?: Labels): (value: number) => void {
    const series = this.#seriesOf(labels);
    return (value) => this.#record(series, value);
  }

  #seriesOf(labels?: Labels) {
    const key = labelText(labels);
    let series = this.#series.get(key);
    if (!series) {
      series = { labels, counts: this.#buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    return series;
  }

  #record(series: { counts: number[]; sum: number; count: number }, value: number): void {
    const buckets = this.#buckets;
    for (let i = buckets.length - 1; i >= 0 && value <= buckets[i]; i--) series.counts[i]++;
    series.sum += value;
    series.count++;
  }

  /** How many observations the series of `labels` holds. */
  count(labels?: Labels): number {
    return this.#series.get(labelText(labels))?.count ?? 0;
  }

  /** Exposition lines: `_bucket{le}`, `_sum`, `_count` per series (an empty series if none). */
  render(): string[] {
    const { name, help } = this.#options;
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    const all = this.#series.size > 0
      ? [...this.#series.values()]
      : [{ labels: undefined, counts: this.#buckets.map(() => 0), sum: 0, count: 0 }];
    for (const series of all) {
      const base = series.labels ?? {};
      this.#buckets.forEach((bound, i) => {
        const labels = labelText({ ...base, le: formatNumber(bound) });
        lines.push(`${name}_bucket${labels} ${series.counts[i]}`);
      });
      lines.push(`${name}_bucket${labelText({ ...base, le: "+Inf" })} ${series.count}`);
      lines.push(`${name}_sum${labelText(series.labels)} ${formatNumber(series.sum)}`);
      lines.push(`${name}_count${labelText(series.labels)} ${series.count}`);
    }
    return lines;
  }
}

/** The metrics of one process, in the order they were made. */
export class MetricsRegistry {
  #metrics = new Map<string, Metric>();

  #add<T extends Metric>(name: string, metric: T): T {
    if (!NAME_PATTERN.test(name)) throw new TypeError(`Metric name ${name} is not valid`);
    if (this.#metrics.has(name)) throw new TypeError(`Metric ${name} exists already`);
    this.#metrics.set(name, metric);
    return metric;
  }

  /** A new counter. */
  counter(options: MetricOptions): Counter {
    return this.#add(options.name, new Counter(options));
  }

  /** A new gauge; with `read`, its value is read at each scrape. */
  gauge(options: MetricOptions & { read?: () => number | Array<[Labels, number]> }): Gauge {
    return this.#add(options.name, new Gauge(options));
  }

  /** A new histogram with `buckets` (upper bounds). */
  histogram(options: MetricOptions & { buckets: number[] }): Histogram {
    return this.#add(options.name, new Histogram(options));
  }

  /** The text exposition of every metric. */
  render(): string {
    const lines: string[] = [];
    for (const metric of this.#metrics.values()) lines.push(...metric.render());
    return lines.join("\n") + "\n";
  }
}

/** The content type of the text exposition. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Buckets of the event-loop delay, in seconds: 1 ms to 5 s. */
export const EVENT_LOOP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** How often the event-loop delay is sampled, in ms. */
export const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * How many file descriptors are open, from `/proc/self/fd`; `undefined` where that cannot be
 * read: not Linux, or Deno's permissions, which open `/proc/self` only to `--allow-all` (Deno
 * 2.9), so that a process run with narrower permissions cannot count its descriptors.
 */
export function openFds(): number | undefined {
  try {
    let n = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
    return n;
  } catch {
    return undefined;
  }
}

/**
 * Adds the process metrics to `registry`: `process_resident_memory_bytes`,
 * `process_heap_bytes`, `process_open_fds` (only where {@linkcode openFds} can count them),
 * `process_start_time_seconds`,
 * `gatehouse_event_loop_delay_seconds` (how late a timer set every 100 ms fires) and
 * `gatehouse_build_info{version,deno}`. Returns a function that stops the sampling timer.
 */
export function processMetrics(registry: MetricsRegistry): () => void {
  const startTime = Date.now() / 1000;
  registry.gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes",
    read: () => Deno.memoryUsage().rss,
  });
  registry.gauge({
    name: "process_heap_bytes",
    help: "JavaScript heap in use, in bytes",
    read: () => Deno.memoryUsage().heapUsed,
  });
  if (openFds() !== undefined) {
    registry.gauge({
      name: "process_open_fds",
      help: "Open file descriptors",
      read: () => openFds() ?? NaN,
    });
  }
  registry.gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since the epoch, in seconds",
    read: () => startTime,
  });
  const delay = registry.histogram({
    name: "gatehouse_event_loop_delay_seconds",
    help: `How late a timer set every ${EVENT_LOOP_SAMPLE_MS} ms fires, in seconds`,
    buckets: EVENT_LOOP_BUCKETS,
  });
  registry.gauge({
    name: "gatehouse_build_info",
    help: "The running version, as a label; the value is 1",
    read: () => [[{ version: VERSION, deno: Deno.version.deno }, 1]],
  });
  let expected = performance.now() + EVENT_LOOP_SAMPLE_MS;
  const timer = setInterval(() => {
    const now = performance.now();
    delay.observe(Math.max(0, now - expected) / 1000);
    expected = now + EVENT_LOOP_SAMPLE_MS;
  }, EVENT_LOOP_SAMPLE_MS);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}

/**
 * Serves `registry` when a port is given (`--metrics-port`), logging `metrics listening url=…`;
 * resolves to `undefined` when none is. Rejects when the port cannot be had.
 */
export async function serveMetricsIfAsked(options: {
  registry: MetricsRegistry;
  port?: number;
  host: string;
  log: { info(event: string, fields?: Record<string, unknown>): void };
}): Promise<MetricsServer | undefined> {
  if (options.port === undefined) return undefined;
  const server = await serveMetrics({
    registry: options.registry,
    host: options.host,
    port: options.port,
  });
  options.log.info("metrics listening", { url: server.url });
  return server;
}

/** A running `/metrics` endpoint. */
export interface MetricsServer {
  /** `http://host:port/metrics`. */
  url: string;
  /** Stops serving. */
  stop(): Promise<void>;
}

/**
 * Serves `registry` at `http://host:port/metrics` (port 0: any free one); other paths are 404.
 * Resolves once listening.
 */
export function serveMetrics(
  options: { registry: MetricsRegistry; host: string; port: number },
): Promise<MetricsServer> {
  return new Promise((resolve, reject) => {
    try {
      const server = Deno.serve({
        hostname: options.host,
        port: options.port,
        onListen: (addr) => {
          const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
          resolve({ url: `http://${host}:${addr.port}/metrics`, stop: () => server.shutdown() });
        },
      }, (request) => {
        const path = new URL(request.url).pathname;
        if (path !== "/metrics") return new Response("Not found\n", { status: 404 });
        if (request.method !== "GET" && request.method !== "HEAD") {
          return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET" } });
        }
        return new Response(options.registry.render(), {
          headers: { "content-type": METRICS_CONTENT_TYPE },
        });
      });
      server.finished.catch(() => {});
    } catch (error) {
      reject(error);
    }
  });
}
