/**
 * Traces and metrics of the service, through the OpenTelemetry API (Deno's
 * built-in OpenTelemetry registers its providers with it under
 * `OTEL_DENO=true`; tests pass SDK providers) and, for `/metrics`, an
 * in-process Prometheus registry fed with the same measurements.
 *
 * Everything is recorded per answer or per connection, never per chunk:
 * the chunk count is added when an answer ends.
 * @module
 */
import {
  type Attributes,
  type Context,
  type Counter as OtelCounter,
  type Histogram as OtelHistogram,
  type MeterProvider,
  metrics,
  ProxyTracerProvider,
  type Span,
  SpanKind,
  trace,
  type Tracer,
  type TracerProvider,
  type UpDownCounter,
} from "@opentelemetry/api";
import { type Counter, type Gauge, type Histogram, type Labels, Registry } from "./prometheus.ts";
import { type AnswerInfo, AnswerTrace } from "./answer.ts";

export { type AnswerInfo, type AnswerSummary, AnswerTrace } from "./answer.ts";
export { requestContext } from "./trace_context.ts";
import { withSpan } from "./trace_context.ts";

/** What the API's global provider delegates to while no tracing is registered. */
const NO_TRACING = new ProxyTracerProvider().getDelegate();

/** The instrumentation scope of every span and metric. */
export const SCOPE = "chat-stream";

/** A streaming transport, as metric labels name it. */
export type Transport = "ws" | "sse";

/** A dialect of the chat protocol. */
export type Dialect = "native" | "ai_sdk";

/** Where telemetry goes; both default to the global providers (no-ops unless configured). */
export interface TelemetryOptions {
  tracerProvider?: TracerProvider;
  meterProvider?: MeterProvider;
}

/** Seconds, for latencies from a millisecond to a few minutes. */
const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Seconds, for store calls. */
const STORE_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * A function giving the label set (`names` to `values`) of each combination
 * of values, made once and frozen: the registry finds a frozen set's series
 * by identity instead of building its key (see `prometheus.ts`), and these
 * are recorded for every answer. The values are server-chosen names
 * (transports, dialects, reasons, operations): a few dozen sets in all.
 */
function labelSets(
  first: string,
  second?: string,
): (value: string, secondValue?: string) => Labels {
  const sets = new Map<string, Map<string | undefined, Labels>>();
  return (value, secondValue) => {
    let withFirst = sets.get(value);
    if (!withFirst) sets.set(value, withFirst = new Map());
    let set = withFirst.get(secondValue);
    if (!set) {
      const labels = second === undefined
        ? { [first]: value }
        : { [first]: value, [second]: secondValue ?? "" };
      withFirst.set(secondValue, set = Object.freeze(labels));
    }
    return set;
  };
}

const byTransport = labelSets("transport");
const byTransportDialect = labelSets("transport", "dialect");
const byTransportReason = labelSets("transport", "reason");
const byOperationOutcome = labelSets("operation", "outcome");

/** A counter recorded in both sinks. */
class Sum {
  #local: Counter;
  #otel: OtelCounter | UpDownCounter;
  constructor(local: Counter, otel: OtelCounter | UpDownCounter) {
    this.#local = local;
    this.#otel = otel;
  }
  add(n: number, labels: Labels): void {
    this.#local.add(n, labels);
    this.#otel.add(n, labels);
  }
}

/** A histogram recorded in both sinks. */
class Distribution {
  #local: Histogram;
  #otel: OtelHistogram;
  constructor(local: Histogram, otel: OtelHistogram) {
    this.#local = local;
    this.#otel = otel;
  }
  record(value: number, labels: Labels): void {
    this.#local.record(value, labels);
    this.#otel.record(value, labels);
  }
}

/** A span that lasts as long as a connection. */
export interface ConnectionTrace {
  /** The context of the connection's span (its answers are children). */
  readonly context: Context;
  /** Ends the span and counts the connection as closed; safe to call twice. */
  end(attributes?: Attributes): void;
}

/** An open connection: counted in the open-connections gauge, traced by `span` if any. */
class OpenConnection implements ConnectionTrace {
  readonly context: Context;
  #gauge: Sum;
  #transport: Transport;
  #span: Span | undefined;
  #open = true;

  constructor(gauge: Sum, transport: Transport, options: { parent: Context; span?: Span }) {
    this.#gauge = gauge;
    this.#transport = transport;
    this.#span = options.span;
    this.context = options.span ? withSpan(options.parent, options.span) : options.parent;
    gauge.add(1, byTransport(transport));
  }

  end(attributes?: Attributes): void {
    if (!this.#open) return;
    this.#open = false;
    this.#gauge.add(-1, byTransport(this.#transport));
    if (attributes) this.#span?.setAttributes(attributes);
    this.#span?.end();
  }
}

/** The service's traces and metrics. */
export class Telemetry {
  /** What `/metrics` renders. */
  readonly registry: Registry = new Registry();
  /** The tracer of every span of the service. */
  readonly tracer: Tracer;
  readonly #tracerProvider: TracerProvider;
  readonly #connections: Sum;
  readonly #started: Sum;
  readonly #finished: Sum;
  readonly #chunks: Sum;
  readonly #firstChunk: Distribution;
  readonly #duration: Distribution;
  readonly #resumes: Sum;
  readonly #cancels: Sum;
  readonly #interrupted: Sum;
  readonly #refusals: Sum;
  readonly #store: Distribution;

  /** Creates the instruments. */
  constructor(options: TelemetryOptions = {}) {
    this.#tracerProvider = options.tracerProvider ?? trace.getTracerProvider();
    this.tracer = this.#tracerProvider.getTracer(SCOPE);
    const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE);
    const r = this.registry;
    const sum = (name: string, help: string, local: Counter | Gauge = r.counter(name, help)) =>
      new Sum(
        local,
        local.type === "gauge"
          ? meter.createUpDownCounter(name, { description: help })
          : meter.createCounter(name, { description: help }),
      );
    const dist = (name: string, help: string, bounds: number[]) =>
      new Distribution(
        r.histogram(name, help, bounds),
        meter.createHistogram(name, {
          description: help,
          unit: "s",
          advice: { explicitBucketBoundaries: bounds },
        }),
      );
    const open = "Open streaming connections";
    this.#connections = sum("chat_connections_open", open, r.gauge("chat_connections_open", open));
    this.#started = sum("chat_answers_started_total", "Answers started");
    this.#finished = sum("chat_answers_finished_total", "Answers ended, by finish reason");
    this.#chunks = sum("chat_chunks_sent_total", "Answer events sent to clients");
    this.#firstChunk = dist(
      "chat_time_to_first_chunk_seconds",
      "Time from an answer's start to its first text",
      SECONDS,
    );
    this.#duration = dist("chat_answer_duration_seconds", "Duration of answers", SECONDS);
    this.#resumes = sum("chat_resumes_total", "Resume requests, by outcome");
    this.#cancels = sum("chat_cancels_total", "Cancels a client asked for");
    this.#interrupted = sum(
      "chat_answers_interrupted_total",
      "Answers ended because the instance producing them died",
    );
    this.#refusals = sum("chat_refusals_total", "Requests and messages refused, by reason");
    this.#store = dist("chat_store_operation_seconds", "Latency of store calls", STORE_SECONDS);
  }

  /** Counts a connection as open; with `span`, traces it until it ends. */
  connection(
    transport: Transport,
    options: { parent: Context; span?: string; attributes?: Attributes },
  ): ConnectionTrace {
    const span: Span | undefined = options.span === undefined ? undefined : this.tracer.startSpan(
      options.span,
      { kind: SpanKind.SERVER, attributes: { "chat.transport": transport, ...options.attributes } },
      options.parent,
    );
    return new OpenConnection(this.#connections, transport, { parent: options.parent, span });
  }

  /** Starts the trace of one answer and counts it as started. */
  answer(info: AnswerInfo): AnswerTrace {
    this.#started.add(1, byTransportDialect(info.transport, info.dialect));
    return new AnswerTrace(this.#tracing ? this.tracer : undefined, info, (summary) => {
      const labels = byTransport(info.transport);
      this.#finished.add(1, byTransportReason(info.transport, summary.reason));
      this.#duration.record(summary.durationMs / 1000, labels);
      if (summary.firstChunkMs !== undefined) {
        this.#firstChunk.record(summary.firstChunkMs / 1000, labels);
      }
    });
  }

  /**
   * False while the global provider has no tracing registered (its spans
   * would record nothing): an answer then makes no spans at all. Asked per
   * answer, as a provider may be registered after start.
   */
  get #tracing(): boolean {
    const provider = this.#tracerProvider;
    return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NO_TRACING;
  }

  /** Adds the events one delivery sent (once, when it ends). */
  chunksSent(transport: Transport, n: number): void {
    if (n > 0) this.#chunks.add(n, byTransport(transport));
  }

  /** Counts a resume request and how it went (`resumed`, `unknown`, `forbidden`...). */
  resumed(transport: Transport, outcome: string): void {
    this.#resumes.add(1, { transport, outcome });
  }

  /** Counts a cancel a client asked for. */
  cancelled(transport: Transport): void {
    this.#cancels.add(1, { transport });
  }

  /** Counts an answer ended because its producing instance died. */
  interrupted(): void {
    this.#interrupted.add(1, {});
  }

  /** Counts a refused request or message; `reason` is its error code. */
  refused(transport: Transport, reason: string): void {
    this.#refusals.add(1, { transport, reason });
  }

  /** Records how long a store call took. */
  storeOperation(operation: string, seconds: number, outcome: "ok" | "error"): void {
    this.#store.record(seconds, byOperationOutcome(operation, outcome));
  }
}
