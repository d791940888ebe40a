/**
 * The "Browser connection limit" section of the report.
 * @module
 */
import type { BrowserReport } from "../browser.ts";
import { table } from "./format.ts";

/** Sentences read from the HTTP/1.1, WS and HTTP/2 rows. */
function findings(b: BrowserReport): string[] {
  const h1 = b.scenarios.find((s) => s.protocol === "http/1.1" && s.transport === "sse");
  const h2 = b.scenarios.find((s) => s.protocol === "h2" && s.transport === "sse");
  const ws = b.scenarios.find((s) => s.transport === "ws");
  const out: string[] = [];
  if (h1) {
    out.push(
      `Over HTTP/1.1 only ${h1.receiving} of ${h1.requested} EventSource streams are live at once (Chromium's 6 connections per host), and any other request to the origin waits behind them.`,
    );
  }
  if (ws) {
    out.push(
      `WebSockets are not bound by that pool: ${ws.receiving} of ${ws.requested} stream at once.`,
    );
  }
  if (h2) {
    out.push(
      `Over HTTP/2 (TLS, self-signed certificate made at run time) ${h2.receiving} of ${h2.requested} SSE streams are live: HTTP/2 multiplexes them on one connection, so the per-domain limit is an HTTP/1.1 limit, not an SSE one.`,
    );
  }
  return out;
}

/** The section's Markdown. */
export function browserSection(b: BrowserReport): string[] {
  const md = ["## Browser connection limit (Chromium)", ""];
  if (b.skipped) return [...md, `Skipped: ${b.skipped}.`, ""];
  return [
    ...md,
    `Chromium ${b.chromium}, headless, a fresh context per row: open ${
      b.scenarios[0]?.requested ?? 10
    } streams to one origin, count after ${b.windowMs} ms, then time one plain \`fetch\` to the same origin (null = still blocked after 1.5 s).`,
    "",
    ...table({
      header: [
        "server",
        "protocol",
        "transport",
        "requested",
        "opened",
        "receiving",
        "fetch while open (ms)",
      ],
      align: ["l", "l", "l", "r", "r", "r", "r"],
      rows: b.scenarios.map((s) => [
        `${s.server}-${s.runtime ?? "deno"}`,
        s.protocol,
        s.transport,
        String(s.requested),
        String(s.opened),
        String(s.receiving),
        String(s.fetchWhileOpenMs ?? "blocked"),
      ]),
    }),
    "",
    ...findings(b),
    "",
  ];
}
