/**
 * Units of the telemetry and logging: the Prometheus text format, W3C
 * `traceparent` parsing, and the logger's levels and redaction.
 */
import { assertEquals } from "@std/assert";
import { createLogger } from "../server/log.ts";
import { Registry } from "../server/telemetry/prometheus.ts";
import { parseTraceparent } from "../server/telemetry/trace_context.ts";

Deno.test("prometheus: counters, gauges and cumulative histograms in the text format", () => {
  const registry = new Registry();
  const answers = registry.counter("answers_total", "Answers");
  const open = registry.gauge("open", "Open");
  const latency = registry.histogram("latency_seconds", "Latency", [0.1, 1]);
  answers.add(1, { transport: "ws" });
  answers.add(2, { transport: "ws" });
  answers.add(1, { transport: 'a"b\\c' });
  open.add(1);
  open.add(-1);
  latency.record(0.05);
  latency.record(0.5);
  latency.record(5);
  assertEquals(
    registry.render(),
    [
      "# HELP answers_total Answers",
      "# TYPE answers_total counter",
      'answers_total{transport="ws"} 3',
      'answers_total{transport="a\\"b\\\\c"} 1',
      "# HELP open Open",
      "# TYPE open gauge",
      "open 0",
      "# HELP latency_seconds Latency",
      "# TYPE latency_seconds histogram",
      'latency_seconds_bucket{le="0.1"} 1',
      'latency_seconds_bucket{le="1"} 2',
      'latency_seconds_bucket{le="+Inf"} 3',
      "latency_seconds_sum 5.55",
      "latency_seconds_count 3",
      "",
    ].join("\n"),
  );
});

Deno.test("traceparent: valid headers parse; malformed and all-zero ids do not", () => {
  assertEquals(parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), {
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b7ad6b7169203331",
    traceFlags: 1,
    isRemote: true,
  });
  for (
    const bad of [
      undefined,
      "",
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
      "00-00000000000000000000000000000000-b7ad6b7169203331-01",
      "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
      "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
    ]
  ) assertEquals(parseTraceparent(bad), undefined, String(bad));
});

Deno.test("logger: levels filter, lines are JSON, secrets and query text are redacted", () => {
  const lines: string[] = [];
  const logger = createLogger("warn", { write: (line) => lines.push(line) });
  logger.debug("hidden");
  logger.info("hidden");
  logger.warn("shown", { request_id: "r", token: "s3cret", query: "private words" });
  logger.error("failed", { error: new Error("boom") });
  assertEquals(lines.length, 2);
  const [warn, error] = lines.map((line) => JSON.parse(line));
  assertEquals(warn.level, "warn");
  assertEquals(warn.msg, "shown");
  assertEquals(warn.request_id, "r");
  assertEquals(warn.token, "[redacted]");
  assertEquals(warn.query, "[redacted]");
  assertEquals(error.error.message, "boom");
  assertEquals(logger.enabled("debug"), false);
  assertEquals(logger.enabled("error"), true);
  const silent: string[] = [];
  const quiet = createLogger("silent", { write: (line) => silent.push(line) });
  quiet.error("nothing");
  assertEquals(silent, []);
});
