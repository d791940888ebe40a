/**
 * Value-size helpers for stores with a per-value limit (Deno KV's 64 KiB):
 * shrinking a turn, packing logged events into values, slicing upload
 * text. SQLite uses {@link fitTurn} too, so a session's history reads the
 * same everywhere. Every function here is total: bounded work, whatever
 * the input.
 * @module
 */
import type { CoreEvent } from "../core.ts";
import type { LoggedEvent, Turn } from "./types.ts";

/** KV refuses values over 64 KiB; stay well under it. */
const MAX_VALUE_BYTES = 60_000;

/** Serialised event batches stay under KV's 64 KiB value limit. */
const MAX_BATCH_BYTES = 48_000;

/** Longest text slice kept in one KV value (characters; UTF-8 may triple it). */
const TEXT_SLICE = 20_000;

/** Most tool names kept in a stored turn. */
export const MAX_STORED_TOOLS = 32;

/** Longest tool name kept in a stored turn. */
const MAX_TOOL_NAME = 64;

/**
 * Longest serialised event kept whole in the stream log (characters); a
 * longer one is logged with its payload cut to a preview. At three UTF-8
 * bytes a character it stays within one KV commit (800 KiB).
 */
export const MAX_LOGGED_EVENT_CHARS = 200_000;

/** Characters of an oversize payload kept as its preview. */
const PREVIEW_CHARS = 4_000;

const encoder = new TextEncoder();

function bytesOf(value: unknown): number {
  return encoder.encode(JSON.stringify(value)).length;
}

/** Cuts `text` to its first half (empty stays empty): each call strictly shrinks. */
function half(text: string): string {
  return text.slice(0, Math.floor(text.length / 2));
}

/** A turn as the session stores keep it: fitted ({@link fitTurn}), and its JSON. */
export interface StoredTurn {
  turn: Turn;
  json: string;
}

/**
 * {@link fitTurn} with the fitted turn's JSON, serialised once: stores
 * write or measure that JSON, and most turns fit as they are.
 */
export function storedTurn(turn: Turn): StoredTurn {
  const json = JSON.stringify(turn);
  // A UTF-16 code unit never takes more than 3 UTF-8 bytes: most turns fit without encoding.
  if (json.length * 3 <= MAX_VALUE_BYTES) return { turn, json };
  const fitted = shrinkTurn(turn);
  return { turn: fitted, json: JSON.stringify(fitted) };
}

/**
 * Shrinks a turn until its serialised form fits in one KV value: tool names
 * are bounded first (count and length), then answer, query and tool list
 * are halved in turn. Each round strictly shrinks one field, so the loop
 * ends; with all three empty only fixed-size fields are left.
 */
export function fitTurn(turn: Turn): Turn {
  return storedTurn(turn).turn;
}

function shrinkTurn(turn: Turn): Turn {
  let fitted: Turn = {
    ...turn,
    tools: turn.tools.slice(0, MAX_STORED_TOOLS).map((name) => name.slice(0, MAX_TOOL_NAME)),
  };
  while (bytesOf(fitted) > MAX_VALUE_BYTES) {
    if (fitted.answer) fitted = { ...fitted, answer: half(fitted.answer) };
    else if (fitted.query) fitted = { ...fitted, query: half(fitted.query) };
    else if (fitted.tools.length) {
      fitted = { ...fitted, tools: fitted.tools.slice(0, fitted.tools.length >> 1) };
    } else break;
  }
  return fitted;
}

/** A payload too large to log, replaced by a preview of its JSON. */
function preview(value: unknown): { truncated: true; preview: string } {
  return { truncated: true, preview: (JSON.stringify(value) ?? "").slice(0, PREVIEW_CHARS) };
}

/**
 * The event as the stream log keeps it: unchanged when its JSON is at most
 * {@link MAX_LOGGED_EVENT_CHARS}, else with its payload (text, tool input
 * or output, message) cut to a preview. Same type, same `seq`.
 */
export function fitLoggedEvent(item: LoggedEvent): LoggedEvent {
  if (JSON.stringify(item).length <= MAX_LOGGED_EVENT_CHARS) return item;
  const event: CoreEvent = item.event;
  const cut = (text: string) => text.slice(0, PREVIEW_CHARS);
  switch (event.type) {
    case "text-delta":
      return { seq: item.seq, event: { ...event, delta: cut(event.delta) } };
    case "tool-call":
      return {
        seq: item.seq,
        event: { ...event, toolName: cut(event.toolName), input: preview(event.input) },
      };
    case "tool-result":
      return {
        seq: item.seq,
        event: { ...event, toolName: cut(event.toolName), output: preview(event.output) },
      };
    case "status":
    case "error":
      return { seq: item.seq, event: { ...event, message: cut(event.message) } };
    case "start":
    case "finish":
      return item;
  }
}

/** Bytes written by one stream log commit at most (KV allows 800 KiB). */
const MAX_COMMIT_BYTES = 600_000;

/** A batch of logged events as JSON, cut into parts of one KV value each. */
export interface PackedBatch {
  firstSeq: number;
  lastSeq: number;
  parts: string[];
}

/**
 * Packs events for a store with KV's limits: oversize events cut to a
 * preview ({@link fitLoggedEvent}), batches as JSON in value-sized parts,
 * grouped into commits of at most {@link MAX_COMMIT_BYTES}. Always at least
 * one (possibly empty) commit.
 */
export function packBatches(events: LoggedEvent[]): PackedBatch[][] {
  const commits: PackedBatch[][] = [[]];
  let bytes = 0;
  for (const batch of splitBatches(events.map(fitLoggedEvent))) {
    const parts = sliceText(JSON.stringify(batch));
    const size = parts.reduce((sum, part) => sum + part.length * 3, 0);
    if (bytes > 0 && bytes + size > MAX_COMMIT_BYTES) {
      commits.push([]);
      bytes = 0;
    }
    commits.at(-1)!.push({ firstSeq: batch[0].seq, lastSeq: batch.at(-1)!.seq, parts });
    bytes += size;
  }
  return commits;
}

/** Splits events into batches whose JSON stays under one KV value (one oversize event: a batch of its own). */
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
