/**
 * The chat's data model: messages and attachments as signals, and how an
 * answer's frames fold into its message.
 * @module
 */
import { type Signal, signal } from "@preact/signals";
import type { FinishReason } from "../protocol/codes.ts";
import type { ServerFrame } from "../protocol/frames.ts";
import type { TransportKind } from "../protocol/page.ts";

/** A status line or a tool call shown inline with an answer. */
export type Activity =
  | { kind: "status"; message: string }
  | {
    kind: "tool";
    id: string;
    name: string;
    input: unknown;
    output?: unknown;
    isError?: boolean;
    done: boolean;
  };

/** How a message stands. */
export type MessageState = "streaming" | FinishReason;

/** One question and its answer. */
export interface Message {
  /** The request id (or `h<n>` for server-rendered history). */
  id: string;
  query: string;
  /** The answer text so far (markdown). */
  text: Signal<string>;
  activity: Signal<Activity[]>;
  state: Signal<MessageState>;
  /** Why the answer ended with an error, if it did. */
  error: Signal<string | undefined>;
  /** Tool names, for history turns that carry no activity. */
  tools: string[];
  /** Which transport carried it; absent for history. */
  transport?: TransportKind;
  /** Names of the files sent with the question. */
  attachments?: string[];
}

/** How an attached file stands. */
export type AttachmentStatus = "uploading" | "ready" | "error";

/** A file attached to the next question, uploaded as soon as it is chosen. */
export interface Attachment {
  /** The upload id the query names. */
  id: string;
  name: string;
  /** Size in bytes. */
  size: number;
  status: Signal<AttachmentStatus>;
  /** Why the upload failed. */
  error: Signal<string | undefined>;
  /** Settles with true once stored, false when refused. */
  done: Promise<boolean>;
}

/** A byte count for people: `812 B`, `3.4 KB`, `1.2 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Creates a message with fresh signals. */
export function createMessage(
  init: Partial<Omit<Message, "text" | "activity" | "state" | "error">> & {
    id: string;
    query: string;
    text?: string;
    state?: MessageState;
    error?: string;
  },
): Message {
  return {
    id: init.id,
    query: init.query,
    text: signal(init.text ?? ""),
    activity: signal([]),
    state: signal(init.state ?? "streaming"),
    error: signal(init.error),
    tools: init.tools ?? [],
    transport: init.transport,
    attachments: init.attachments,
  };
}

/** What {@link applyFrame} reports back to the controller. */
export interface ApplyHooks {
  /** The answer names its session. */
  session(id: string): void;
  /** A `content` frame was appended. */
  content(): void;
  /** The answer ended. */
  finish(state: FinishReason, error?: string): void;
}

/** Folds one frame of an answer into its message. */
export function applyFrame(message: Message, frame: ServerFrame, on: ApplyHooks): void {
  switch (frame.type) {
    case "session":
      on.session(frame.session_id);
      break;
    case "content":
      message.text.value += frame.content;
      on.content();
      break;
    case "status":
      message.activity.value = [
        ...message.activity.value,
        { kind: "status", message: frame.message },
      ];
      break;
    case "tool_call":
      message.activity.value = [...message.activity.value, {
        kind: "tool",
        id: frame.tool_call_id,
        name: frame.name,
        input: frame.input,
        done: false,
      }];
      break;
    case "tool_result":
      message.activity.value = message.activity.value.map((a) =>
        a.kind === "tool" && a.id === frame.tool_call_id
          ? { ...a, output: frame.output, isError: frame.is_error, done: true }
          : a
      );
      break;
    case "done":
      on.finish(frame.finish_reason);
      break;
    case "error":
      on.finish("error", frame.message);
      break;
  }
}
