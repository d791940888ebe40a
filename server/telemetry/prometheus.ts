/**
 * A small in-process metric registry rendered as the Prometheus text
 * exposition format (version 0.0.4): counters, gauges and histograms with
 * labels. It backs `/metrics`; the same measurements also go to
 * OpenTelemetry (see `mod.ts`).
 * @module
 */

/** Label names and values of one series. */
export type Labels = Readonly<Record<string, string>>;

/** The media type of the exposition. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const NEEDS_ESCAPE = /[\\"\n]/;

function escapeValue(value: string): string {
  // Label values are recorded with every answer; most need no escaping.
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** `{a="1",b="2"}`, or the empty string without labels. */
function labelText(labels: Labels | undefined, extra?: string): string {
  const parts: string[] = [];
  for (const name in labels) parts.push(`${name}="${escapeValue(labels[name])}"`);
  if (extra) parts.push(extra);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/**
 * The identity of a label set within a family, cheap to build on every
 * record: names and values joined with control characters (the label
 * values are server-chosen names, which never hold them). The exposition
 * text is built only when rendered.
 */
function seriesKey(labels: Labels | undefined): string {
  let key = "";
  for (const name in labels) key += `${name}\u0000${labels[name]}\u0001`;
  return key;
}

function number(value: number): string {
  if (value === Infinity) return "+Inf";
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(12)));
}

/** One metric family: a name, its help text and its series by label set. */
abstract class Family<S> {
  readonly name: string;
  readonly help: string;
  abstract readonly type: string;
  protected series = new Map<string, { labels: Labels | undefined; value: S }>();
  /** Series by frozen label set (made once, reused: see `mod.ts`): found without a key. */
  #byFrozen = new Map<Labels, { labels: Labels | undefined; value: S }>();

  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  protected at(labels: Labels | undefined, create: () => S): S {
    // Only frozen sets are kept by identity: a fresh object per record would pile up.
    const frozen = labels !== undefined && Object.isFrozen(labels);
    if (frozen) {
      const known = this.#byFrozen.get(labels);
      if (known) return known.value;
    }
    const key = seriesKey(labels);
    let found = this.series.get(key);
    if (!found) {
      found = { labels, value: create() };
      this.series.set(key, found);
    }
    if (frozen) this.#byFrozen.set(labels, found);
    return found.value;
  }

  /** The `# HELP`, `# TYPE` and sample lines. */
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const { labels, value } of this.series.values()) this.samples(lines, labels, value);
    return lines.join("\n");
  }

  protected abstract samples(lines: string[], labels: Labels | undefined, value: S): void;
}

/** A value that only goes up. */
export class Counter extends Family<{ n: number }> {
  readonly type: "counter" | "gauge" = "counter";
  /** Adds `n` (default 1) to the series of `labels`. */
  add(n = 1, labels?: Labels): void {
    this.at(labels, () => ({ n: 0 })).n += n;
  }
  /** The current value of a series (0 when it never moved). */
  value(labels?: Labels): number {
    return this.series.get(seriesKey(labels))?.value.n ?? 0;
  }
  protected samples(lines: string[], labels: Labels | undefined, value: { n: number }): void {
    lines.push(`${this.name}${labelText(labels)} ${number(value.n)}`);
  }
}

/** A value that goes up and down (open connections). */
export class Gauge extends Counter {
  override readonly type: "counter" | "gauge" = "gauge";
}

interface Buckets {
  counts: number[];
  sum: number;
  count: number;
}

/** A distribution over fixed bucket bounds. */
export class Histogram extends Family<Buckets> {
  readonly type = "histogram";
  readonly bounds: readonly number[];

  constructor(name: string, help: string, bounds: readonly number[]) {
    super(name, help);
    this.bounds = [...bounds].sort((a, b) => a - b);
  }

  /** Records one observation in the series of `labels`. */
  record(value: number, labels?: Labels): void {
    const buckets = this.at(labels, () => ({
      counts: new Array(this.bounds.length).fill(0),
      sum: 0,
      count: 0,
    }));
    const i = this.bounds.findIndex((bound) => value <= bound);
    if (i >= 0) buckets.counts[i]++;
    buckets.sum += value;
    buckets.count++;
  }

  /** How many observations a series holds. */
  count(labels?: Labels): number {
    return this.series.get(seriesKey(labels))?.value.count ?? 0;
  }

  protected samples(lines: string[], labels: Labels | undefined, value: Buckets): void {
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += value.counts[i];
      lines.push(`${this.name}_bucket${labelText(labels, `le="${number(bound)}"`)} ${cumulative}`);
    });
    lines.push(`${this.name}_bucket${labelText(labels, 'le="+Inf"')} ${value.count}`);
    lines.push(`${this.name}_sum${labelText(labels)} ${number(value.sum)}`);
    lines.push(`${this.name}_count${labelText(labels)} ${value.count}`);
  }
}

/** The metric families of one process, rendered together. */
export class Registry {
  #families: { render(): string }[] = [];

  /** Registers a counter. */
  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help));
  }

  /** Registers a gauge. */
  gauge(name: string, help: string): Gauge {
    return this.#add(new Gauge(name, help));
  }

  /** Registers a histogram with bucket upper bounds `bounds`. */
  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    return this.#add(new Histogram(name, help, bounds));
  }

  /** The whole exposition, ending with a newline. */
  render(): string {
    return this.#families.map((family) => family.render()).join("\n") + "\n";
  }

  #add<F extends { render(): string }>(family: F): F {
    this.#families.push(family);
    return family;
  }
}
