/**
 * The live metrics strip: time to first chunk and chunks per second of each
 * answer, measured in the browser, WebSocket and SSE side by side.
 * @module
 */
import type { JSX } from "preact";
import type { TransportKind } from "../../protocol/page.ts";
import { type AnswerMetrics, metrics } from "../metrics.ts";

/** Props of {@link MetricsStrip} (none yet; kept for the island contract). */
export type MetricsStripProps = { [key: string]: unknown };

const LABEL: Record<TransportKind, string> = { ws: "WebSocket", sse: "SSE" };

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function ms(value: number | undefined): string {
  return value === undefined ? "–" : `${Math.round(value)} ms`;
}

function rate(value: number | undefined): string {
  return value === undefined ? "–" : `${value.toFixed(1)}/s`;
}

function Column(
  { kind, samples }: { kind: TransportKind; samples: AnswerMetrics[] },
): JSX.Element {
  const last = samples.at(-1);
  const done = samples.filter((s) => !s.live);
  const ttfc = median(done.flatMap((s) => s.ttfcMs ?? []));
  const cps = median(done.flatMap((s) => s.chunksPerSec ?? []));
  return (
    <div class={`metric ${last?.live ? "live" : ""}`} data-transport={kind}>
      <span class="metric-name">{LABEL[kind]}</span>
      <span title="Time to first chunk of the latest answer">
        first chunk <b>{ms(last?.ttfcMs)}</b>
      </span>
      <span title="Chunks per second of the latest answer">
        rate <b>{rate(last?.chunksPerSec)}</b>
      </span>
      <span class="metric-median" title="Medians over finished answers">
        median {ms(ttfc)} · {rate(cps)} (n={done.length})
      </span>
    </div>
  );
}

/** The metrics island. */
export default function MetricsStrip(_props: MetricsStripProps): JSX.Element {
  const all = metrics.value;
  return (
    <section class="metrics" aria-label="Streaming metrics">
      <Column kind="ws" samples={all.filter((m) => m.transport === "ws")} />
      <Column kind="sse" samples={all.filter((m) => m.transport === "sse")} />
    </section>
  );
}
