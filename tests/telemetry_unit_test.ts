/**
 * Units of the telemetry and logging: the Prometheus text format, W3C
 * `traceparent` parsing, a connection's trace context, and the logger's
 * levels and redaction.
 */
import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { ProxyTracerProvider, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { createLogger } from "../server/log.ts";
import { Telemetry } from "../server/telemetry/mod.ts";
import { Registry } from "../server/telemetry/prometheus.ts";
import { parseTraceparent, requestContext } from "../server/telemetry/trace_context.ts";

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

Deno.test("connection trace: its context carries its span, or is the caller's when the span adds nothing", () => {
  const caller = requestContext("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  const callerSpan = trace.getSpanContext(caller)!;
  const open = (telemetry: Telemetry, parent = caller) =>
    telemetry.connection("ws", { parent, span: "chat.ws" });

  // Tracing off (the API's no-op tracer): the caller's context itself, same trace.
  const off = new Telemetry({ tracerProvider: new ProxyTracerProvider() });
  const quiet = open(off);
  assert(quiet.context === caller, "no context of its own while tracing is off");
  assertEquals(trace.getSpanContext(quiet.context), callerSpan);
  assert(open(off, ROOT_CONTEXT).context === ROOT_CONTEXT);
  quiet.end();

  // Recorded: the socket's own span, a child in the caller's trace.
  const recorded = open(new Telemetry({ tracerProvider: new BasicTracerProvider() }));
  const own = trace.getSpanContext(recorded.context)!;
  assertEquals(own.traceId, callerSpan.traceId);
  assertNotEquals(own.spanId, callerSpan.spanId);
  recorded.end();

  // Sampled out by an SDK: not recorded, yet its own span id, so it stays in the context.
  const sampler = new AlwaysOffSampler();
  const sampledOut = open(new Telemetry({ tracerProvider: new BasicTracerProvider({ sampler }) }));
  assert(sampledOut.context !== caller);
  assertNotEquals(trace.getSpanContext(sampledOut.context)!.spanId, callerSpan.spanId);
  sampledOut.end();
});

Deno.test("answer trace: no spans while tracing is off, yet the caller's trace id; a provider set later is used", () => {
  const caller = requestContext("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  const proxy = new ProxyTracerProvider();
  const telemetry = new Telemetry({ tracerProvider: proxy });
  const answer = (parent = caller) =>
    telemetry.answer({
      transport: "ws",
      dialect: "native",
      agent: "echo",
      requestId: "r1",
      sessionId: "s1",
      parent,
    });

  // Off: the caller's trace id (for the logs), none without a caller.
  const off = answer();
  assertEquals(off.traceId, "0af7651916cd43dd8448eb211c80319c");
  off.firstChunk();
  off.agentStarted();
  assertEquals(off.end({ reason: "stop", chunks: 1 }).chunks, 1);
  assertEquals(answer(ROOT_CONTEXT).traceId, undefined);

  // A provider registered after start is used from the next answer on.
  const exporter = new InMemorySpanExporter();
  proxy.setDelegate(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
  const on = answer();
  on.agentStarted();
  on.end({ reason: "stop", chunks: 1 });
  const names = exporter.getFinishedSpans().map((span) => span.name).sort();
  assertEquals(names, ["chat.agent", "chat.answer"]);
  assertEquals(on.traceId, "0af7651916cd43dd8448eb211c80319c");
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
