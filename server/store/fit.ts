/**
 * Value-size helpers for stores with a per-value limit (Deno KV's 64 KiB):
 * shrinking a turn, batching logged events, slicing upload text. SQLite uses
 * {@link fitTurn} too, so a session's history reads the same everywhere.
 * @module
 */
import type { LoggedEvent, Turn } from "./types.ts";

/** KV refuses values over 64 KiB; stay well under it. */
const MAX_VALUE_BYTES = 60_000;

/** Serialised event batches stay under KV's 64 KiB value limit. */
const MAX_BATCH_BYTES = 48_000;

/** Longest text slice kept in one KV value (characters; UTF-8 may triple it). */
const TEXT_SLICE = 20_000;

/** Shrinks a turn until its serialised form fits in one KV value. */
export function fitTurn(turn: Turn): Turn {
  // A UTF-16 code unit never takes more than 3 UTF-8 bytes: most turns fit without encoding.
  if (JSON.stringify(turn).length * 3 <= MAX_VALUE_BYTES) return turn;
  const encoder = new TextEncoder();
  let fitted = turn;
  while (encoder.encode(JSON.stringify(fitted)).length > MAX_VALUE_BYTES) {
    const answer = fitted.answer.slice(0, Math.floor(fitted.answer.length / 2));
    const query = answer.length === 0
      ? fitted.query.slice(0, Math.floor(fitted.query.length / 2))
      : fitted.query;
    fitted = { ...fitted, query, answer };
  }
  return fitted;
}

/** Splits events into batches whose JSON stays under one KV value. */
export function splitBatches(events: LoggedEvent[]): LoggedEvent[][] {
  const batches: LoggedEvent[][] = [];
  let batch: LoggedEvent[] = [];
  let bytes = 0;
  for (const item of events) {
    const size = JSON.stringify(item).length * 3;
    if (batch.length > 0 && bytes + size > MAX_BATCH_BYTES) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(item);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** Splits upload text into slices that fit one KV value each (at least one slice). */
export function sliceText(text: string): string[] {
  const slices = [];
  for (let at = 0; at < text.length; at += TEXT_SLICE) slices.push(text.slice(at, at + TEXT_SLICE));
  return slices.length ? slices : [""];
}
