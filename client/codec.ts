/**
 * Decodes server frames in the browser without shipping zod.
 *
 * The frame types come from the protocol module as types only; the checks
 * here are the few the UI relies on (a known `type` and the fields it reads),
 * so a malformed frame is dropped instead of breaking the UI.
 * @module
 */
import { FINISH_REASONS } from "../protocol/codes.ts";
import type { ServerFrame } from "../protocol/frames.ts";

/** What {@link decodeFrame} returns. */
export type DecodedFrame =
  | { ok: true; frame: ServerFrame }
  | { ok: false; message: string };

type Check = (v: Record<string, unknown>) => string | undefined;

const str = (key: string): Check => (v) =>
  typeof v[key] === "string" ? undefined : `field "${key}" must be a string`;
const optStr = (key: string): Check => (v) =>
  v[key] === undefined || typeof v[key] === "string"
    ? undefined
    : `field "${key}" must be a string`;
const size: Check = (v) =>
  typeof v.size === "number" && Number.isInteger(v.size) && v.size >= 0
    ? undefined
    : 'field "size" must be a non-negative integer';
const seq: Check = (v) =>
  typeof v.seq === "number" && Number.isInteger(v.seq) && v.seq >= 0
    ? undefined
    : 'field "seq" must be a non-negative integer';
const answer = [str("request_id"), seq];
/** `"stop", "cancelled" or "error"`. */
const REASONS_LIST = FINISH_REASONS.map((r) => `"${r}"`).join(", ").replace(/, ([^,]*)$/, " or $1");

const CHECKS: Record<ServerFrame["type"], Check[]> = {
  session: [str("session_id"), ...answer],
  content: [str("content"), ...answer],
  status: [str("message"), ...answer],
  tool_call: [str("tool_call_id"), str("name"), ...answer],
  tool_result: [str("tool_call_id"), str("name"), ...answer],
  done: [
    (v) =>
      (FINISH_REASONS as readonly unknown[]).includes(v.finish_reason)
        ? undefined
        : `field "finish_reason" must be ${REASONS_LIST}`,
    ...answer,
  ],
  error: [str("code"), str("message"), optStr("request_id")],
  pong: [],
  uploaded: [str("upload_id"), str("session_id"), str("name"), str("mime"), size],
};

/**
 * Parses one server frame (a WebSocket text message or an SSE `data` field).
 * Never throws.
 */
export function decodeFrame(text: string): DecodedFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, message: "Cannot decode frame: not valid JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return {
      ok: false,
      message: "Cannot decode frame: expected a JSON object",
    };
  }
  const record = value as Record<string, unknown>;
  const checks = typeof record.type === "string"
    ? CHECKS[record.type as ServerFrame["type"]]
    : undefined;
  if (!checks || !Object.hasOwn(CHECKS, record.type as string)) {
    return {
      ok: false,
      message: `Cannot decode frame: unknown type ${
        JSON.stringify(String(record.type).slice(0, 64))
      }`,
    };
  }
  for (const check of checks) {
    const problem = check(record);
    if (problem) {
      return { ok: false, message: `Cannot decode frame: ${problem}` };
    }
  }
  return { ok: true, frame: record as ServerFrame };
}
