/**
 * The gate's counters and gauges, written in Prometheus text format at `/metrics`.
 *
 * @module
 */

/** Names and help texts of the counters the gate keeps. */
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

/** Counters, some with a `state` label, and gauges read at scrape time. */
export class GateMetrics {
  #counters = new Map<string, number>();
  #gauges = new Map<string, { help: string; read: () => number }>();

  /** Adds to a counter, optionally labelled. */
  inc(name: CounterName, label?: string, by = 1): void {
    const key = label === undefined ? name : `${name}{${label}}`;
    this.#counters.set(key, (this.#counters.get(key) ?? 0) + by);
  }

  /** The value of a counter. */
  get(name: CounterName, label?: string): number {
    return this.#counters.get(label === undefined ? name : `${name}{${label}}`) ?? 0;
  }

  /** A gauge whose value is read when scraped. */
  gauge(name: string, options: { help: string; read: () => number }): void {
    this.#gauges.set(name, options);
  }

  /** Prometheus text exposition. */
  render(): string {
    const lines: string[] = [];
    for (const [name, help] of Object.entries(COUNTERS)) {
      lines.push(`# HELP gatehouse_${name} ${help}`, `# TYPE gatehouse_${name} counter`);
      let any = false;
      for (const [key, value] of this.#counters) {
        if (key === name || key.startsWith(`${name}{`)) {
          lines.push(`gatehouse_${key} ${value}`);
          any = true;
        }
      }
      if (!any) lines.push(`gatehouse_${name} 0`);
    }
    for (const [name, { help, read }] of this.#gauges) {
      lines.push(`# HELP gatehouse_${name} ${help}`, `# TYPE gatehouse_${name} gauge`);
      lines.push(`gatehouse_${name} ${read()}`);
    }
    return lines.join("\n") + "\n";
  }
}
