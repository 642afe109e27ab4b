/**
 * The gate's metrics on the shared registry (server/metrics.ts), written in Prometheus text
 * format at `/metrics`: counters and gauges named `gatehouse_<name>`, the request latency
 * histogram `gatehouse_gate_request_seconds{cmd,state}`, and the process series
 * (`process_resident_memory_bytes`, `process_open_fds`, `gatehouse_event_loop_delay_seconds`,
 * `gatehouse_build_info{version}`, …).
 *
 * The histogram's labels are bounded: `cmd` is a command some service registered (on any gate
 * in cluster mode) or one the gate serves itself, anything else `other`; `state` is a protocol state name, any
 * other number `other`.
 *
 * @example
 * ```ts
 * const metrics = new GateMetrics();
 * metrics.knownCommands((cmd) => cmd === "cs_msg_login");
 * metrics.observeRequest("cs_msg_login", 0, 0.004);
 * metrics.inc("requests_total");
 * console.log(metrics.render());
 * ```
 * @module
 */

import { isStateCode, stateName } from "../../shared/mod.ts";
import {
  type Counter,
  type Histogram,
  type Labels,
  MetricsRegistry,
  processMetrics,
} from "../metrics.ts";

/** Names and help texts of the counters the gate keeps (exposed as `gatehouse_<name>`). */
const COUNTERS = {
  connections_opened_total: "Connections accepted",
  connections_refused_total: "Connections refused at the connection limit",
  requests_total: "Requests received from clients and services",
  responses_total: "Responses sent to clients, by state",
  pushes_total: "Pushes delivered to clients",
  bad_requests_total: "Malformed messages received",
  rate_limited_total: "Requests refused by the rate limit",
  slow_readers_closed_total: "Connections closed for too many unsent bytes",
  idle_closed_total: "Connections closed for silence",
  oversized_total: "Messages refused for their size",
  service_key_failures_total: "Registrations refused for a wrong service key",
} as const;

/** A counter name. */
export type CounterName = keyof typeof COUNTERS;

/** The histogram's name. */
export const REQUEST_SECONDS = "gatehouse_gate_request_seconds";

/** Upper bounds of the request latency buckets, in seconds: 0.5 ms to 10 s (the timeout). */
export const REQUEST_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** The label value of every command outside the known set, and of a state that is not one. */
export const OTHER = "other";

/** `a="1",b="2"` as labels (the form the gate's callers pass). */
function parseLabels(text: string): Labels {
  const labels: Labels = {};
  for (const [, name, value] of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    labels[name] = value.replace(/\\(.)/g, "$1");
  }
  return labels;
}

/** The gate's counters, gauges and request histogram, with the process metrics. */
export class GateMetrics {
  /** Where every series lives; render it, or add to it. */
  readonly registry: MetricsRegistry = new MetricsRegistry();
  #counters = new Map<string, Counter>();
  #labels = new Map<string, Labels>();
  #labelled = new Map<string, (by?: number) => void>();
  #requests: Histogram;
  #observers = new Map<string, Map<number, (seconds: number) => void>>();
  #known: (cmd: string) => boolean = () => false;
  /** The `responses_total` series by state code. */
  #responses = new Map<number, (by?: number) => void>();

  constructor() {
    for (const [name, help] of Object.entries(COUNTERS)) {
      this.#counters.set(name, this.registry.counter({ name: `gatehouse_${name}`, help }));
    }
    this.#requests = this.registry.histogram({
      name: REQUEST_SECONDS,
      help: "Time from a request's arrival to its answer, in seconds, by command and state " +
        "(observed by the gate that answers it)",
      buckets: REQUEST_BUCKETS,
    });
  }

  /** Adds to a counter, optionally labelled (`state="OK"`). */
  inc(name: CounterName, label?: string, by = 1): void {
    if (label === undefined) {
      this.#counters.get(name)!.inc(undefined, by);
      return;
    }
    const key = `${name}{${label}}`;
    let add = this.#labelled.get(key);
    if (!add) {
      add = this.#counters.get(name)!.series(this.#labelsOf(label));
      if (this.#labelled.size < 1000) this.#labelled.set(key, add);
    }
    add(by);
  }

  /**
   * Counts one response sent to a client, by its state: the same series as
   * `inc("responses_total", 'state="<name>"')`, without building the label at each response.
   */
  countResponse(state: number): void {
    let add = this.#responses.get(state);
    if (!add) {
      add = this.#counters.get("responses_total")!.series({ state: stateName(state) });
      // States that are not state codes are not kept, so that the map stays bounded.
      if (isStateCode(state)) this.#responses.set(state, add);
    }
    add();
  }

  /** The value of a counter. */
  get(name: CounterName, label?: string): number {
    return this.#counters.get(name)!.get(label === undefined ? undefined : this.#labelsOf(label));
  }

  /** A gauge `gatehouse_<name>` whose value is read when scraped. */
  gauge(name: string, options: { help: string; read: () => number }): void {
    this.registry.gauge({ name: `gatehouse_${name}`, ...options });
  }

  /** Which commands get their own `cmd` label; the rest are `other`. */
  knownCommands(known: (cmd: string) => boolean): void {
    this.#known = known;
  }

  /** Records one answered request: its command, state and time since it arrived. */
  observeRequest(cmd: string, state: number, seconds: number): void {
    const label = this.#known(cmd) ? cmd : OTHER;
    let byState = this.#observers.get(label);
    if (!byState) this.#observers.set(label, byState = new Map());
    // Any number that is not a state shares one key, so that the map stays bounded too.
    const code = isStateCode(state) ? state : Number.NaN;
    let observe = byState.get(code);
    if (!observe) {
      observe = this.#requests.series({
        cmd: label,
        state: isStateCode(state) ? stateName(state) : OTHER,
      });
      byState.set(code, observe);
    }
    observe(seconds);
  }

  /** How many requests of `cmd` (a label value) and state name were observed. */
  requestCount(labels: { cmd: string; state: string }): number {
    return this.#requests.count(labels);
  }

  /** Adds the process series; returns a function that stops their sampling timer. */
  startProcessMetrics(): () => void {
    return processMetrics(this.registry);
  }

  /** Prometheus text exposition. */
  render(): string {
    return this.registry.render();
  }

  #labelsOf(text: string): Labels {
    let labels = this.#labels.get(text);
    if (!labels) {
      labels = parseLabels(text);
      if (this.#labels.size < 1000) this.#labels.set(text, labels);
    }
    return labels;
  }
}
