/**
 * Every frame of the chat protocol, in both directions and both dialects,
 * as zod schemas and the types inferred from them.
 *
 * - Native dialect (a superset of the seed's): the client sends
 *   `{query, session_id?}`, `cancel` and `ping`; the server answers
 *   `session`, `content`, `status`, `tool_call`, `tool_result`, `done`,
 *   `error` and `pong`.
 * - AI SDK dialect: the `send` / `resume` / `abort` frames of the AI SDK's
 *   `WebSocketChatTransport`, answered with `start` / `chunk` / `end` /
 *   `error` / `no-active`.
 * @module
 */
import { z } from "zod";
import {
  ErrorCode,
  type FinishReason,
  ID_PATTERN,
  MAX_ATTACHMENTS,
  MAX_QUERY_LENGTH,
} from "./codes.ts";

const id = z.string({ error: "must be a string" }).regex(ID_PATTERN, {
  error: "must be 1-64 characters of A-Z, a-z, 0-9, _ or -",
});

const query = z
  .string({ error: "must be a non-empty string" })
  .trim()
  .min(1, { error: "must be a non-empty string" })
  .max(MAX_QUERY_LENGTH, {
    error: `must be at most ${MAX_QUERY_LENGTH} characters`,
  });

/** The seed's query frame; `type` is optional so seed clients work as-is. */
export const QueryFrame = z.object({
  type: z.literal("query").optional(),
  query,
  session_id: id.optional(),
  request_id: id.optional(),
  /** Upload ids (see {@link UploadFrame}) the agent may read. */
  attachments: z.array(id).max(MAX_ATTACHMENTS, {
    error: `must list at most ${MAX_ATTACHMENTS} uploads`,
  }).optional(),
});
/** A query frame (native dialect). */
export type QueryFrame = z.infer<typeof QueryFrame>;

/**
 * Answers the session's last question again: its last turn is replaced
 * (history keeps only the new answer).
 */
export const RegenerateFrame = z.object({
  type: z.literal("regenerate"),
  session_id: id,
  request_id: id.optional(),
});
/** A regenerate frame (native dialect). */
export type RegenerateFrame = z.infer<typeof RegenerateFrame>;

/**
 * Edit-and-resend: replaces question number `turn` (0-based, in the
 * history the server keeps) with `query`; that turn and every later one
 * are dropped (history keeps only the new branch), then `query` is answered.
 */
export const EditFrame = z.object({
  type: z.literal("edit"),
  session_id: id,
  turn: z.number({ error: "must be an integer >= 0" }).int({ error: "must be an integer >= 0" })
    .min(0, { error: "must be an integer >= 0" }),
  query,
  request_id: id.optional(),
});
/** An edit frame (native dialect). */
export type EditFrame = z.infer<typeof EditFrame>;

/** Asks the server to stop the named answer (or the running one). */
export const CancelFrame = z.object({
  type: z.literal("cancel"),
  request_id: id.optional(),
});
/** A cancel frame (native dialect). */
export type CancelFrame = z.infer<typeof CancelFrame>;

/**
 * Asks for the rest of an answer after a reconnect: every frame after
 * `last_seq` (-1 for all), then the live tail.
 */
export const NativeResumeFrame = z.object({
  type: z.literal("resume"),
  request_id: id,
  last_seq: z.number({ error: "must be an integer >= -1" }).int({
    error: "must be an integer >= -1",
  }).min(-1, { error: "must be an integer >= -1" }),
});
/** A resume frame (native dialect). */
export type NativeResumeFrame = z.infer<typeof NativeResumeFrame>;

/**
 * Announces a file; its bytes follow as binary frames (each at most the
 * frame size limit), in order, `size` bytes in all.
 */
export const UploadFrame = z.object({
  type: z.literal("upload"),
  upload_id: id,
  name: z.string().min(1, { error: "must be a non-empty string" }).max(200, {
    error: "must be at most 200 characters",
  }),
  mime: z.string().min(1).max(100),
  size: z.number().int().positive({ error: "must be a positive integer" }),
  session_id: id.optional(),
});
/** An upload header frame (native dialect). */
export type UploadFrame = z.infer<typeof UploadFrame>;

/** Application-level ping; the server answers `pong` with the same `id`. */
export const PingFrame = z.object({
  type: z.literal("ping"),
  id: z.union([z.string().max(64), z.number()]).optional(),
});
/** A ping frame (native dialect). */
export type PingFrame = z.infer<typeof PingFrame>;

const uiPart = z.looseObject({ type: z.string() });
const uiMessage = z.looseObject({
  id: z.string(),
  role: z.enum(["system", "user", "assistant"]),
  parts: z.array(uiPart),
});

/** The AI SDK `WebSocketChatTransport` `send` frame. */
export const SendFrame = z.object({
  type: z.literal("send"),
  requestId: z.string().min(1).max(128),
  id,
  trigger: z.enum(["submit-message", "regenerate-message"]),
  messageId: z.string().optional(),
  messages: z.array(uiMessage),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.looseObject({}).optional(),
  metadata: z.unknown().optional(),
});
/** A send frame (AI SDK dialect). */
export type SendFrame = z.infer<typeof SendFrame>;

/** The AI SDK `WebSocketChatTransport` `resume` frame. */
export const ResumeFrame = z.object({
  type: z.literal("resume"),
  requestId: z.string().min(1).max(128),
  id,
  lastSequence: z.number().int().min(-1).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.looseObject({}).optional(),
  metadata: z.unknown().optional(),
});
/** A resume frame (AI SDK dialect). */
export type ResumeFrame = z.infer<typeof ResumeFrame>;

/** The AI SDK `WebSocketChatTransport` `abort` frame. */
export const AbortFrame = z.object({
  type: z.literal("abort"),
  requestId: z.string().min(1).max(128),
});
/** An abort frame (AI SDK dialect). */
export type AbortFrame = z.infer<typeof AbortFrame>;

/** Any frame a client may send. */
export type ClientFrame =
  | QueryFrame
  | RegenerateFrame
  | EditFrame
  | CancelFrame
  | PingFrame
  | NativeResumeFrame
  | UploadFrame
  | SendFrame
  | ResumeFrame
  | AbortFrame;

const clientSchemas = {
  query: QueryFrame,
  regenerate: RegenerateFrame,
  edit: EditFrame,
  cancel: CancelFrame,
  ping: PingFrame,
  upload: UploadFrame,
  send: SendFrame,
  resume: ResumeFrame,
  abort: AbortFrame,
} as const;

/** What {@link decodeClientFrame} returns. */
export type DecodeResult =
  | { ok: true; frame: ClientFrame }
  | {
    ok: false;
    code: ErrorCode;
    message: string;
    /** The request id of the bad frame, when one could be read. */
    requestId?: string;
    /** True when the frame used the AI SDK dialect. */
    aiSdk: boolean;
  };

const AI_SDK_TYPES = new Set(["send", "resume", "abort"]);

function codeForIssue(field: string, issue: z.core.$ZodIssue): ErrorCode {
  if (field === "query") {
    if (issue.code === "too_big") return ErrorCode.QueryTooLong;
    return ErrorCode.EmptyQuery;
  }
  if (field === "session_id" || field === "id") {
    return ErrorCode.InvalidSessionId;
  }
  return ErrorCode.InvalidFrame;
}

/**
 * The usual frame, `{query, session_id?, request_id?}` with `type` "query"
 * or none, when every field is valid: read without zod, whose first call
 * after the server sat idle takes ~70 µs of the time to first chunk. Its
 * result is `QueryFrame`'s, byte for byte (the query trimmed); anything
 * else, valid or not, is left to zod (undefined).
 */
function plainQuery(record: Record<string, unknown>): QueryFrame | undefined {
  let query: string | undefined;
  for (const key in record) {
    const value = record[key];
    switch (key) {
      case "type":
        if (value !== "query") return undefined;
        break;
      case "query":
        if (typeof value !== "string") return undefined;
        query = value.trim();
        if (query.length < 1 || query.length > MAX_QUERY_LENGTH) return undefined;
        break;
      case "session_id":
      case "request_id":
        if (typeof value !== "string" || !ID_PATTERN.test(value)) return undefined;
        break;
      default:
        return undefined;
    }
  }
  if (query === undefined) return undefined;
  // Keys in the schema's order, as zod writes them.
  const frame: QueryFrame = record.type === undefined ? { query } : { type: "query", query };
  if (record.session_id !== undefined) frame.session_id = record.session_id as string;
  if (record.request_id !== undefined) frame.request_id = record.request_id as string;
  return frame;
}

/**
 * Parses and validates one text frame from a client.
 *
 * Never throws: a bad frame yields `{ok: false}` with a code and a message
 * that names the problem.
 */
export function decodeClientFrame(text: string): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return {
      ok: false,
      code: ErrorCode.InvalidJson,
      message: "Cannot decode frame: not valid JSON",
      aiSdk: false,
    };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return {
      ok: false,
      code: ErrorCode.InvalidFrame,
      message: "Cannot decode frame: expected a JSON object",
      aiSdk: false,
    };
  }
  const record = value as Record<string, unknown>;
  const type = record.type ?? "query";
  const plain = type === "query" ? plainQuery(record) : undefined;
  if (plain) return { ok: true, frame: plain };
  // "resume" is both the AI SDK's (with `requestId`) and ours (with `request_id`).
  const nativeResume = type === "resume" && !("requestId" in record) && "request_id" in record;
  const aiSdk = typeof type === "string" && AI_SDK_TYPES.has(type) && !nativeResume;
  const requestId = typeof record.requestId === "string"
    ? record.requestId
    : typeof record.request_id === "string"
    ? record.request_id
    : undefined;
  const schema = nativeResume
    ? NativeResumeFrame
    : typeof type === "string"
    ? clientSchemas[type as keyof typeof clientSchemas]
    : undefined;
  if (!schema) {
    return {
      ok: false,
      code: ErrorCode.UnknownType,
      message: `Cannot decode frame: unknown type ${JSON.stringify(String(type).slice(0, 64))}`,
      requestId,
      aiSdk,
    };
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, frame: parsed.data as ClientFrame };
  const issue = parsed.error.issues[0];
  const field = issue.path.map(String).join(".");
  return {
    ok: false,
    code: type === "ping" && field === "id" ? ErrorCode.InvalidPingId : codeForIssue(field, issue),
    message: field
      ? `Cannot decode frame: field "${field}" ${issue.message}`
      : `Cannot decode frame: ${issue.message}`,
    requestId,
    aiSdk,
  };
}

/**
 * The question of an AI SDK `send` frame: the text of its last message,
 * which must be the user's, checked by the same rules as a native query.
 */
export function decodeSendQuery(
  frame: SendFrame,
): { ok: true; query: string } | { ok: false; code: ErrorCode; message: string } {
  const last = frame.messages.at(-1);
  const text = last?.role === "user"
    ? last.parts.map((part) =>
      part.type === "text" && typeof part.text === "string" ? part.text : ""
    )
      .join("")
    : "";
  const parsed = query.safeParse(text);
  if (parsed.success) return { ok: true, query: parsed.data };
  const issue = parsed.error.issues[0];
  return {
    ok: false,
    code: codeForIssue("query", issue),
    message: `Cannot answer: the text of the last user message ${issue.message}`,
  };
}

/**
 * Validates the query parameters of the SSE endpoint with the same rules as
 * a WebSocket query frame.
 */
export function decodeSseQuery(
  params: { query?: string | null; session_id?: string | null; request_id?: string | null },
): DecodeResult {
  const given: Record<string, unknown> = { query: params.query ?? undefined };
  if (params.session_id) given.session_id = params.session_id;
  if (params.request_id) given.request_id = params.request_id;
  const plain = plainQuery(given);
  if (plain) return { ok: true, frame: plain };
  const parsed = QueryFrame.safeParse({
    query: params.query ?? undefined,
    session_id: params.session_id || undefined,
    request_id: params.request_id || undefined,
  });
  if (parsed.success) return { ok: true, frame: parsed.data };
  const issue = parsed.error.issues[0];
  const field = issue.path.map(String).join(".");
  return {
    ok: false,
    code: codeForIssue(field, issue),
    message: `Invalid request: parameter "${field}" ${issue.message}`,
    aiSdk: false,
  };
}

const seq = z.number().int().nonnegative();
const base = { request_id: z.string(), seq };

/** First frame of every answer: names the session (fresh when none given). */
export const SessionFrame = z.object({
  type: z.literal("session"),
  session_id: z.string(),
  ...base,
});
/** One piece of answer text. `ts` (epoch ms) is set by the synthetic agent. */
export const ContentFrame = z.object({
  type: z.literal("content"),
  content: z.string(),
  ts: z.number().optional(),
  ...base,
});
/** Progress of the agent, e.g. "Searching the docs". */
export const StatusFrame = z.object({
  type: z.literal("status"),
  message: z.string(),
  ...base,
});
/** The agent calls a tool. */
export const ToolCallFrame = z.object({
  type: z.literal("tool_call"),
  tool_call_id: z.string(),
  name: z.string(),
  input: z.unknown(),
  ...base,
});
/** A tool returned. */
export const ToolResultFrame = z.object({
  type: z.literal("tool_result"),
  tool_call_id: z.string(),
  name: z.string(),
  output: z.unknown(),
  is_error: z.boolean().optional(),
  ...base,
});
/** The answer ended; `cancelled` is true when a client stopped it. */
export const DoneFrame = z.object({
  type: z.literal("done"),
  finish_reason: z.enum(["stop", "cancelled", "error"]),
  cancelled: z.boolean().optional(),
  ...base,
});
/** Something went wrong; ends the answer when it carries a request id. */
export const ErrorFrame = z.object({
  type: z.literal("error"),
  code: z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]),
  message: z.string(),
  request_id: z.string().optional(),
  seq: seq.optional(),
  retry_after: z.number().optional(),
  /** Set on errors about an upload. */
  upload_id: z.string().optional(),
});
/** An upload arrived complete and was stored for the session. */
export const UploadedFrame = z.object({
  type: z.literal("uploaded"),
  upload_id: z.string(),
  session_id: z.string(),
  name: z.string(),
  mime: z.string(),
  size: z.number().int(),
});

/** Answer to a client `ping`. */
export const PongFrame = z.object({
  type: z.literal("pong"),
  id: z.union([z.string(), z.number()]).optional(),
});

/** Any frame the server sends in the native dialect. */
export const ServerFrame = z.discriminatedUnion("type", [
  SessionFrame,
  ContentFrame,
  StatusFrame,
  ToolCallFrame,
  ToolResultFrame,
  DoneFrame,
  ErrorFrame,
  PongFrame,
  UploadedFrame,
]);
/** A server frame (native dialect). */
export type ServerFrame = z.infer<typeof ServerFrame>;
/** The server frame with the given `type`. */
export type ServerFrameOf<T extends ServerFrame["type"]> = Extract<
  ServerFrame,
  { type: T }
>;

/** A server frame of the AI SDK dialect. */
export const AiSdkServerFrame = z.discriminatedUnion("type", [
  z.object({ type: z.literal("start"), requestId: z.string() }),
  z.object({
    type: z.literal("chunk"),
    requestId: z.string(),
    sequence: seq,
    chunk: z.looseObject({ type: z.string() }),
  }),
  z.object({ type: z.literal("end"), requestId: z.string() }),
  z.object({
    type: z.literal("error"),
    requestId: z.string(),
    errorText: z.string().optional(),
    code: z.string().optional(),
    /** Seconds to wait before trying again (`rate_limited`). */
    retry_after: z.number().optional(),
  }),
  z.object({ type: z.literal("no-active"), requestId: z.string() }),
]);
/** A server frame (AI SDK dialect). */
export type AiSdkServerFrame = z.infer<typeof AiSdkServerFrame>;

export type { FinishReason };
