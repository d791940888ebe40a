/**
 * The trace context a request continues: the runtime's own HTTP span when
 * Deno's OpenTelemetry is on (`OTEL_DENO=true`; it already continues the
 * caller's `traceparent`), else the W3C `traceparent` header itself.
 * @module
 */
import {
  type Context,
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  trace,
  TraceFlags,
} from "@opentelemetry/api";

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/** The span context of a W3C `traceparent` header, or `undefined` when absent or malformed. */
export function parseTraceparent(header: string | undefined): SpanContext | undefined {
  const match = header ? TRACEPARENT.exec(header.trim().toLowerCase()) : null;
  if (!match) return undefined;
  const [, version, traceId, spanId, flags] = match;
  if (version === "ff" || /^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  if (version === "00" && header!.trim().length !== 55) return undefined;
  return {
    traceId,
    spanId,
    traceFlags: parseInt(flags, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
}

/** The context a request's spans are children of. */
export function requestContext(traceparent: string | undefined): Context {
  const active = context.active();
  if (trace.getSpanContext(active)) return active;
  const parent = parseTraceparent(traceparent);
  return parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
}

/** Two span contexts name the same span. */
function sameSpan(a: SpanContext, b: SpanContext): boolean {
  return a.traceId === b.traceId && a.spanId === b.spanId && a.traceFlags === b.traceFlags;
}

/**
 * `parent` with `span` as its span, or `parent` itself when the span adds
 * nothing to it: a span that records nothing and carries the parent's span
 * context, or none (tracing off: the no-op tracer's spans). Saves a context
 * (and its closures) per idle connection and per answer.
 */
export function withSpan(parent: Context, span: Span): Context {
  if (!span.isRecording()) {
    const own = span.spanContext();
    const inherited = trace.getSpanContext(parent);
    if (inherited ? sameSpan(own, inherited) : !isSpanContextValid(own)) return parent;
  }
  return trace.setSpan(parent, span);
}
