/**
 * The trace of one answer ({@link AnswerTrace}): a `chat.answer` span with
 * the answer's ids and outcome as attributes, child spans for the agent
 * call and each tool call, and events for the first chunk, resumes and
 * cancels.
 * @module
 */
import {
  type Attributes,
  type Context,
  isSpanContextValid,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import type { Transport } from "./mod.ts";
import { withSpan } from "./trace_context.ts";

/** What an answer is, for its span's attributes and its metrics' labels. */
export interface AnswerInfo {
  transport: Transport;
  dialect: "native" | "ai_sdk";
  agent: string;
  requestId: string;
  sessionId: string;
  /** The context the answer continues (the WebSocket's span, or the request's). */
  parent: Context;
}

/** How an answer ended. */
export interface AnswerSummary {
  /** `stop`, `cancelled` or `error`. */
  reason: string;
  /** The error code when the answer ended with an error. */
  code?: string;
  /** Events of the answer besides its start and its end. */
  chunks: number;
  durationMs: number;
  /** Undefined when no text came. */
  firstChunkMs?: number;
}

/** The parts of an answer's events its trace looks at (not text deltas). */
export type TracedEvent =
  | { type: "tool-call"; toolCallId: string; toolName: string }
  | { type: "tool-result"; toolCallId: string; isError?: boolean }
  | { type: string };

/**
 * The trace of one answer. Without a tracer (tracing off) it makes no
 * spans: it only keeps the caller's trace id and the answer's timings.
 */
export class AnswerTrace {
  /** The answer's span; undefined when tracing is off. */
  #span: Span | undefined;
  #tracer: Tracer | undefined;
  #context: Context;
  #info: AnswerInfo;
  #startedAt = performance.now();
  #firstAt = 0;
  #agent: Span | undefined;
  #agentOpen = false;
  #tools: Map<string, Span> | undefined;
  #ended: (summary: AnswerSummary) => void;
  #over = false;

  /**
   * Starts the span (when `tracer` is given); `ended` records the answer's
   * metrics once it ends.
   */
  constructor(
    tracer: Tracer | undefined,
    info: AnswerInfo,
    ended: (summary: AnswerSummary) => void,
  ) {
    this.#tracer = tracer;
    this.#info = info;
    this.#ended = ended;
    this.#context = info.parent;
    if (!tracer) return;
    this.#span = tracer.startSpan("chat.answer", {
      kind: SpanKind.INTERNAL,
      attributes: {
        "chat.transport": info.transport,
        "chat.dialect": info.dialect,
        "chat.agent": info.agent,
        "chat.request_id": info.requestId,
        "chat.session_id": info.sessionId,
      },
    }, info.parent);
    this.#context = withSpan(info.parent, this.#span);
  }

  /** The trace id, when the answer is traced or continues a caller's trace. */
  get traceId(): string | undefined {
    const context = this.#span?.spanContext() ?? trace.getSpanContext(this.#info.parent);
    return context && isSpanContextValid(context) ? context.traceId : undefined;
  }

  /** True once the first text was produced (checked per chunk: a field read). */
  get started(): boolean {
    return this.#firstAt !== 0;
  }

  /** The first text of the answer. */
  firstChunk(): void {
    if (this.#firstAt !== 0) return;
    this.#firstAt = performance.now();
    this.#span?.addEvent("first_chunk");
  }

  /** Opens and closes tool-call spans as their events pass. */
  observe(event: TracedEvent): void {
    if (!this.#tracer) return;
    if (event.type === "tool-call" && "toolName" in event) {
      const span = this.#tracer.startSpan(`chat.tool ${event.toolName}`, {
        attributes: { "chat.tool.name": event.toolName, "chat.tool.call_id": event.toolCallId },
      }, this.#agent ? trace.setSpan(this.#context, this.#agent) : this.#context);
      (this.#tools ??= new Map()).set(event.toolCallId, span);
    } else if (event.type === "tool-result" && "toolCallId" in event) {
      const span = this.#tools?.get(event.toolCallId);
      if (!span) return;
      this.#tools!.delete(event.toolCallId);
      if (event.isError) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  }

  /** The agent is called. */
  agentStarted(): void {
    if (this.#agent || !this.#tracer) return;
    this.#agentOpen = true;
    this.#agent = this.#tracer.startSpan("chat.agent", {
      kind: SpanKind.CLIENT,
      attributes: { "chat.agent": this.#info.agent },
    }, this.#context);
  }

  /** The agent's stream is over (ended, failed or abandoned). */
  agentEnded(): void {
    if (this.#agentOpen) this.#agent?.end();
    this.#agentOpen = false;
  }

  /** Adds an event (`resume`, `cancel`, ...) to the answer's span. */
  event(name: string, attributes?: Attributes): void {
    if (!this.#over) this.#span?.addEvent(name, attributes);
  }

  /** Ends the answer's spans and records its metrics; returns what it measured. */
  end(outcome: { reason: string; code?: string; chunks: number }): AnswerSummary {
    const now = performance.now();
    const summary: AnswerSummary = {
      ...outcome,
      durationMs: now - this.#startedAt,
      firstChunkMs: this.#firstAt === 0 ? undefined : this.#firstAt - this.#startedAt,
    };
    if (this.#over) return summary;
    this.#over = true;
    for (const span of this.#tools?.values() ?? []) span.end();
    this.agentEnded();
    const span = this.#span;
    if (span) {
      span.setAttributes({
        "chat.finish_reason": outcome.reason,
        "chat.chunks": outcome.chunks,
      });
      if (outcome.code !== undefined) {
        span.setAttribute("chat.error_code", outcome.code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.code });
      }
      span.end();
    }
    this.#ended(summary);
    return summary;
  }
}
