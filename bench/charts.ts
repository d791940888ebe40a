/**
 * Dependency-free SVG charts for the bench reports: a percentile chart
 * (one row per series: min–p99 whisker, p50–p95 box, p99 dot) and a line
 * chart over a log-scaled x axis (memory / throughput vs connections).
 * @module
 */
import type { Stats } from "./lib/stats.ts";

const FONT = 'font-family="sans-serif" font-size="12"';
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

function esc(s: string): string {
  return s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** One row of {@link percentileChart}. */
export interface PercentileRow {
  label: string;
  stats: Stats;
  /** Colour group (e.g. 0 = ours, 1 = raw). */
  group?: number;
}

/** Renders rows of min/p50/p95/p99 as an SVG string. */
export function percentileChart(
  title: string,
  unit: string,
  rows: PercentileRow[],
): string {
  const left = 220, right = 70, top = 40, rowH = 26, bottom = 40;
  const width = 820;
  const height = top + rows.length * rowH + bottom;
  const max = niceMax(Math.max(...rows.map((r) => r.stats.p99 || 0)) * 1.05);
  const x = (v: number) => left + (Math.min(v, max) / max) * (width - left - right);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" ${FONT} font-weight="bold">${
      esc(title)
    }</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (max * i) / 5;
    const xi = x(v);
    parts.push(
      `<line x1="${xi}" y1="${top - 5}" x2="${xi}" y2="${height - bottom}" stroke="#ddd"/>`,
      `<text x="${xi}" y="${height - bottom + 16}" text-anchor="middle" ${FONT}>${fmt(v)}</text>`,
    );
  }
  parts.push(
    `<text x="${(left + width - right) / 2}" y="${height - 8}" text-anchor="middle" ${FONT}>${
      esc(unit)
    } (whisker min–p99, box p50–p95, dot p99)</text>`,
  );
  rows.forEach((r, i) => {
    const y = top + i * rowH + rowH / 2;
    const c = COLORS[(r.group ?? 0) % COLORS.length];
    const s = r.stats;
    parts.push(
      `<text x="${left - 8}" y="${y + 4}" text-anchor="end" ${FONT}>${esc(r.label)}</text>`,
    );
    if (!(s.n > 0)) return;
    parts.push(
      `<line x1="${x(s.min)}" y1="${y}" x2="${x(s.p99)}" y2="${y}" stroke="${c}"/>`,
      `<rect x="${x(s.p50)}" y="${y - 7}" width="${
        Math.max(1, x(s.p95) - x(s.p50))
      }" height="14" fill="${c}" fill-opacity="0.35" stroke="${c}"/>`,
      `<line x1="${x(s.p50)}" y1="${y - 8}" x2="${x(s.p50)}" y2="${
        y + 8
      }" stroke="${c}" stroke-width="2"/>`,
      `<circle cx="${x(s.p99)}" cy="${y}" r="3" fill="${c}"/>`,
      `<text x="${width - right + 6}" y="${y + 4}" ${FONT}>${fmt(s.p50)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/** One line of {@link lineChart}. */
export interface Series {
  name: string;
  points: [number, number][];
}

/** Renders series over a log-scaled x axis as an SVG string. */
export function lineChart(
  title: string,
  axes: { x: string; y: string },
  series: Series[],
): string {
  const left = 80, right = 150, top = 40, bottom = 50;
  const width = 720, height = 360;
  const xs = series.flatMap((s) => s.points.map((p) => p[0])).filter((v) => v > 0);
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const xmin = Math.min(...xs), xmax = Math.max(...xs);
  const ymax = niceMax(Math.max(...ys, 0) * 1.05);
  const lx = (v: number) =>
    xmax === xmin ? 0.5 : (Math.log10(v) - Math.log10(xmin)) /
      (Math.log10(xmax) - Math.log10(xmin));
  const X = (v: number) => left + lx(v) * (width - left - right);
  const Y = (v: number) => top + (1 - v / ymax) * (height - top - bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" ${FONT} font-weight="bold">${
      esc(title)
    }</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (ymax * i) / 5;
    parts.push(
      `<line x1="${left}" y1="${Y(v)}" x2="${width - right}" y2="${Y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${Y(v) + 4}" text-anchor="end" ${FONT}>${fmt(v)}</text>`,
    );
  }
  for (const v of [...new Set(xs)].sort((a, b) => a - b)) {
    parts.push(
      `<text x="${X(v)}" y="${height - bottom + 16}" text-anchor="middle" ${FONT}>${v}</text>`,
    );
  }
  parts.push(
    `<text x="${(left + width - right) / 2}" y="${height - 10}" text-anchor="middle" ${FONT}>${
      esc(axes.x)
    }</text>`,
    `<text x="16" y="${
      (top + height - bottom) / 2
    }" text-anchor="middle" ${FONT} transform="rotate(-90 16 ${(top + height - bottom) / 2})">${
      esc(axes.y)
    }</text>`,
  );
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = s.points.filter((p) => p[0] > 0 && Number.isFinite(p[1]));
    parts.push(
      `<polyline fill="none" stroke="${c}" stroke-width="2" points="${
        pts.map((p) => `${X(p[0])},${Y(p[1])}`).join(" ")
      }"/>`,
      ...pts.map((p) => `<circle cx="${X(p[0])}" cy="${Y(p[1])}" r="3" fill="${c}"/>`),
      `<rect x="${width - right + 10}" y="${top + i * 20}" width="12" height="12" fill="${c}"/>`,
      `<text x="${width - right + 28}" y="${top + i * 20 + 10}" ${FONT}>${esc(s.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}
