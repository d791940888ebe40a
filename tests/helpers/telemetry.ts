/**
 * Telemetry for tests: the service's {@link Telemetry} over an OpenTelemetry
 * SDK tracer provider with an in-memory span exporter and a meter provider
 * with a reader the test collects on demand.
 * @module
 */
import type { Attributes } from "@opentelemetry/api";
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { Telemetry } from "../../server/telemetry/mod.ts";

/** A metric reader that exports nothing: the test calls `collect()`. */
class CollectingReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** Telemetry recording into memory. */
export interface MemoryTelemetry {
  telemetry: Telemetry;
  /** Every span ended so far. */
  spans(): ReadableSpan[];
  /** The data points of metric `name` collected now. */
  points(name: string): Promise<DataPoint<number | Histogram>[]>;
  /** Sums the values of `name`'s points whose attributes include `match`. */
  sum(name: string, match?: Attributes): Promise<number>;
  shutdown(): Promise<void>;
}

/** Creates telemetry recording into memory. */
export function memoryTelemetry(): MemoryTelemetry {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const telemetry = new Telemetry({ tracerProvider, meterProvider });
  const points = async (name: string) => {
    const { resourceMetrics } = await reader.collect();
    return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics)
      .filter((metric) => metric.descriptor.name === name)
      .flatMap((metric) => metric.dataPoints as DataPoint<number | Histogram>[]);
  };
  return {
    telemetry,
    spans: () => exporter.getFinishedSpans(),
    points,
    async sum(name, match = {}) {
      let total = 0;
      for (const point of await points(name)) {
        const fits = Object.entries(match).every(([key, value]) => point.attributes[key] === value);
        if (!fits) continue;
        total += typeof point.value === "number" ? point.value : point.value.count;
      }
      return total;
    },
    async shutdown() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}
