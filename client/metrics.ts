/**
 * Browser-measured numbers of each answer (time to first chunk, chunk
 * rate), kept in one signal every island on the page reads.
 * @module
 */
import { type Signal, signal } from "@preact/signals";
import type { TransportKind } from "../protocol/page.ts";

/** Browser-measured numbers of one answer. */
export interface AnswerMetrics {
  transport: TransportKind;
  /** Time from send to the first `content` frame, in ms. */
  ttfcMs?: number;
  /** Number of `content` frames. */
  chunks: number;
  /** Content frames per second between the first and the last chunk. */
  chunksPerSec?: number;
  /** True while the answer streams. */
  live: boolean;
}

/** Metrics of recent answers, shared by every island on the page. */
export const metrics: Signal<AnswerMetrics[]> = signal([]);

/** Most answers kept in {@link metrics}. */
const METRICS_KEPT = 40;

/** Measures one answer and publishes its sample into a metrics signal. */
export class AnswerSampler {
  #target: Signal<AnswerMetrics[]>;
  #now: () => number;
  #sample: AnswerMetrics;
  #published: AnswerMetrics | undefined;
  #started: number;
  #first = 0;
  #last = 0;

  /** Starts measuring now; call {@link publish} to show the live sample. */
  constructor(
    target: Signal<AnswerMetrics[]>,
    options: { transport: TransportKind; now(): number },
  ) {
    this.#target = target;
    this.#now = options.now;
    this.#sample = { transport: options.transport, chunks: 0, live: true };
    this.#started = this.#now();
  }

  /** Replaces this answer's sample in the signal with its current numbers. */
  publish(): void {
    const list = this.#target.value.filter((m) => m !== this.#published);
    this.#published = { ...this.#sample };
    this.#target.value = [...list, this.#published].slice(-METRICS_KEPT);
  }

  /** Counts a `content` frame. */
  chunk(): void {
    const t = this.#now();
    if (this.#sample.chunks === 0) {
      this.#first = t;
      this.#sample.ttfcMs = t - this.#started;
    }
    this.#last = t;
    this.#sample.chunks++;
    this.publish();
  }

  /** The answer ended: computes the chunk rate and publishes the final sample. */
  finish(): void {
    const sample = this.#sample;
    if (sample.chunks > 1 && this.#last > this.#first) {
      sample.chunksPerSec = (sample.chunks - 1) / ((this.#last - this.#first) / 1000);
    }
    sample.live = false;
    this.publish();
  }
}
