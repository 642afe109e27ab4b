/**
 * server/metrics.ts and the services' `/metrics` (issue 19): the text exposition of counters,
 * gauges and histograms; and login, group and the license server, each started with
 * `--metrics-port 0`, serving their histogram, process and build-info series with values that
 * follow what clients did (commits, lockouts, groups and members, seats).
 *
 * @module
 */

import assert from "node:assert/strict";
import { GroupCmd, State } from "../../shared/mod.ts";
import { MetricsRegistry, processMetrics } from "../../server/metrics.ts";
import { VERSION } from "../../server/version.ts";
import { startGroup } from "../helpers/group.ts";
import { loggedInClient, startLogin } from "../helpers/login.ts";
import type { RunningProcess } from "../helpers/process.ts";
import { INTEGRATION, startGate } from "../helpers/suite.ts";
import { makeLicenseDir, startLicenseServer } from "../license/license_fixtures.ts";

Deno.test("metrics: counters, labelled gauges and cumulative histogram buckets", () => {
  const metrics = new MetricsRegistry();
  const counter = metrics.counter({ name: "t_events_total", help: "Events" });
  counter.inc();
  counter.inc(undefined, 2);
  metrics.gauge({ name: "t_seats", help: "Seats", read: () => [[{ state: 'a"b' }, 3]] });
  const histogram = metrics.histogram({ name: "t_size", help: "Size", buckets: [1, 10] });
  for (const value of [0.5, 5, 50]) histogram.observe(value);
  const text = metrics.render();
  assert.match(text, /^# TYPE t_events_total counter\nt_events_total 3$/m);
  assert.match(text, /^t_seats\{state="a\\"b"\} 3$/m);
  assert.match(text, /^# TYPE t_size histogram$/m);
  assert.match(text, /^t_size_bucket\{le="1"\} 1\nt_size_bucket\{le="10"\} 2\n/m);
  assert.match(text, /^t_size_bucket\{le="\+Inf"\} 3\nt_size_sum 55.5\nt_size_count 3$/m);
  assert.throws(() => counter.inc(undefined, -1), /A counter only goes up/);
  assert.throws(() => metrics.counter({ name: "t_events_total", help: "x" }), /exists already/);
});

Deno.test({
  name: "metrics: the event-loop delay histogram sees a blocked loop",
  ...INTEGRATION,
  async fn() {
    const metrics = new MetricsRegistry();
    const stop = processMetrics(metrics);
    try {
      await new Promise((resolve) => setTimeout(resolve, 150));
      const until = performance.now() + 300;
      while (performance.now() < until) { /* block the loop for 300 ms */ }
      await new Promise((resolve) => setTimeout(resolve, 250));
      const text = metrics.render();
      const over = Number(
        text.match(/^gatehouse_event_loop_delay_seconds_bucket\{le="0.1"\} (\d+)$/m)![1],
      );
      const all = Number(text.match(/^gatehouse_event_loop_delay_seconds_count (\d+)$/m)![1]);
      assert.ok(all - over >= 1, `a delay over 100 ms was seen:\n${text}`);
      assert.match(text, /^process_resident_memory_bytes \d+$/m);
      assert.match(text, /^process_open_fds \d+$/m, "counted under --allow-all");
    } finally {
      stop();
    }
  },
});

/** The `/metrics` URL a process logged. */
async function metricsUrl(process: RunningProcess): Promise<string> {
  return (await process.waitForLine(/metrics listening url=(\S+)/))[1];
}

/** Reads `/metrics`, checking the status and content type. */
async function scrape(url: string): Promise<string> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return await response.text();
}

/** The value of one series line, e.g. `gatehouse_group_groups` or `x{state="used"}`. */
function value(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  assert.ok(line, `no series ${series} in:\n${text}`);
  return Number(line.slice(series.length + 1));
}

/** The series every process serves: a histogram, the process metrics and the build info. */
function assertCommonSeries(text: string): void {
  assert.match(text, /^# TYPE gatehouse_event_loop_delay_seconds histogram$/m);
  assert.match(text, /^gatehouse_event_loop_delay_seconds_bucket\{le="\+Inf"\} \d+$/m);
  assert.ok(value(text, "process_resident_memory_bytes") > 1_000_000);
  // Deno opens /proc/self/fd only to --allow-all; the services run with less (metrics.ts).
  assert.doesNotMatch(text, /^process_open_fds /m);
  assert.ok(value(text, "process_start_time_seconds") > 1_700_000_000);
  assert.match(
    text,
    new RegExp(
      `^gatehouse_build_info\\{version="${VERSION.replace(/\./g, "\\.")}",deno="[^"]+"\\} 1$`,
      "m",
    ),
  );
}

Deno.test({
  name: "metrics: login, group and license serve their series at --metrics-port",
  ...INTEGRATION,
  async fn(t) {
    const gate = await startGate();
    const login = await startLogin(gate, { flags: ["--metrics-port", "0"] });
    const group = await startGroup(gate, { flags: ["--metrics-port", "0"] });
    const licenseDir = await makeLicenseDir({ seats: 2 });
    const license = await startLicenseServer({
      dataDir: licenseDir,
      args: ["--metrics-port", "0"],
    });
    try {
      await t.step("login: commits, batch sizes, the hashing queue and lockouts", async () => {
        const url = await metricsUrl(login);
        const before = await scrape(url);
        assertCommonSeries(before);
        assert.match(before, /^# TYPE gatehouse_login_commit_batch_size histogram$/m);
        const { client, username } = await loggedInClient(gate.wsUrl, "metric");
        // 5 wrong passwords lock the account (login_throttle.ts); one more is refused as locked.
        for (let i = 0; i < 6; i++) {
          const response = await client.request("cs_msg_login", {
            username,
            password: "wrongpass1",
          }, { timeoutMs: 15_000 });
          assert.equal(response.state, State.FAIL);
        }
        client.close();
        const after = await scrape(url);
        assert.ok(
          value(after, "gatehouse_login_commits_total") >
            value(before, "gatehouse_login_commits_total"),
        );
        assert.ok(value(after, "gatehouse_login_commit_batch_size_count") >= 1);
        assert.equal(
          value(after, 'gatehouse_login_commit_batch_size_bucket{le="1000"}'),
          value(
            after,
            "gatehouse_login_commit_batch_size_count",
          ),
        );
        assert.equal(value(after, "gatehouse_login_lockouts_total"), 1);
        assert.ok(value(after, "gatehouse_login_locked_refusals_total") >= 1);
        assert.equal(value(after, "gatehouse_login_hash_waiting"), 0);
        assert.equal(value(after, "gatehouse_login_hash_running"), 0);
      });

      await t.step("group: groups, members and the fan-out histogram", async () => {
        const url = await metricsUrl(group);
        assertCommonSeries(await scrape(url));
        const a = await loggedInClient(gate.wsUrl, "metrica");
        const b = await loggedInClient(gate.wsUrl, "metricb");
        const created = await a.client.request(GroupCmd.CREATE, { key: "k" });
        const groupId = (created.data as { groupId: string }).groupId;
        assert.equal(
          (await b.client.request(GroupCmd.JOIN, { groupId, key: "k" })).state,
          State.OK,
        );
        assert.equal(
          (await a.client.request(GroupCmd.SEND, { groupId, data: "hi" })).state,
          State.OK,
        );
        const text = await scrape(url);
        assert.equal(value(text, "gatehouse_group_groups"), 1);
        assert.equal(value(text, "gatehouse_group_members"), 2);
        assert.equal(value(text, "gatehouse_group_away_connections"), 0);
        assert.equal(value(text, "gatehouse_group_created_total"), 1);
        assert.equal(value(text, "gatehouse_group_messages_total"), 1);
        assert.equal(value(text, 'gatehouse_group_message_recipients_bucket{le="0"}'), 0);
        assert.equal(value(text, 'gatehouse_group_message_recipients_bucket{le="1"}'), 1);
        a.client.close();
        b.client.close();
      });

      await t.step("license: seats granted, used, free and queued", async () => {
        const url = await metricsUrl(license.proc);
        const text = await scrape(url);
        assertCommonSeries(text);
        assert.equal(value(text, "gatehouse_license_seats_granted"), 2);
        assert.equal(value(text, 'gatehouse_license_seats{state="used"}'), 0);
        assert.equal(value(text, 'gatehouse_license_seats{state="free"}'), 2);
        assert.equal(value(text, 'gatehouse_license_seats{state="queued"}'), 0);
        assert.equal(value(text, "gatehouse_license_valid"), 1);
        const other = await fetch(url.replace("/metrics", "/other"));
        assert.equal(other.status, 404);
        await other.body?.cancel();
      });
    } finally {
      await Promise.all([login.stop(), group.stop(), license.stop()]);
      await gate.stop();
      await Deno.remove(licenseDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("metrics: a histogram's bound series records into the same series as observe", () => {
  const metrics = new MetricsRegistry();
  const histogram = metrics.histogram({ name: "t_latency", help: "Latency", buckets: [1, 10] });
  const record = histogram.series({ cmd: "a" });
  record(0.5);
  record(20);
  histogram.observe(5, { cmd: "a" });
  assert.equal(histogram.count({ cmd: "a" }), 3);
  const text = metrics.render();
  assert.match(text, /^t_latency_bucket\{cmd="a",le="1"\} 1$/m);
  assert.match(text, /^t_latency_bucket\{cmd="a",le="10"\} 2$/m);
  assert.match(text, /^t_latency_bucket\{cmd="a",le="\+Inf"\} 3$/m);
  assert.match(text, /^t_latency_sum\{cmd="a"\} 25.5$/m);
});
