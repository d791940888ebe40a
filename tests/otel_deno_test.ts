/**
 * Deno's built-in OpenTelemetry (`OTEL_DENO=true`) exports the service's
 * own spans and metrics with no SDK in the project: a real server process
 * sends them over OTLP/HTTP (JSON) to a local receiver speaking that
 * protocol, continuing the trace of the upgrade request's `traceparent`.
 */
import { assert, assertEquals, assertExists } from "@std/assert";
import { spawnServer } from "./helpers/spawn_server.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

interface OtlpSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
  events?: { name: string }[];
}

/** A minimal OTLP/HTTP JSON receiver keeping the spans and metric names it is sent. */
function otlpReceiver() {
  const spans: OtlpSpan[] = [];
  const metrics = new Set<string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = new URL(request.url).pathname;
    const body = await request.json().catch(() => ({}));
    if (path === "/v1/traces") {
      for (const resource of body.resourceSpans ?? []) {
        for (const scope of resource.scopeSpans ?? []) spans.push(...scope.spans ?? []);
      }
    } else if (path === "/v1/metrics") {
      for (const resource of body.resourceMetrics ?? []) {
        for (const scope of resource.scopeMetrics ?? []) {
          if (scope.scope?.name !== "chat-stream") continue;
          for (const metric of scope.metrics ?? []) metrics.add(metric.name);
        }
      }
    }
    return Response.json({});
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    spans,
    metrics,
    close: () => server.shutdown(),
  };
}

function attribute(span: OtlpSpan, key: string): unknown {
  const value = span.attributes?.find((a) => a.key === key)?.value;
  return value === undefined ? undefined : Object.values(value)[0];
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 50));
}

Deno.test("OTEL_DENO=true: the answer's spans and the metrics reach an OTLP receiver in the caller's trace", async () => {
  const receiver = otlpReceiver();
  const server = await spawnServer("deno", {
    OTEL_DENO: "true",
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_METRIC_EXPORT_INTERVAL: "200",
    OTEL_DENO_CONSOLE: "ignore",
  });
  try {
    const client = await WsTestClient.connect(server.wsUrl, {
      headers: { traceparent: TRACEPARENT },
    });
    client.send({ query: "what is 12 * (3 + 4)?", session_id: "otlp", request_id: "otlp-1" });
    assertEquals((await client.answer()).at(-1)!.type, "done");
    client.socket.close(1000);
    await client.closed();
    const named = (name: string) => receiver.spans.find((span) => span.name === name);
    await until(() =>
      named("chat.ws") !== undefined && receiver.metrics.has("chat_answers_finished_total")
    );
  } finally {
    await server.close();
    await receiver.close();
  }
  const byName = new Map(receiver.spans.map((span) => [span.name, span]));
  const ws = byName.get("chat.ws")!;
  const answer = byName.get("chat.answer");
  const agent = byName.get("chat.agent");
  const tool = byName.get("chat.tool calculator");
  assertExists(answer);
  assertExists(agent);
  assertExists(tool);
  for (const span of [ws, answer, agent, tool]) assertEquals(span.traceId, TRACE_ID, span.name);
  const http = receiver.spans.find((span) => span.spanId === ws.parentSpanId);
  assertExists(http, "the socket's span is a child of Deno's own HTTP span");
  assertEquals(answer.parentSpanId, ws.spanId);
  assertEquals(agent.parentSpanId, answer.spanId);
  assertEquals(tool.parentSpanId, agent.spanId);
  assertEquals(attribute(answer, "chat.request_id"), "otlp-1");
  assertEquals(attribute(answer, "chat.finish_reason"), "stop");
  assert(answer.events?.some((event) => event.name === "first_chunk"));
  for (const name of ["chat_answers_started_total", "chat_time_to_first_chunk_seconds"]) {
    assert(receiver.metrics.has(name), `metric ${name} exported`);
  }
});
