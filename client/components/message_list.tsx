/**
 * The conversation: every question with its streaming answer, activity
 * (status lines, tool calls) and how it ended, following the stream while
 * the reader is at the bottom.
 * @module
 */
import { useSignalEffect } from "@preact/signals";
import type { JSX } from "preact";
import { useRef } from "preact/hooks";
import type { ChatController } from "../chat_state.ts";
import { markdownRenderer } from "../markdown_loader.ts";
import type { Activity, Message } from "../messages.ts";
import { Clip } from "./attachments.tsx";

/** The message list of a chat. */
export function MessageList({ chat }: { chat: ChatController }): JSX.Element {
  const list = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const messages = chat.messages.value;
  const busy = chat.busy.value;

  useSignalEffect(() => {
    // Follow the stream while the reader is at the bottom.
    chat.messages.value;
    chat.current.value?.text.value;
    chat.current.value?.activity.value;
    const el = list.current;
    if (el && stick.current) {
      requestAnimationFrame(() => el.scrollTop = el.scrollHeight);
    }
  });

  return (
    <div
      class="messages"
      ref={list}
      onScroll={(event) => {
        const el = event.currentTarget;
        stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 48;
      }}
    >
      {messages.length === 0
        ? (
          <p class="empty">
            No messages yet. Try “what is 2+3*4” or “what time is it”.
          </p>
        )
        : null}
      <div
        class="log"
        role="log"
        aria-live="polite"
        aria-busy={busy}
        aria-label="Conversation"
      >
        <ol>
          {messages.map((message) => <MessageItem key={message.id} message={message} />)}
        </ol>
      </div>
    </div>
  );
}

function MessageItem({ message }: { message: Message }): JSX.Element {
  const state = message.state.value;
  return (
    <li class={`turn ${state}`} data-state={state}>
      <div class="bubble user">
        <span class="sr-only">You:</span>
        {message.query}
        {message.attachments?.length
          ? (
            <span class="sent-files">
              <span class="sr-only">Attached:</span>
              {message.attachments.map((name) => (
                <span key={name} class="sent-file">
                  <Clip />
                  {name}
                </span>
              ))}
            </span>
          )
          : null}
      </div>
      <div class="bubble assistant">
        <span class="sr-only">Answer:</span>
        <ActivityList items={message.activity.value} />
        {message.tools.length > 0
          ? <p class="tools-used">Used: {message.tools.join(", ")}</p>
          : null}
        <Answer message={message} />
        <EndNote message={message} />
      </div>
    </li>
  );
}

function Answer({ message }: { message: Message }): JSX.Element {
  const render = markdownRenderer.value;
  const text = message.text.value;
  const streaming = message.state.value === "streaming";
  // Model text only reaches the DOM as text nodes or sanitised HTML.
  return (
    <div class="answer-wrap">
      {render
        ? (
          <div
            class="answer md"
            // deno-lint-ignore react-no-danger
            dangerouslySetInnerHTML={{ __html: render(text) }}
          />
        )
        : <div class="answer plain">{text}</div>}
      {streaming ? <span class="caret" aria-hidden="true" /> : null}
    </div>
  );
}

function EndNote({ message }: { message: Message }): JSX.Element | null {
  const state = message.state.value;
  if (state === "cancelled") {
    return <p class="end-note" data-testid="stopped">Stopped</p>;
  }
  if (state === "error") {
    return (
      <p class="end-note error" role="alert">
        {message.error.value ?? "The answer ended with an error"}
      </p>
    );
  }
  return null;
}

function ActivityList({ items }: { items: Activity[] }): JSX.Element | null {
  if (items.length === 0) return null;
  return (
    <div class="activity">
      {items.map((item, i) =>
        item.kind === "status" ? <p key={i} class="status">{item.message}</p> : (
          <details
            key={item.id}
            class={`tool ${item.done ? "done" : "running"}`}
          >
            <summary>
              <span class="tool-name">{item.name}</span>
              {item.done
                ? (item.isError ? " failed" : " ✓")
                : <span class="spinner" aria-label="running" />}
            </summary>
            <pre>{`input: ${show(item.input)}${
                item.done ? `\noutput: ${show(item.output)}` : ""
              }`}</pre>
          </details>
        )
      )}
    </div>
  );
}

function show(value: unknown): string {
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}
